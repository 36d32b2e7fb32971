/**
 * Recovery of a SegmentLog's segments at open (log.ts calls it once per segment file, oldest first): scan
 * the file (segment-scan.ts), cut a torn tail, keep damaged ranges in side files and report them (damage.ts),
 * rewrite a damaged header whose records check out, move aside a file with nothing recognisable, refuse a
 * format version this Postbox does not read (UnsupportedFormatError), apply the segment's ack file
 * (ack-file.ts) and hand every live record to the visitor (or collect it for takeRecovered()).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  ACK_DELIVERED_BIT,
  ACK_FORMAT_VERSION,
  CORRUPT_FILE_SUFFIX,
  RECORD_HEADER_BYTES,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  ackFileName,
  checkSegmentHeader,
  encodeSegmentHeader,
  segmentFileName,
} from './format.js';
import { closeQuietly, readFully, syncDirectory, unlinkIfExists, writeFully } from './files.js';
import { encodeAckFile, parseAckFile, type AckFileContents } from './ack-file.js';
import { trySaveDamagedBytes } from './damage.js';
import { checkFormatVersion } from './format-error.js';
import { scanSegmentRecords, type SegmentScanResult } from './segment-scan.js';
import { Segment } from './segment.js';
import type { QueueRecoveryVisitor, QueueStore } from './queue-store.js';

/**
 * A recovered segment whose live payload is below this fraction of its size gets its live payloads
 * copied out, so the segment-sized scan buffer can be garbage-collected.
 */
const RECOVERY_COPY_FRACTION = 0.5;
/** Delivered markers counted per record during recovery saturate here (a Uint8Array). */
const MAX_RECOVERED_DELIVERIES = 255;

export interface RecoveredRecord {
  segment: number;
  offset: number;
  length: number;
  payload: Buffer;
  /** delivered markers found for the record (markDelivered), capped at 255 */
  deliveries: number;
}

export interface RecoveryTotals {
  droppedBytes: number;
  corruptFiles: number;
  /** damaged bytes skipped (kept in side files), in ranges */
  damagedBytes: number;
  damagedRanges: number;
}

export interface SegmentRecoveryOptions {
  readonly dir: string;
  readonly segmentBytes: number;
  /** fsync what recovery rewrites (policy 'always') */
  readonly syncEnabled: boolean;
  readonly logger: (line: string) => void;
  readonly errorLogger: (line: string) => void;
  /** the log's visitor; without one, live records are collected in `recovered` */
  readonly onRecovered: QueueRecoveryVisitor | undefined;
  /** the log being opened (the visitor's last argument) */
  readonly store: QueueStore;
  /** a recovered segment joins the log (before its records are visited) */
  readonly adopt: (segment: Segment) => void;
}

export class SegmentRecovery {
  readonly totals: RecoveryTotals = { droppedBytes: 0, corruptFiles: 0, damagedBytes: 0, damagedRanges: 0 };
  /** live records, when there is no visitor (views of each segment's own buffer, or copies) */
  readonly recovered: RecoveredRecord[] = [];
  /**
   * With a visitor, every segment is read into this one buffer (payloads are only valid during the
   * visit): one segment-sized buffer, instead of one per segment left for the GC.
   */
  private scan: Buffer | null = null;

  constructor(private readonly options: SegmentRecoveryOptions) {}

  /** Scans one segment file; returns its state, or null when the file was removed or moved aside. */
  recoverSegment(number: number, indexCapacity: number): Segment | null {
    const totals = this.totals;
    const name = segmentFileName(number);
    const segmentPath = path.join(this.options.dir, name);
    const ackPath = path.join(this.options.dir, ackFileName(number));
    const fd = fs.openSync(segmentPath, 'r+');
    let bytes: Buffer;
    let validEnd: number;
    const segment = new Segment(number, segmentPath, ackPath, indexCapacity);
    try {
      const size = fs.fstatSync(fd).size;
      if (size === 0) {
        // created but never written: a crash right after a roll. Nothing to keep.
        this.options.logger(`storage ${this.options.dir}: ${name} is empty, removed`);
        unlinkIfExists(segmentPath);
        unlinkIfExists(ackPath);
        return null;
      }
      bytes = this.scanBufferFor(size);
      readFully(fd, bytes, size, 0);
      checkFormatVersion(segmentPath, bytes, size, SEGMENT_MAGIC, SEGMENT_FORMAT_VERSION);
      const problem = checkSegmentHeader(bytes, number);
      if (problem !== null && size <= SEGMENT_HEADER_BYTES) {
        // no room for a record: a creation torn before its header landed. Nothing to keep.
        this.options.logger(`storage ${this.options.dir}: ${name} (${problem}) holds no record, removed`);
        unlinkIfExists(segmentPath);
        unlinkIfExists(ackPath);
        return null;
      }
      const scan = scanSegmentRecords(bytes, size, segment);
      if (problem !== null) {
        if (scan.records === 0) {
          this.moveAside(segmentPath, ackPath, `${name}: ${problem}`);
          totals.corruptFiles++;
          return null;
        }
        // the records check out: only the header is damaged. Keep its bytes, write it afresh.
        this.repairHeader(fd, segmentPath, number, bytes, problem, scan.records);
      }
      validEnd = scan.validEnd;
      if (scan.skipped.length > 0) this.reportDamage(segmentPath, bytes, scan);
      if (validEnd < size) {
        fs.ftruncateSync(fd, validEnd);
        totals.droppedBytes += size - validEnd;
        this.options.logger(`storage ${this.options.dir}: ${name}: dropped ${size - validEnd} byte(s) at offset ${validEnd} (${scan.tornReason})`);
      }
    } finally {
      // sealed segments keep no fd; the active one is reopened by recover()
      closeQuietly(fd);
    }
    segment.size = validEnd;
    segment.flushedSize = validEnd;
    const deliveries = this.loadAcks(segment);
    this.options.adopt(segment); // the log counts it before its records are visited
    const visit = this.options.onRecovered;
    const recovered = this.recovered;
    const copy = segment.liveBytes < validEnd * RECOVERY_COPY_FRACTION;
    for (let i = 0; i < segment.recordCount; i++) {
      if (segment.isAcked(i)) continue;
      const offset = segment.recordOffset(i);
      const length = segment.recordLength(i);
      const view = bytes.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length);
      const delivered = deliveries === null ? 0 : deliveries[i]!;
      if (visit !== undefined) visit(number, offset, length, view, delivered, this.options.store);
      else recovered.push({ segment: number, offset, length, payload: copy ? Buffer.from(view) : view, deliveries: delivered });
    }
    return segment;
  }

  /** Rewrites the damaged header of a segment whose records check out, its old bytes kept in a side file. */
  private repairHeader(fd: number, segmentPath: string, number: number, bytes: Buffer, problem: string, records: number): void {
    const sideFile = trySaveDamagedBytes(segmentPath, 0, bytes.subarray(0, SEGMENT_HEADER_BYTES), this.options.syncEnabled);
    writeFully(fd, encodeSegmentHeader(number), SEGMENT_HEADER_BYTES, 0);
    if (this.options.syncEnabled) fs.fdatasyncSync(fd);
    this.options.errorLogger(
      `storage ${this.options.dir}: ${path.basename(segmentPath)} has a DAMAGED header (${problem}) but ${records} record(s) that check out: ` +
        `header rewritten, the old one kept in ${sideFile}`,
    );
  }

  /** Saves each damaged range of a segment to its side file and reports the segment in one error line. */
  private reportDamage(segmentPath: string, bytes: Buffer, scan: SegmentScanResult): void {
    const totals = this.totals;
    const sideFiles: string[] = [];
    let skippedBytes = 0;
    for (const range of scan.skipped) {
      const damaged = bytes.subarray(range.offset, range.offset + range.bytes);
      sideFiles.push(trySaveDamagedBytes(segmentPath, range.offset, damaged, this.options.syncEnabled));
      skippedBytes += range.bytes;
    }
    totals.damagedBytes += skippedBytes;
    totals.damagedRanges += scan.skipped.length;
    const first = scan.skipped[0]!;
    this.options.errorLogger(
      `storage ${this.options.dir}: ${path.basename(segmentPath)} is DAMAGED: skipped ${skippedBytes} byte(s) in ` +
        `${scan.skipped.length} range(s) (first at offset ${first.offset}: ${first.reason}), ` +
        `recovered the ${scan.records} intact record(s) around them; the skipped bytes are kept in ` +
        `${sideFiles.join(', ')}`,
    );
  }

  /** a buffer for a whole segment file of `size` bytes (reused across segments when visiting) */
  private scanBufferFor(size: number): Buffer {
    if (this.options.onRecovered === undefined) return Buffer.allocUnsafe(size); // takeRecovered() keeps views of it
    let scan = this.scan;
    if (scan === null || scan.length < size) {
      scan = Buffer.allocUnsafe(Math.max(size, this.options.segmentBytes));
      this.scan = scan;
    }
    return scan;
  }

  /**
   * Applies a segment's ack file (ack-file.ts), and returns the delivered markers counted per record
   * index (null when there are none). Entries that name no record are ignored; if any exist, or a
   * partial entry, a damaged entry or header, or the file is in version 1, the file is rewritten in
   * version 2 with the valid entries only: an entry pointing into a dropped tail can then never ack (or
   * mark) a new record appended at that offset later, and the log only ever appends to version-2 files.
   * Damaged entries are ignored (their records stay live), saved to side files and reported in one line.
   */
  private loadAcks(segment: Segment): Uint8Array | null {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(segment.ackPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const contents = parseAckFile(segment.ackPath, bytes);
    let deliveries: Uint8Array | null = null;
    const entries = contents.entries;
    const valid = new Uint32Array(entries.length);
    let validCount = 0;
    let invalid = contents.tornBytes > 0 || contents.damaged.length > 0 || contents.version !== ACK_FORMAT_VERSION;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const delivered = entry >= ACK_DELIVERED_BIT;
      const index = segment.findRecord(delivered ? entry - ACK_DELIVERED_BIT : entry);
      if (index < 0) {
        invalid = true;
        continue;
      }
      if (delivered) {
        deliveries ??= new Uint8Array(segment.recordCount);
        if (deliveries[index]! < MAX_RECOVERED_DELIVERIES) deliveries[index]!++;
      } else if (segment.markAcked(index) < 0) continue; // duplicate: harmless, dropped if the file is rewritten
      valid[validCount++] = entry;
    }
    if (contents.damaged.length > 0) this.reportAckDamage(segment.ackPath, bytes, contents);
    if (invalid) {
      const temporary = segment.ackPath + '.tmp';
      const rewritten = encodeAckFile(valid, validCount);
      const fd = fs.openSync(temporary, 'w');
      try {
        writeFully(fd, rewritten, rewritten.length, 0);
        if (this.options.syncEnabled) fs.fdatasyncSync(fd);
      } finally {
        closeQuietly(fd);
      }
      fs.renameSync(temporary, segment.ackPath);
      if (this.options.syncEnabled) syncDirectory(this.options.dir);
      const converted = contents.version !== ACK_FORMAT_VERSION ? `, converted from format version ${contents.version} to ${ACK_FORMAT_VERSION}` : '';
      this.options.logger(`storage ${this.options.dir}: ${path.basename(segment.ackPath)}: kept ${validCount} of ${contents.total} ack entries${converted}`);
    }
    segment.ackHeaderWritten = true;
    return deliveries;
  }

  /** Saves the damaged ranges of an ack file to side files and reports the file in one error line. */
  private reportAckDamage(ackPath: string, bytes: Buffer, contents: AckFileContents): void {
    const sideFiles: string[] = [];
    for (const range of contents.damaged) {
      sideFiles.push(trySaveDamagedBytes(ackPath, range.offset, bytes.subarray(range.offset, range.offset + range.bytes), this.options.syncEnabled));
    }
    const header = contents.headerDamaged ? 'its header is damaged (rewritten), ' : '';
    this.options.errorLogger(
      `storage ${this.options.dir}: ${path.basename(ackPath)} is DAMAGED: ${header}${contents.damagedEntries} of ${contents.total} ack ` +
        `entries failed their checksum and were ignored (the messages they named stay queued and are delivered again); ` +
        `the damaged bytes are kept in ${sideFiles.join(', ')}`,
    );
  }

  private moveAside(segmentPath: string, ackPath: string, problem: string): void {
    fs.renameSync(segmentPath, segmentPath + CORRUPT_FILE_SUFFIX);
    try {
      fs.renameSync(ackPath, ackPath + CORRUPT_FILE_SUFFIX);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    this.options.errorLogger(`storage ${this.options.dir}: ${problem}; moved aside to ${path.basename(segmentPath)}${CORRUPT_FILE_SUFFIX}`);
  }
}
