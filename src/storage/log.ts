/**
 * SegmentLog: an append-only log of opaque records in one directory (one log per queue): the file
 * engine's QueueStore (queue-store.ts). Layout of the files: see format.ts. Durability: see sync.ts.
 *
 *   dir/00000007.seg  sealed   ─┐ read on demand
 *   dir/00000007.ack           ─┘ appended as its records are acked; both deleted when all are acked
 *   dir/00000008.seg  active   ◄── append(): write buffer ──(end of turn: one write() per log)──► OS
 *
 * Positions are (segment number, offset of the record header in that segment). Appends go to a
 * per-log write buffer that the SyncScheduler flushes once per event-loop turn; the active segment
 * rolls to a new file when a record would take it past `segmentBytes`. Reads of flushed data go
 * through a read-ahead block: one readSync into a fresh Buffer that is never written again, so the
 * subarrays handed out stay valid for as long as the caller holds them.
 *
 * The log holds no file descriptor of its own: every file (segments, ack files, the directory for its
 * fsync) is a CachedFile whose descriptor the broker-wide FdCache opens on demand and closes when it
 * needs room (fd-cache.ts), so the number of queues is not bounded by the process's descriptor limit.
 *
 * Recovery at open() (log-recovery.ts, one segment at a time) scans every segment (segment-scan.ts). A record that does not check out
 * (incomplete header, length past end of file, CRC mismatch) followed by no good record is a torn
 * tail and is truncated; one followed by good records is damage: only the bad bytes are skipped, saved
 * to a `.damaged-<offset>` side file and reported at error level (damage.ts). A damaged header is
 * rewritten when records after it check out; a file with nothing recognisable after a bad header is
 * moved aside as `.corrupt` (error level); one in a format version this Postbox does not read stops
 * the open (UnsupportedFormatError). Then the ack files are applied, each entry checked against its
 * CRC-32C (a damaged entry is ignored, its message stays live; version-1 files are converted: ack-file.ts),
 * and fully acked segments deleted.
 * It is synchronous: a broker cannot serve a queue before it knows what is in it.
 */

import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import {
  ACK_DELIVERED_BIT,
  ACK_FILE_HEADER,
  ACK_HEADER_BYTES,
  CORRUPT_FILE_SUFFIX,
  MAX_RECORD_PAYLOAD_BYTES,
  MAX_SEGMENT_BYTES,
  MAX_SEGMENT_NUMBER,
  MIN_RECORD_PAYLOAD_BYTES,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  ackFileName,
  encodeSegmentHeader,
  parseAckFileName,
  parseSegmentFileName,
  readRecordCrc,
  readRecordLength,
  segmentFileName,
  writeRecordHeader,
} from './format.js';
import { readFully, readdirIfExists, readdirOrEmpty, unlinkIfExists, writeFully } from './files.js';
import { wholeAckFileSize } from './ack-file.js';
import { isDamagedFileName } from './damage.js';
import { FdCache, PRIVATE_CACHE_FILES } from './fd-cache.js';
import { INITIAL_INDEX_CAPACITY, MIN_INDEX_CAPACITY, Segment } from './segment.js';
import type { SyncScheduler, SyncableLog } from './sync.js';
import { SegmentWriter } from './segment-writer.js';
import type { QueueRecoveryVisitor, QueueStore } from './queue-store.js';
import { SegmentRecovery, type RecoveredRecord } from './log-recovery.js';

/** Default segment size, 8 MiB: small enough that acked segments are freed soon, large enough that rolls are rare. */
export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
/** Default read-ahead, 1 MiB: one readSync serves a consumer many consecutive messages. */
export const DEFAULT_READ_AHEAD_BYTES = 1024 * 1024;
/** Write buffer per log, 256 KiB: one turn's appends of a busy queue fit in one write(). */
export const WRITE_BUFFER_BYTES = 256 * 1024;
/**
 * A new segment's index gets room for its predecessor's record count plus this fraction (1/16): the
 * records of a steady stream fit without regrowing it. Regrowing copies the index and leaves the old
 * copy for a full GC, which an idle broker may not run for hours; 1/16 more costs 0.25 bytes a record.
 */
const INDEX_CAPACITY_HEADROOM = 1 / 16;

export interface SegmentLogOptions {
  dir: string;
  scheduler: SyncScheduler;
  /** Roll when the active segment would exceed this many bytes (default DEFAULT_SEGMENT_BYTES). */
  segmentBytes?: number | undefined;
  /** Bytes read per read-ahead block (default DEFAULT_READ_AHEAD_BYTES). */
  readAheadBytes?: number;
  /** Check the CRC of every record read back (default false; recovery always checks). */
  verifyOnRead?: boolean;
  /** One line per notable event (recovery summary, dropped tails, corrupt files). Default: stderr. */
  logger?: (line: string) => void;
  /** One line per damage found at open (damaged records skipped, corrupt files moved aside). Default: `logger`. */
  errorLogger?: (line: string) => void;
  /**
   * Called for each live record during open, in append order, instead of collecting them for
   * takeRecovered(). `payload` is only valid during the call, so recovery holds one segment at a time.
   * `deliveries` counts the record's delivered markers (markDelivered), capped at 255.
   */
  onRecovered?: QueueRecoveryVisitor | undefined;
  /** The broker's descriptor cache; without one the log makes a small private cache of its own. */
  files?: FdCache;
}

export type { RecoveredRecord } from './log-recovery.js';

const enum LogState {
  Open,
  Closed,
  Destroyed,
}

export class SegmentLog implements SyncableLog, QueueStore {
  readonly dir: string;
  /** Segment number of the last append. */
  lastSegment = 0;
  flushQueued = false;
  syncQueued = false;
  exposed = false;

  private readonly scheduler: SyncScheduler;
  private readonly segmentBytes: number;
  private readonly readAheadBytes: number;
  private readonly verifyOnRead: boolean;
  private readonly logger: (line: string) => void;
  private readonly errorLogger: (line: string) => void;
  private readonly syncEnabled: boolean;
  private readonly onRecovered: SegmentLogOptions['onRecovered'];
  private state = LogState.Open;

  private readonly segments = new Map<number, Segment>();
  private active!: Segment;
  /** the append buffer, the active segment's file and the fsync registration (segment-writer.ts) */
  private readonly writer: SegmentWriter<Segment, number>;
  private readonly directHeader = Buffer.allocUnsafe(RECORD_HEADER_BYTES);

  private liveRecordCount = 0;
  private liveByteCount = 0;
  private recovered: RecoveredRecord[] | null = [];

  /** Current read-ahead block: bytes [blockStart, blockEnd) of segment blockSegment. Never mutated. */
  private block: Buffer | null = null;
  private blockSegment = 0;
  private blockStart = 0;
  private blockEnd = 0;
  /** where descriptors come from (shared by every log of a broker) */
  private readonly files: FdCache;
  private ackWriteSegments: Segment[] = [];
  private ackSyncSegments: Segment[] = [];
  // Write failures (see sync.ts). The writer remembers where the bytes covered by the last completed round
  // end (segment number and size in it). A failed write does not throw out of append(): the log reports
  // it to the scheduler (writer.failWrite) and, until the scheduler rolls it back, counts further appends
  // without writing them. rollBack() drops every record past the durable end (truncating the file,
  // deleting later segments); repair() then starts a new segment, so nothing is appended again after
  // bytes whose fsync failed.
  /** Rolled back: the next append (or the scheduler's retry) starts a new segment first. */
  private needsRepair = false;
  /** Highest segment number this log ever used (a repair never reuses one). */
  private highestSegment = 0;

  private constructor(options: SegmentLogOptions) {
    this.dir = options.dir;
    this.scheduler = options.scheduler;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.readAheadBytes = options.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES;
    this.verifyOnRead = options.verifyOnRead ?? false;
    this.logger = options.logger ?? ((line) => process.stderr.write(line + '\n'));
    this.errorLogger = options.errorLogger ?? this.logger;
    this.syncEnabled = options.scheduler.policy === 'always';
    this.onRecovered = options.onRecovered;
    this.files =
      options.files ??
      new FdCache({ capacity: PRIVATE_CACHE_FILES, syncBeforeClose: this.syncEnabled, onSyncError: (error) => this.scheduler.reportFailure(error) });
    this.writer = new SegmentWriter<Segment, number>({
      dir: this.dir,
      scheduler: this.scheduler,
      files: this.files,
      owner: this,
      maxBufferBytes: WRITE_BUFFER_BYTES,
      keyOf: (segment) => segment.number,
      header: (segment) => encodeSegmentHeader(segment.number),
      // a stale ack file must never apply to a new segment of the same number
      beforeCreate: (segment) => unlinkIfExists(segment.ackPath),
    });
    const minimumSegment = SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + MIN_RECORD_PAYLOAD_BYTES;
    if (!Number.isInteger(this.segmentBytes) || this.segmentBytes < minimumSegment || this.segmentBytes > MAX_SEGMENT_BYTES) {
      throw new RangeError(`segmentBytes ${this.segmentBytes} outside ${minimumSegment}..${MAX_SEGMENT_BYTES}`);
    }
    if (!Number.isInteger(this.readAheadBytes) || this.readAheadBytes < 1) {
      throw new RangeError(`readAheadBytes ${this.readAheadBytes} must be a positive integer`);
    }
  }

  /** Opens (creating the directory if missing) and recovers the log synchronously. */
  static open(options: SegmentLogOptions): SegmentLog {
    const log = new SegmentLog(options);
    log.recover();
    return log;
  }

  /** The live records found at open, in append order. Call once; the array is then dropped. */
  takeRecovered(): RecoveredRecord[] {
    const records = this.recovered ?? [];
    this.recovered = null;
    return records;
  }

  get liveRecords(): number {
    return this.liveRecordCount;
  }

  get liveBytes(): number {
    return this.liveByteCount;
  }

  /** Segment number appends currently go to. */
  get activeSegment(): number {
    return this.active.number;
  }

  /** Number of segment files the log holds. */
  get segmentCount(): number {
    return this.segments.size;
  }

  /**
   * Appends one record whose payload is the concatenation of `parts` (`payloadLength` bytes in all).
   * Returns the record's offset; its segment number is in `lastSegment`.
   */
  append(parts: readonly Buffer[], payloadLength: number): number {
    if (this.state !== LogState.Open) throw this.notOpenError();
    if (!(payloadLength >= MIN_RECORD_PAYLOAD_BYTES && payloadLength <= MAX_RECORD_PAYLOAD_BYTES)) {
      throw new RangeError(`payload length ${payloadLength} outside ${MIN_RECORD_PAYLOAD_BYTES}..${MAX_RECORD_PAYLOAD_BYTES}`);
    }
    const size = RECORD_HEADER_BYTES + payloadLength;
    const writer = this.writer;
    if (this.needsRepair && writer.writeError === null) this.repairOrFail();
    let segment = this.active;
    if (writer.writeError !== null) return this.appendUnwritten(segment, parts, payloadLength);
    if (segment.size + size > this.segmentBytes && segment.recordCount > 0) {
      segment = this.rollOrFail();
      if (writer.writeError !== null) return this.appendUnwritten(segment, parts, payloadLength);
    }
    const offset = segment.size;
    if (size > writer.buffer.length - writer.length) {
      this.flushOrFail();
      if (writer.writeError !== null) return this.appendUnwritten(segment, parts, payloadLength);
      if (size > WRITE_BUFFER_BYTES) {
        try {
          this.appendDirect(segment, parts, payloadLength);
        } catch (error) {
          writer.failWrite(error);
        }
        this.recordAppended(segment, offset, payloadLength);
        return offset;
      }
      writer.grow(size);
    }
    // the file is opened (or created) by the append that starts the buffer, so the end-of-turn flush every
    // log shares finds it open (or reopens it after the cache closed it, shedding its own descriptors first
    // if the process has none left). EMFILE/ENOSPC here is a failed write like any other (failWrite): what
    // no completed round covers is refused and the log rolled back at the end of the turn, nothing thrown
    if (writer.length === 0 && !this.openForAppend(segment)) return this.appendUnwritten(segment, parts, payloadLength);
    const buffer = writer.buffer;
    const start = writer.length;
    const end = start + size;
    const payloadStart = start + RECORD_HEADER_BYTES;
    let at = payloadStart;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const partLength = part.length;
      if (at + partLength > end) throw partsMismatchError(parts, payloadLength);
      buffer.set(part, at);
      at += partLength;
    }
    if (at !== end) throw partsMismatchError(parts, payloadLength);
    // One native call per record: a crc32c call costs ~250 ns whatever its length, so checksumming
    // the copied payload once beats chaining initialState over every part (see log.bench.ts).
    // (a plain Uint8Array view is cheaper to make than Buffer#subarray)
    const crc = parts.length === 1 ? crc32c(parts[0]!) : crc32c(new Uint8Array(buffer.buffer, buffer.byteOffset + payloadStart, payloadLength));
    writeRecordHeader(buffer, start, payloadLength, crc);
    writer.length = end;
    this.recordAppended(segment, offset, payloadLength);
    if (!this.flushQueued) this.scheduler.markDirty(this);
    return offset;
  }

  /**
   * After a failed write, until the scheduler rolls the log back: the record gets its position (the
   * caller holds it until the rollback refuses it) but no byte of it is written.
   */
  private appendUnwritten(segment: Segment, parts: readonly Buffer[], payloadLength: number): number {
    let total = 0;
    for (let i = 0; i < parts.length; i++) total += parts[i]!.length;
    if (total !== payloadLength) throw partsMismatchError(parts, payloadLength);
    const offset = segment.size;
    this.recordAppended(segment, offset, payloadLength);
    if (!this.flushQueued) this.scheduler.markDirty(this);
    return offset;
  }

  /** Opens (or creates) the segment's file for an append; false, the failure reported (failWrite), when it cannot. */
  private openForAppend(segment: Segment): boolean {
    try {
      this.writer.ensureCreated(segment);
      return true;
    } catch (error) {
      this.writer.failWrite(error);
      return false;
    }
  }

  private flushOrFail(): void {
    try {
      this.flush();
    } catch (error) {
      this.writer.failWrite(error);
    }
  }

  private rollOrFail(): Segment {
    try {
      return this.roll();
    } catch (error) {
      this.writer.failWrite(error);
      return this.active;
    }
  }

  private repairOrFail(): void {
    try {
      this.repairSegment();
    } catch (error) {
      this.writer.failWrite(error);
    }
  }

  /** The payload of the record at (segment, offset). The Buffer stays valid and unchanged forever. */
  read(segment: number, offset: number, length: number): Buffer {
    const block = this.block;
    if (block !== null && this.blockSegment === segment && offset >= this.blockStart && offset + RECORD_HEADER_BYTES + length <= this.blockEnd) {
      return this.payloadFromBlock(block, segment, offset - this.blockStart, length);
    }
    return this.readMiss(segment, offset, length);
  }

  /**
   * The payload of the record at (segment, offset), its length looked up in the segment index (for
   * callers that keep positions without lengths). Throws a RangeError when no record starts there.
   */
  readAt(segment: number, offset: number): Buffer {
    const target = this.segments.get(segment);
    const index = target === undefined ? -1 : target.findRecord(offset);
    if (index < 0) throw new RangeError(`storage ${this.dir}: no record at ${segment}:${offset}`);
    return this.read(segment, offset, target!.recordLength(index));
  }

  /** The record's file and offset, for messages. */
  describe(segment: number, offset: number): string {
    return `${path.join(this.dir, segmentFileName(segment))} (record at offset ${offset})`;
  }

  /**
   * True while a record starts at (segment, offset), acked or not; false for a position a rollback
   * dropped (a message delivered before the fsync that failed, see sync.ts) or a deleted segment.
   */
  holds(segment: number, offset: number): boolean {
    const target = this.segments.get(segment);
    return target !== undefined && target.findRecord(offset) >= 0;
  }

  /**
   * A write failed and the scheduler has not rolled the log back yet, or it was rolled back and not
   * repaired: records past the durable end may be unreadable now and are dropped by the rollback.
   */
  get writeFailing(): boolean {
    return this.writer.writeError !== null || this.needsRepair;
  }

  /**
   * Records the ack of the record at (segment, offset). Returns false when no such live record
   * exists (unknown position, or acked before). Deletes a sealed segment once all of it is acked.
   */
  ack(segment: number, offset: number): boolean {
    if (this.state !== LogState.Open) throw this.notOpenError();
    const target = this.segments.get(segment);
    if (target === undefined) return false;
    const index = target.findRecord(offset);
    if (index < 0 || target.isAcked(index)) return false;
    // the ack file is opened now, so that a failure (EMFILE, EIO) is reported by this ack; either way the
    // ack is recorded and its entry buffered until a flush can write it (see holdAckFile)
    if (!(target.liveRecords === 1 && target !== this.active)) this.holdAckFile(target);
    const length = target.markAcked(index);
    if (length < 0) return false;
    this.liveRecordCount--;
    this.liveByteCount -= length;
    if (target.fullyAcked && target !== this.active) {
      this.deleteSegment(target);
      return true;
    }
    this.bufferAckEntry(target, offset);
    return true;
  }

  /**
   * Records that the record at (segment, offset) was handed to a consumer that owes an ack: a live
   * record comes back from recovery with the number of such markers as its `deliveries`. The marker
   * shares the ack file and its writes; nothing waits for it to be synced (it is a hint for the
   * redelivered flag and the delivery count, and acks that follow it are synced as before).
   */
  markDelivered(segment: number, offset: number): void {
    if (this.state !== LogState.Open) throw this.notOpenError();
    const target = this.segments.get(segment);
    if (target === undefined) return;
    this.holdAckFile(target);
    this.bufferAckEntry(target, (offset | ACK_DELIVERED_BIT) >>> 0);
  }

  /**
   * Queues the segment's ack file for the next flush and opens it. An ack file that cannot be opened
   * (EMFILE once the FdCache has shed its own descriptors, EIO) does not fail the ack: it is a storage
   * failure like a failed write (failWrite: the rounds in flight fail, storage reports itself failed), the
   * entry stays buffered, and every flush, and the scheduler's repair probe, tries the open again until
   * it works. Until then the ack holds in memory; a crash before it is written brings the message back
   * (a redelivery), never loses one.
   */
  private holdAckFile(target: Segment): void {
    if (target.ackWritePending) return;
    target.ackWritePending = true;
    this.ackWriteSegments.push(target);
    try {
      this.files.fd(target.ackFile);
    } catch (error) {
      this.writer.failWrite(error);
    }
  }

  private bufferAckEntry(target: Segment, entry: number): void {
    const full = target.bufferAck(entry);
    if (full && this.writer.writeError === null) {
      try {
        this.flushAcks();
      } catch (error) {
        this.writer.failWrite(error); // the entries stay buffered (the buffer grows) until a flush writes them
      }
    } else if (!this.flushQueued) this.scheduler.markDirty(this);
  }

  /** Writes buffered records and acks to the OS (no fsync). */
  flush(): void {
    if (this.state !== LogState.Open) return;
    this.writer.flushBuffer(this.active);
    if (this.ackWriteSegments.length > 0) this.flushAcks();
  }

  /** Drops every record: deletes all segments and starts a fresh one with the next number. */
  purge(): void {
    if (this.state !== LogState.Open) throw this.notOpenError();
    const next = this.active.number + 1;
    this.writer.length = 0;
    this.writer.activeSyncPending = false;
    for (const segment of [...this.segments.values()]) this.deleteSegment(segment);
    this.active = this.createSegment(next);
    this.lastSegment = next;
    this.markAllDurable();
  }

  /** Deletes every file of the log (and the directory when it is then empty). Unusable until reset(). */
  destroy(): void {
    if (this.state === LogState.Destroyed) return;
    const wasOpen = this.state === LogState.Open;
    this.writer.length = 0;
    this.writer.activeSyncPending = false;
    this.writer.directorySyncPending = false;
    if (wasOpen) {
      for (const segment of [...this.segments.values()]) this.deleteSegment(segment);
    }
    this.block = null;
    this.segments.clear();
    this.liveRecordCount = 0;
    this.liveByteCount = 0;
    this.recovered = null;
    for (const name of readdirOrEmpty(this.dir)) {
      if (parseSegmentFileName(name) > 0 || parseAckFileName(name) > 0 || name.endsWith(CORRUPT_FILE_SUFFIX) || isDamagedFileName(name)) {
        unlinkIfExists(path.join(this.dir, name));
      }
    }
    try {
      fs.rmdirSync(this.dir);
    } catch {
      // not empty (someone else's files) or already gone: leave it
    }
    this.writer.releaseDirectory();
    this.state = LogState.Destroyed;
    this.writer.writeError = null;
    this.needsRepair = false;
    this.scheduler.forget(this);
  }

  /** Makes a destroyed log usable again, empty, starting at segment 1. */
  reset(): void {
    if (this.state !== LogState.Destroyed) throw new Error(`storage ${this.dir}: reset() is only for a destroyed log`);
    this.state = LogState.Open;
    this.writer.openDirectory();
    this.active = this.createSegment(1);
    this.markAllDurable();
  }

  /**
   * Flushes and closes every fd. Does not fsync what a finished SyncScheduler.close() already
   * synced; bytes written since the last round (policy 'always') are synced here before closing,
   * so closing a log never silently loses durability.
   */
  close(): void {
    if (this.state !== LogState.Open) return;
    this.scheduler.forget(this);
    if (this.writer.writeError !== null || this.needsRepair) {
      // a failure not rolled back yet: nothing more is written (what no round covers was refused)
      this.writer.writeError = null;
      this.writer.length = 0;
    } else {
      this.flush();
    }
    if (this.syncEnabled) this.syncPendingNow();
    this.state = LogState.Closed;
    for (const segment of this.segments.values()) this.releaseFiles(segment);
    this.writer.releaseDirectory();
    this.block = null;
  }

  // ---- SyncableLog: called by the SyncScheduler -------------------------------------------------

  collectSyncFds(dataFds: number[], directoryFds: number[]): void {
    const writer = this.writer;
    writer.collect(this.active, dataFds, directoryFds);
    const acks = this.ackSyncSegments;
    for (let i = 0; i < acks.length; i++) {
      const segment = acks[i]!;
      segment.ackSyncPending = false;
      writer.collectFile(segment.ackFile, dataFds);
    }
    acks.length = 0;
  }

  onSyncDone(): void {
    this.writer.onSyncDone(this.active);
  }

  roundCompleted(): boolean {
    if (this.state !== LogState.Open) return false;
    return this.writer.roundCompleted(this.active);
  }

  /**
   * Drops every record past the durable end: later segments are deleted, the durable one is truncated
   * (and synced, so a crash cannot bring the dropped records back), and the next append starts a new
   * segment (repair): nothing is written after bytes whose write or fsync failed.
   */
  rollBack(): void {
    if (this.state !== LogState.Open) return;
    this.writer.rollBackToDurable();
    this.needsRepair = true;
    const durable = this.writer.durableSegment;
    const size = this.writer.durableSize;
    let deleted = 0;
    for (const segment of [...this.segments.values()]) {
      if (segment.number > durable) {
        this.deleteSegment(segment);
        deleted++;
      }
    }
    if (this.blockSegment >= durable) this.block = null;
    const mark = this.segments.get(durable);
    this.logger(`storage ${this.dir}: a write or fsync failed: rolled back to ${durable}:${size}, ${deleted} later segment(s) deleted`);
    if (mark === undefined) return;
    if (mark.size > size) {
      const livesBefore = mark.liveRecords;
      const bytesBefore = mark.liveBytes;
      mark.dropRecordsFrom(size);
      this.liveRecordCount -= livesBefore - mark.liveRecords;
      this.liveByteCount -= bytesBefore - mark.liveBytes;
      mark.size = size;
      mark.flushedSize = size;
    }
    if (!mark.created) return; // its first write failed to create it: no byte of it is on disk
    // a torn write leaves bytes past flushedSize: whole records among them must not come back at recovery
    // (through the cache's descriptor; should that fail, the scheduler reports that the cut failed)
    const fd = this.files.fd(mark.file);
    if (fs.fstatSync(fd).size > size) {
      fs.ftruncateSync(fd, size);
      if (this.syncEnabled) fs.fdatasyncSync(fd);
    }
  }

  repair(): boolean {
    if (this.state !== LogState.Open) return true;
    if (this.writer.writeError !== null) return false;
    try {
      if (this.needsRepair) this.repairSegment();
      // acks whose ack file could not be opened or written wait in their buffers: writing them is part of
      // the probe, so storage is reported healthy only once they reach their files
      if (this.ackWriteSegments.length > 0) this.flushAcks();
      return true;
    } catch {
      return false;
    }
  }

  /** After a rollback: a new active segment; the old one (if still holding live records) is sealed. */
  private repairSegment(): void {
    const old = this.active;
    const next = this.createSegment(this.highestSegment + 1, indexCapacityAfter(old));
    // what the old segment kept is durable (rollBack synced its truncation): no sync is owed for it, and
    // the cache closes its descriptor when it needs the room
    this.writer.activeSyncPending = false;
    try {
      // created now, not lazily by the next write: a repair is the probe that tells the scheduler storage
      // works again, so it must fail (and storage stay reported failed) while no new file can be made
      this.writer.ensureCreated(next);
    } catch (error) {
      this.segments.delete(next.number);
      throw error;
    }
    this.active = next;
    this.lastSegment = next.number;
    this.needsRepair = false;
    if (this.segments.get(old.number) !== old) return;
    if (old.fullyAcked) this.deleteSegment(old);
  }

  /** Everything in the log is covered (after recovery, or after purge/reset started over). */
  private markAllDurable(): void {
    if (this.active.number > this.highestSegment) this.highestSegment = this.active.number;
    this.writer.markAllDurable(this.active);
  }

  // ---- appending ---------------------------------------------------------------------------------

  private recordAppended(segment: Segment, offset: number, payloadLength: number): void {
    // (flushQueued may be set by acks alone: markDirty would not be called for this record)
    if (!this.exposed) this.scheduler.expose(this);
    segment.size += RECORD_HEADER_BYTES + payloadLength;
    segment.addRecord(offset, payloadLength);
    this.liveRecordCount++;
    this.liveByteCount += payloadLength;
    this.lastSegment = segment.number;
  }

  /** A record too large for the write buffer: written straight to the file (the buffer is empty). */
  private appendDirect(segment: Segment, parts: readonly Buffer[], payloadLength: number): void {
    let crc = 0;
    let total = 0;
    for (let i = 0; i < parts.length; i++) {
      crc = crc32c(parts[i]!, crc);
      total += parts[i]!.length;
    }
    if (total !== payloadLength) throw partsMismatchError(parts, payloadLength);
    writeRecordHeader(this.directHeader, 0, payloadLength, crc);
    this.writer.writeDirect(segment, [this.directHeader, ...parts]);
  }

  private flushAcks(): void {
    const segments = this.ackWriteSegments;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      segment.ackWritePending = false;
      if (segment.ackBufferLength === 0 || segment.ackBuffer === null) continue;
      const file = segment.ackFile;
      try {
        const fd = this.files.fd(file); // opened by the ack (holdAckFile): reopened only if the cache closed it
        this.writer.written(file);
        if (!segment.ackHeaderWritten) {
          writeFully(fd, ACK_FILE_HEADER, ACK_HEADER_BYTES, null); // a new ack file (opened for appending)
          segment.ackHeaderWritten = true;
        }
        writeFully(fd, segment.ackBuffer, segment.ackBufferLength, null);
      } catch (error) {
        // a torn entry would shift every later one: cut the file back to whole entries, keep the
        // buffer for the next flush (entries written twice are harmless), and fail the round
        segment.ackWritePending = true;
        if (file.fd >= 0) realignAckFile(file.fd, segment);
        segments.splice(0, i); // the ones before it are written; it and the rest stay queued
        throw error;
      }
      segment.ackBufferLength = 0;
      if (this.syncEnabled && !segment.ackSyncPending) {
        segment.ackSyncPending = true;
        this.ackSyncSegments.push(segment);
        this.scheduler.markUnsynced(this);
      }
    }
    segments.length = 0;
  }

  /** Seals the active segment and starts the next one. */
  private roll(): Segment {
    this.flush();
    const sealed = this.active;
    const sealedSyncPending = this.writer.activeSyncPending;
    this.writer.activeSyncPending = false; // the new segment owes a sync once its first write creates it
    // the new segment first: if it cannot be created, the active one stays as it was
    const next = this.createSegment(Math.max(sealed.number, this.highestSegment) + 1, indexCapacityAfter(sealed));
    this.active = next;
    if (sealed.fullyAcked) {
      this.deleteSegment(sealed); // its bytes are acked already: nothing worth syncing
      return next;
    }
    // the next round fdatasyncs it (or the cache does, should it close the descriptor first)
    if (sealedSyncPending) this.writer.sealedOwesSync(sealed);
    return next;
  }

  /** A new, empty active segment: in memory only until its first write creates the file (ensureCreated). */
  private createSegment(number: number, indexCapacity: number = INITIAL_INDEX_CAPACITY): Segment {
    if (number > MAX_SEGMENT_NUMBER) throw new RangeError(`storage ${this.dir}: segment numbers exhausted`);
    const segmentPath = path.join(this.dir, segmentFileName(number));
    const ackPath = path.join(this.dir, ackFileName(number));
    const segment = new Segment(number, segmentPath, ackPath, indexCapacity);
    segment.created = false; // the file is created by its first write (ensureCreated)
    if (number > this.highestSegment) this.highestSegment = number;
    segment.size = SEGMENT_HEADER_BYTES;
    segment.flushedSize = SEGMENT_HEADER_BYTES;
    this.segments.set(number, segment);
    return segment;
  }

  /** Closes a segment's fds, forgets it and unlinks its files (.seg first: an orphan .ack is harmless). */
  private deleteSegment(segment: Segment): void {
    this.segments.delete(segment.number);
    this.liveRecordCount -= segment.liveRecords;
    this.liveByteCount -= segment.liveBytes;
    this.releaseFiles(segment);
    segment.ackBuffer = null;
    segment.ackBufferLength = 0;
    if (segment.ackWritePending) removeFrom(this.ackWriteSegments, segment);
    if (segment.ackSyncPending) removeFrom(this.ackSyncSegments, segment);
    if (segment.dataSyncPending) removeFrom(this.writer.sealedAwaitingSync, segment);
    segment.ackWritePending = segment.ackSyncPending = segment.dataSyncPending = false;
    if (this.blockSegment === segment.number) this.block = null;
    unlinkIfExists(segment.path);
    unlinkIfExists(segment.ackPath);
  }

  /** The segment's files are done with: the cache closes them (after any sync in flight on them). */
  private releaseFiles(segment: Segment): void {
    this.files.release(segment.file);
    this.files.release(segment.ackFile);
  }

  /** close() on a log with bytes not yet covered by a round: sync them synchronously. */
  private syncPendingNow(): void {
    const dataFds: number[] = [];
    const directoryFds: number[] = [];
    const pinnedBefore = this.writer.pinned.length; // pins of a round in flight stay until its onSyncDone
    this.collectSyncFds(dataFds, directoryFds);
    try {
      for (const fd of dataFds) fs.fdatasyncSync(fd);
      for (const fd of directoryFds) fs.fsyncSync(fd);
    } finally {
      this.writer.unpinFrom(pinnedBefore);
    }
  }

  // ---- reading -----------------------------------------------------------------------------------

  private readMiss(segmentNumber: number, offset: number, length: number): Buffer {
    if (this.state !== LogState.Open) throw this.notOpenError();
    const segment = this.segments.get(segmentNumber);
    if (segment === undefined) {
      throw new RangeError(`storage ${this.dir}: segment ${segmentNumber} does not exist (deleted or never written)`);
    }
    const end = offset + RECORD_HEADER_BYTES + length;
    // a record still in the write buffer is written first; should that write fail, the failure is the
    // scheduler's (failWrite: the record is rolled back) and this read finds no record (RangeError below)
    if (segment === this.active && end > segment.flushedSize) this.flushOrFail();
    const fileEnd = segment.flushedSize;
    if (offset < SEGMENT_HEADER_BYTES || end > fileEnd || length < MIN_RECORD_PAYLOAD_BYTES) {
      throw new RangeError(`storage ${this.dir}: no record of ${length} bytes at ${segmentNumber}:${offset}`);
    }
    const blockLength = Math.min(Math.max(this.readAheadBytes, end - offset), fileEnd - offset);
    const block = Buffer.allocUnsafe(blockLength);
    readFully(this.files.fd(segment.file), block, blockLength, offset);
    this.block = block;
    this.blockSegment = segmentNumber;
    this.blockStart = offset;
    this.blockEnd = offset + blockLength;
    return this.payloadFromBlock(block, segmentNumber, 0, length);
  }

  private payloadFromBlock(block: Buffer, segment: number, at: number, length: number): Buffer {
    if (readRecordLength(block, at) !== length) {
      throw new RangeError(`storage ${this.dir}: record at ${segment}:${this.blockStart + at} holds ${readRecordLength(block, at)} bytes, not ${length}`);
    }
    const payload = block.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length);
    if (this.verifyOnRead && crc32c(payload) !== readRecordCrc(block, at)) {
      throw new Error(`storage ${this.dir}: CRC mismatch reading record ${segment}:${this.blockStart + at}`);
    }
    return payload;
  }

  // ---- recovery ----------------------------------------------------------------------------------

  private recover(): void {
    const started = Date.now();
    // the directory itself is created by the first segment file (ensureCreated): an empty queue has none
    this.writer.openDirectory();
    const names = readdirIfExists(this.dir);
    const numbers: number[] = [];
    const ackNumbers: number[] = [];
    for (const name of names) {
      const segment = parseSegmentFileName(name);
      if (segment > 0) numbers.push(segment);
      const acked = parseAckFileName(name);
      if (acked > 0) ackNumbers.push(acked);
    }
    numbers.sort((a, b) => a - b);
    const highest = numbers.length > 0 ? numbers[numbers.length - 1]! : 0;
    const recovery = new SegmentRecovery({
      dir: this.dir,
      segmentBytes: this.segmentBytes,
      syncEnabled: this.syncEnabled,
      logger: this.logger,
      errorLogger: this.errorLogger,
      onRecovered: this.onRecovered,
      store: this,
      adopt: (segment) => {
        this.segments.set(segment.number, segment);
        this.liveRecordCount += segment.liveRecords;
        this.liveByteCount += segment.liveBytes;
      },
    });
    let last: Segment | null = null;
    for (const number of numbers) {
      const indexCapacity = last === null ? INITIAL_INDEX_CAPACITY : indexCapacityAfter(last);
      const segment = recovery.recoverSegment(number, indexCapacity);
      if (segment !== null) last = segment;
    }
    const totals = recovery.totals;
    for (const number of ackNumbers) {
      if (!this.segments.has(number)) unlinkIfExists(path.join(this.dir, ackFileName(number))); // orphan
    }
    for (const segment of [...this.segments.values()]) {
      if (segment !== last && segment.fullyAcked) this.deleteSegment(segment);
    }
    const recoveredSegments = this.segments.size;
    if (last !== null && last.number === highest && last.size < this.segmentBytes) {
      this.active = last; // its descriptor is opened by the first append or read
    } else {
      // a log with no records yet (most of 100,000 idle queues) starts with the smallest index
      this.active = this.createSegment(highest + 1, last === null ? MIN_INDEX_CAPACITY : indexCapacityAfter(last));
      if (last !== null && last.fullyAcked) this.deleteSegment(last);
    }
    this.recovered = recovery.recovered;
    this.lastSegment = this.active.number;
    this.markAllDurable();
    const damage = totals.damagedRanges > 0 ? `skipped ${totals.damagedBytes} damaged byte(s) in ${totals.damagedRanges} range(s), ` : '';
    this.logger(
      `storage ${this.dir}: recovered ${recoveredSegments} segment(s), ${this.liveRecordCount} live record(s) ` +
        `(${this.liveByteCount} payload bytes), dropped ${totals.droppedBytes} byte(s), ${damage}` +
        `${totals.corruptFiles} corrupt file(s) moved aside, in ${Date.now() - started} ms`,
    );
  }

  private notOpenError(): Error {
    const state = this.state === LogState.Closed ? 'closed' : 'destroyed';
    return new Error(`storage ${this.dir}: log is ${state}`);
  }
}

/**
 * Truncates an ack file to whole entries after a torn append, or to nothing when not even its header
 * is whole (then the next write writes the header again). Best effort: the round fails anyway.
 */
function realignAckFile(fd: number, segment: Segment): void {
  try {
    const size = fs.fstatSync(fd).size;
    const whole = wholeAckFileSize(size);
    if (whole !== size) fs.ftruncateSync(fd, whole);
    if (whole === 0) segment.ackHeaderWritten = false;
  } catch {
    // the failure is reported by the caller
  }
}

/** index slots for the segment after `previous`: its record count and some headroom */
function indexCapacityAfter(previous: Segment): number {
  return Math.max(INITIAL_INDEX_CAPACITY, Math.ceil(previous.recordCount * (1 + INDEX_CAPACITY_HEADROOM)));
}

function removeFrom<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}

function partsMismatchError(parts: readonly Buffer[], payloadLength: number): RangeError {
  let total = 0;
  for (const part of parts) total += part.length;
  return new RangeError(`payload parts hold ${total} bytes, payloadLength says ${payloadLength}`);
}
