/**
 * The committed-offsets log of the consumer-group coordinator: one append-only file,
 * <dataDir>/groups/offsets.log, replayed at open. It participates in the broker's group commit like every
 * other log (SyncableLog, its writes through a SegmentWriter: segment-writer.ts): an OffsetCommit is
 * answered only after the fsync round that covers its record. The store over it (commits applied once
 * durable, compaction thresholds) is group-offsets-file.ts.
 *
 * File header (8 bytes, once at the start of the file):
 *
 *   byte  0     1     2     3     4     5     6     7
 *       +-----+-----+-----+-----+-----+-----+-----+-----+
 *       | 'P' | 'B' | 'G' | 'O' |  version  | reserved  |
 *       | 50  | 42  | 47  | 4F  | 00  | 01  | 00  | 00  |
 *       +-----+-----+-----+-----+-----+-----+-----+-----+
 *    byte 0..3  magic "PBGO" (Postbox Group Offsets)
 *    byte 4..5  format version, big-endian, = 1
 *    byte 6..7  reserved, written as 0, ignored on read
 *
 * Record (back to back after the header until end of file):
 *
 *   +0       +4       +8     +9     +10          +12               +12+G
 *   +--------+--------+------+------+------------+-----------------+-----------------
 *   | length | crc32c | type | rsvd | group len  | group id        | body (by type)
 *   | u32 BE | u32 BE | u8   | u8   | u16 BE = G | G bytes UTF-8   |
 *   +--------+--------+------+------+------------+-----------------+-----------------
 *    length  bytes after the crc32c field (type .. end of body); at least 4, at most MAX_OFFSET_RECORD_BYTES
 *    crc32c  CRC-32C (Castagnoli) of those `length` bytes
 *    rsvd    written as 0, ignored on read
 *
 *   A record is never shorter than 4 bytes, so a zero-filled tail (which some filesystems leave after a
 *   crash) never parses: length 0 is invalid and replay stops there.
 *
 *   type 1 = COMMIT: offsets of one group, all from one OffsetCommit (one record, so a torn write drops
 *   the whole commit, never half of it). Body:
 *
 *     +0            +4
 *     +-------------+------------- N entries, back to back
 *     | count u32 N | entry ...
 *     +-------------+-------------
 *
 *     entry:
 *     +0         +2        +2+T        +6+T            +14+T          +18+T            +26+T          +30+T
 *     +----------+---------+-----------+---------------+--------------+----------------+--------------+---------
 *     | topic    | topic   | partition | committed     | leader epoch | commit time    | metadata len | metadata
 *     | len u16  | T bytes | u32 BE    | offset i64 BE | i32 BE       | i64 BE, ms     | i32 BE = M   | M bytes
 *     | = T      | UTF-8   |           |               | -1 = none    | since epoch    | -1 = null    | UTF-8
 *     +----------+---------+-----------+---------------+--------------+----------------+--------------+---------
 *
 *   type 2 = DELETE GROUP (a tombstone, written when a group is deleted): forget every committed offset of
 *   the group recorded before it. Empty body. Part of format version 1 from the start.
 *
 * Recovery reads the file from the start. At a record that is short, has an impossible length, a wrong
 * checksum or an undecodable body it looks for the next good record (storage/damage.ts): when there is
 * none, everything from there on is a torn tail (an append the crash interrupted, never acknowledged) and
 * the file is truncated to the last good record; when there is one, the bytes in between are damage: they
 * are skipped (copied to offsets.log.damaged-<offset>, reported at error level) and replay goes on, so one
 * bad commit costs that commit only. A record with a good checksum and an unknown type, or a file of an
 * unknown format version, was written by a newer Postbox: opening refuses rather than drop it.
 *
 * Compaction rewrites the file as one COMMIT record per group (chunked) holding the live offsets (a deleted
 * group has none, so neither its commits nor its tombstone survive), followed by the records still waiting
 * for their fsync: written to offsets.log.tmp, fsynced, renamed over offsets.log, directory fsynced. A crash
 * before the rename leaves the old file intact (the temp file is removed at the next open); after it, the
 * new one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { closeQuietly, syncDirectory, unlinkIfExists, writeFully } from './files.js';
import type { SyncScheduler, SyncableLog } from './sync.js';
import { findNextValid, trySaveDamagedBytes } from './damage.js';
import { UnsupportedFormatError } from './format-error.js';
import { CachedFile, FdCache, PRIVATE_CACHE_FILES } from './fd-cache.js';
import { SegmentWriter, type WritableSegment } from './segment-writer.js';
import { MAX_GROUP_ID_BYTES, type StoredOffset } from './meta-store.js';

/** "PBGO" read as one big-endian u32. */
export const OFFSET_LOG_MAGIC = 0x5042474f;
export const OFFSET_LOG_FORMAT_VERSION = 1;
export const OFFSET_LOG_HEADER_BYTES = 8;
/** length u32 + crc32c u32 in front of every record. */
export const OFFSET_RECORD_HEADER_BYTES = 8;
/** type u8 + reserved u8 + group length u16: the smallest possible record body. */
const RECORD_FIXED_BYTES = 4;
/** Fixed bytes of one COMMIT entry besides its topic and metadata strings (2+4+8+4+8+4). */
const ENTRY_FIXED_BYTES = 30;
/**
 * Largest record, 64 MiB: far above one OffsetCommit (thousands of partitions take a few hundred KiB),
 * and small enough that a corrupt length cannot make recovery allocate gigabytes.
 */
export const MAX_OFFSET_RECORD_BYTES = 64 * 1024 * 1024;
/** Entries per COMMIT record when compaction writes a group's snapshot (keeps each record modest). */
export const SNAPSHOT_ENTRIES_PER_RECORD = 4096;

export const RECORD_TYPE_COMMIT = 1;
export const RECORD_TYPE_DELETE_GROUP = 2;

export const OFFSET_LOG_FILE = 'offsets.log';
/**
 * Largest write buffer of the offsets log, 256 KiB (like a queue's or a partition's): a turn's OffsetCommits
 * of many groups fit in one write(); a larger record (a commit of thousands of partitions) is written by itself.
 */
const OFFSET_LOG_WRITE_BUFFER_BYTES = 256 * 1024;
const TEMP_SUFFIX = '.tmp';
const CORRUPT_SUFFIX = '.corrupt';

export type { StoredOffset };
export { MAX_GROUP_ID_BYTES };

export type OffsetRecord =
  | { readonly type: typeof RECORD_TYPE_COMMIT; readonly groupId: string; readonly offsets: readonly StoredOffset[] }
  | { readonly type: typeof RECORD_TYPE_DELETE_GROUP; readonly groupId: string };

// ---- encoding -------------------------------------------------------------------------------------------

function recordShell(type: number, groupId: string, bodyBytes: number): { buffer: Buffer; at: number } {
  const groupBytes = Buffer.byteLength(groupId, 'utf8');
  if (groupBytes > MAX_GROUP_ID_BYTES) throw new RangeError(`group id of ${groupBytes} bytes is longer than ${MAX_GROUP_ID_BYTES}`);
  const length = RECORD_FIXED_BYTES + groupBytes + bodyBytes;
  if (length > MAX_OFFSET_RECORD_BYTES) throw new RangeError(`offset record of ${length} bytes is larger than ${MAX_OFFSET_RECORD_BYTES}`);
  const buffer = Buffer.allocUnsafe(OFFSET_RECORD_HEADER_BYTES + length);
  buffer.writeUInt32BE(length, 0);
  // crc32c at 4 is filled in by sealRecord once the body is written
  buffer.writeUInt8(type, 8);
  buffer.writeUInt8(0, 9);
  buffer.writeUInt16BE(groupBytes, 10);
  buffer.write(groupId, 12, groupBytes, 'utf8');
  return { buffer, at: 12 + groupBytes };
}

function sealRecord(buffer: Buffer): Buffer {
  buffer.writeUInt32BE(crc32c(buffer.subarray(OFFSET_RECORD_HEADER_BYTES)), 4);
  return buffer;
}

/** A COMMIT record (header included) for `offsets` of `groupId`. */
export function encodeCommitRecord(groupId: string, offsets: readonly StoredOffset[]): Buffer {
  let bodyBytes = 4;
  for (const o of offsets) {
    bodyBytes += ENTRY_FIXED_BYTES + Buffer.byteLength(o.topic, 'utf8') + (o.metadata === null ? 0 : Buffer.byteLength(o.metadata, 'utf8'));
  }
  const { buffer, at: start } = recordShell(RECORD_TYPE_COMMIT, groupId, bodyBytes);
  let at = start;
  at = buffer.writeUInt32BE(offsets.length, at);
  for (const o of offsets) {
    const topicBytes = Buffer.byteLength(o.topic, 'utf8');
    if (topicBytes > 0xffff) throw new RangeError(`topic name of ${topicBytes} bytes is too long to store`);
    at = buffer.writeUInt16BE(topicBytes, at);
    at += buffer.write(o.topic, at, topicBytes, 'utf8');
    at = buffer.writeUInt32BE(o.partition, at);
    at = buffer.writeBigInt64BE(o.offset, at);
    at = buffer.writeInt32BE(o.leaderEpoch, at);
    at = buffer.writeBigInt64BE(BigInt(o.commitTimestampMs), at);
    if (o.metadata === null) {
      at = buffer.writeInt32BE(-1, at);
    } else {
      const metadataBytes = Buffer.byteLength(o.metadata, 'utf8');
      at = buffer.writeInt32BE(metadataBytes, at);
      at += buffer.write(o.metadata, at, metadataBytes, 'utf8');
    }
  }
  if (at !== buffer.length) throw new Error(`offset record encoding wrote ${at} of ${buffer.length} bytes`);
  return sealRecord(buffer);
}

/** A DELETE GROUP record (header included). */
export function encodeDeleteGroupRecord(groupId: string): Buffer {
  return sealRecord(recordShell(RECORD_TYPE_DELETE_GROUP, groupId, 0).buffer);
}

// ---- decoding -------------------------------------------------------------------------------------------

class TruncatedRecord extends Error {}

/** Decodes one record body (the `length` bytes after the crc); throws TruncatedRecord when it does not fit. */
function decodeBody(bytes: Buffer, start: number, end: number): OffsetRecord | number {
  let at = start;
  const need = (n: number): void => {
    if (at + n > end) throw new TruncatedRecord();
  };
  need(RECORD_FIXED_BYTES);
  const type = bytes.readUInt8(at);
  const groupBytes = bytes.readUInt16BE(at + 2);
  at += RECORD_FIXED_BYTES;
  need(groupBytes);
  const groupId = bytes.toString('utf8', at, at + groupBytes);
  at += groupBytes;
  if (type === RECORD_TYPE_DELETE_GROUP) {
    if (at !== end) throw new TruncatedRecord();
    return { type, groupId };
  }
  if (type !== RECORD_TYPE_COMMIT) return type;
  need(4);
  const count = bytes.readUInt32BE(at);
  at += 4;
  if (count > (end - at) / ENTRY_FIXED_BYTES) throw new TruncatedRecord();
  const offsets: StoredOffset[] = [];
  for (let i = 0; i < count; i++) {
    need(2);
    const topicBytes = bytes.readUInt16BE(at);
    at += 2;
    need(topicBytes + ENTRY_FIXED_BYTES - 2);
    const topic = bytes.toString('utf8', at, at + topicBytes);
    at += topicBytes;
    const partition = bytes.readUInt32BE(at);
    const offset = bytes.readBigInt64BE(at + 4);
    const leaderEpoch = bytes.readInt32BE(at + 12);
    const commitTimestampMs = Number(bytes.readBigInt64BE(at + 16));
    const metadataBytes = bytes.readInt32BE(at + 24);
    at += 28;
    let metadata: string | null = null;
    if (metadataBytes >= 0) {
      need(metadataBytes);
      metadata = bytes.toString('utf8', at, at + metadataBytes);
      at += metadataBytes;
    } else if (metadataBytes !== -1) {
      throw new TruncatedRecord();
    }
    offsets.push({ topic, partition, offset, leaderEpoch, commitTimestampMs, metadata });
  }
  if (at !== end) throw new TruncatedRecord();
  return { type: RECORD_TYPE_COMMIT, groupId, offsets };
}

export interface ReplayResult {
  /** bytes of the file up to the end of the last good record */
  readonly validBytes: number;
  readonly records: number;
  /** damaged ranges skipped (good records follow each), in file order */
  readonly skipped: readonly { readonly offset: number; readonly bytes: number }[];
}

/** The record at `at` decoded, or null when it is not a whole record with a good checksum and body. */
function recordAt(bytes: Buffer, at: number): OffsetRecord | number | null {
  if (at + OFFSET_RECORD_HEADER_BYTES > bytes.length) return null;
  const length = bytes.readUInt32BE(at);
  if (length < RECORD_FIXED_BYTES || length > MAX_OFFSET_RECORD_BYTES) return null;
  const start = at + OFFSET_RECORD_HEADER_BYTES;
  const end = start + length;
  if (end > bytes.length) return null;
  if (crc32c(bytes.subarray(start, end)) !== bytes.readUInt32BE(at + 4)) return null;
  try {
    return decodeBody(bytes, start, end);
  } catch (err) {
    if (err instanceof TruncatedRecord) return null;
    throw err;
  }
}

/**
 * Replays the records of a whole file image (header included) into `visit`, stopping at the first bad one.
 * Throws when the header is not an offset log's or the file was written by a newer format.
 */
export function replayOffsetLog(bytes: Buffer, visit: (record: OffsetRecord) => void, file = OFFSET_LOG_FILE): ReplayResult {
  if (bytes.length < OFFSET_LOG_HEADER_BYTES) throw new Error(`offset log is ${bytes.length} bytes, shorter than its header`);
  if (bytes.readUInt32BE(0) !== OFFSET_LOG_MAGIC) throw new Error('offset log does not start with the PBGO magic');
  const version = bytes.readUInt16BE(4);
  if (version !== OFFSET_LOG_FORMAT_VERSION) throw new UnsupportedFormatError(file, version, OFFSET_LOG_FORMAT_VERSION);
  const skipped: { offset: number; bytes: number }[] = [];
  const isRecordAt = (at: number): boolean => recordAt(bytes, at) !== null;
  let at = OFFSET_LOG_HEADER_BYTES;
  let records = 0;
  while (at < bytes.length) {
    let record = recordAt(bytes, at);
    if (record === null) {
      const length = at + OFFSET_RECORD_HEADER_BYTES <= bytes.length ? bytes.readUInt32BE(at) : 0;
      const hint = length >= RECORD_FIXED_BYTES && length <= MAX_OFFSET_RECORD_BYTES ? at + OFFSET_RECORD_HEADER_BYTES + length : -1;
      const next = findNextValid(at + 1, bytes.length - OFFSET_RECORD_HEADER_BYTES - RECORD_FIXED_BYTES + 1, hint, isRecordAt);
      if (next < 0) break; // a torn tail
      skipped.push({ offset: at, bytes: next - at });
      at = next;
      record = recordAt(bytes, at)!;
    }
    if (typeof record === 'number') {
      throw new UnsupportedFormatError(file, record, `${RECORD_TYPE_COMMIT} and ${RECORD_TYPE_DELETE_GROUP}`, `record type (at byte ${at})`);
    }
    visit(record);
    records++;
    at += OFFSET_RECORD_HEADER_BYTES + bytes.readUInt32BE(at);
  }
  return { validBytes: at, records, skipped };
}

function encodeFileHeader(): Buffer {
  const header = Buffer.alloc(OFFSET_LOG_HEADER_BYTES);
  header.writeUInt32BE(OFFSET_LOG_MAGIC, 0);
  header.writeUInt16BE(OFFSET_LOG_FORMAT_VERSION, 4);
  return header;
}

// ---- the file -------------------------------------------------------------------------------------------

/**
 * What the group-offset store (group-offsets-file.ts) needs of the offsets log: append a record
 * (durable once the scheduler's round that covers it completes), rewrite the whole log as a snapshot, close.
 */
export interface OffsetLog {
  /** bytes of the log including appends not yet written to the OS */
  readonly bytes: number;
  append(record: Buffer): void;
  rewrite(records: readonly Buffer[]): void;
  close(): void;
}

export interface OffsetLogFileOptions {
  /** the directory holding offsets.log (created when missing) */
  readonly dir: string;
  readonly scheduler: SyncScheduler;
  readonly warn: (line: string) => void;
  /** damage found at open (skipped records, a file moved aside); default: `warn` */
  readonly error?: (line: string) => void;
}

/** The log's one file, as the SegmentWriter sees it: a segment that is always the active one. */
class OffsetLogSegment implements WritableSegment {
  /** bytes in the file plus bytes in the write buffer */
  size: number;
  flushedSize: number;
  created = true;
  dataSyncPending = false;
  constructor(
    readonly file: CachedFile,
    size: number,
  ) {
    this.size = size;
    this.flushedSize = size;
  }
}

/** The writer's key for the one segment: a rewrite does not change what a round covers (see rewrite). */
const OFFSET_LOG_SEGMENT_KEY = 0;

/**
 * The open offsets.log: appends buffered in its SegmentWriter until the scheduler flushes them (one
 * positional write at the end of what was written: a torn write is overwritten by the next one or cut
 * off), fsynced in the scheduler's rounds. A failed write or fsync: rollBack cuts off what no completed
 * round covers (those commits were refused). The file is created (with its header, fsynced) by open(),
 * never by a write, and never rolls: compaction replaces it whole (rewrite).
 */
export class OffsetLogFile implements SyncableLog, OffsetLog {
  flushQueued = false;
  syncQueued = false;
  exposed = false;

  /** one file: a private cache, so the descriptor is opened (through faults.ts) and closed as every log's is */
  private readonly files: FdCache;
  private readonly writer: SegmentWriter<OffsetLogSegment, number>;
  private segment: OffsetLogSegment;
  private readonly syncEnabled: boolean;
  private closed = false;

  private constructor(
    private readonly options: OffsetLogFileOptions,
    readonly file: string,
    size: number,
  ) {
    const scheduler = options.scheduler;
    this.syncEnabled = scheduler.policy === 'always';
    this.files = new FdCache({ capacity: PRIVATE_CACHE_FILES, syncBeforeClose: this.syncEnabled, onSyncError: (error) => scheduler.reportFailure(error) });
    this.segment = new OffsetLogSegment(new CachedFile(file, 'r+'), size);
    this.writer = new SegmentWriter<OffsetLogSegment, number>({
      dir: options.dir,
      scheduler,
      files: this.files,
      owner: this,
      maxBufferBytes: OFFSET_LOG_WRITE_BUFFER_BYTES,
      keyOf: () => OFFSET_LOG_SEGMENT_KEY,
      header: () => encodeFileHeader(),
      beforeCreate: () => {
        throw new Error(`offset log ${file}: the file is created by open(), never by a write`);
      },
    });
    this.writer.markAllDurable(this.segment);
  }

  /**
   * Opens (creating when missing) and replays the log into `visit`, truncating a torn tail. A file whose
   * header is not an offset log's is moved aside as offsets.log.corrupt-<ms> and a fresh log started.
   */
  static open(options: OffsetLogFileOptions, visit: (record: OffsetRecord) => void): { log: OffsetLogFile; records: number; droppedBytes: number } {
    fs.mkdirSync(options.dir, { recursive: true });
    const file = path.join(options.dir, OFFSET_LOG_FILE);
    unlinkIfExists(file + TEMP_SUFFIX); // a compaction interrupted before its rename: the old file is whole
    let bytes: Buffer | null = null;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (bytes !== null && bytes.length < OFFSET_LOG_HEADER_BYTES) bytes = null; // creation torn before its header landed
    if (bytes !== null && bytes.readUInt32BE(0) !== OFFSET_LOG_MAGIC) {
      const aside = `${file}${CORRUPT_SUFFIX}-${Date.now()}`;
      fs.renameSync(file, aside);
      (options.error ?? options.warn)(`offset log ${file} has no offset-log header; moved aside to ${aside}, starting an empty one`);
      bytes = null;
    }
    if (bytes === null) {
      const fd = fs.openSync(file, 'w+');
      try {
        writeFully(fd, encodeFileHeader(), OFFSET_LOG_HEADER_BYTES, 0);
        fs.fsyncSync(fd);
      } finally {
        closeQuietly(fd);
      }
      syncDirectory(options.dir);
      return { log: new OffsetLogFile(options, file, OFFSET_LOG_HEADER_BYTES), records: 0, droppedBytes: 0 };
    }
    const { validBytes, records, skipped } = replayOffsetLog(bytes, visit, file);
    if (skipped.length > 0) {
      const sync = options.scheduler.policy === 'always';
      const sideFiles = skipped.map((range) => trySaveDamagedBytes(file, range.offset, bytes!.subarray(range.offset, range.offset + range.bytes), sync));
      const skippedBytes = skipped.reduce((sum, range) => sum + range.bytes, 0);
      (options.error ?? options.warn)(
        `offset log ${file} is DAMAGED: skipped ${skippedBytes} byte(s) in ${skipped.length} range(s) (first at byte ${skipped[0]!.offset}), ` +
          `replayed the ${records} intact record(s) around them (a skipped commit falls back to the group's previous offsets); ` +
          `the skipped bytes are kept in ${sideFiles.join(', ')}`,
      );
    }
    const droppedBytes = bytes.length - validBytes;
    if (droppedBytes > 0) {
      const fd = fs.openSync(file, 'r+');
      try {
        fs.ftruncateSync(fd, validBytes);
        fs.fsyncSync(fd);
      } finally {
        closeQuietly(fd);
      }
      options.warn(`offset log ${file}: dropped a torn tail of ${droppedBytes} byte(s) after ${records} good record(s)`);
    }
    return { log: new OffsetLogFile(options, file, validBytes), records, droppedBytes };
  }

  /** Bytes of the log including appends not yet written to the OS. */
  get bytes(): number {
    return this.segment.size;
  }

  /** Queues a whole record (from encode*Record); the scheduler writes it at the end of this turn. */
  append(record: Buffer): void {
    if (this.closed) throw new Error(`offset log ${this.file} is closed`);
    const writer = this.writer;
    const segment = this.segment;
    const length = record.length;
    this.segment.size += length;
    if (!this.exposed) this.options.scheduler.expose(this);
    if (length > writer.buffer.length - writer.length) {
      try {
        this.flush();
      } catch {
        // reported by the writer (failWrite): the rounds fail, and the rollback cuts this record off
      }
      if (length > OFFSET_LOG_WRITE_BUFFER_BYTES) {
        if (writer.writeError === null) {
          try {
            writer.writeDirect(segment, [record]);
          } catch (error) {
            writer.failWrite(error);
          }
        }
        if (!this.flushQueued) this.options.scheduler.markDirty(this);
        return;
      }
      writer.grow(length);
    }
    record.copy(writer.buffer, writer.length);
    writer.length += length;
    if (!this.flushQueued) this.options.scheduler.markDirty(this);
  }

  // ---- SyncableLog ------------------------------------------------------------------------------------

  flush(): void {
    if (this.closed) return;
    const segment = this.segment;
    try {
      this.writer.flushBuffer(segment);
    } catch (error) {
      segment.size = segment.flushedSize; // the buffered records are gone (failWrite); the rollback cuts the rest
      throw error;
    }
  }

  roundCompleted(): boolean {
    return this.writer.roundCompleted(this.segment) && !this.closed;
  }

  /** A write or fsync failed: records no completed round covers are cut off (their commits were refused). */
  rollBack(): void {
    const writer = this.writer;
    writer.rollBackToDurable();
    const durable = writer.durableSize;
    const segment = this.segment;
    if (this.closed) return;
    // a torn write leaves bytes past what was written: cut them off too (through the cache's descriptor)
    const fd = this.files.fd(segment.file);
    if (fs.fstatSync(fd).size > durable) {
      fs.ftruncateSync(fd, durable);
      if (this.syncEnabled) fs.fdatasyncSync(fd);
    }
    segment.size = segment.flushedSize = durable;
  }

  repair(): boolean {
    return true;
  }

  collectSyncFds(dataFds: number[], directoryFds: number[]): void {
    // (a closed log's file is released: the writer hands no descriptor of it to the round)
    this.writer.collect(this.segment, dataFds, directoryFds);
  }

  onSyncDone(): void {
    this.writer.onSyncDone(this.segment);
  }

  // ---- compaction and close -----------------------------------------------------------------------------

  /**
   * Replaces the whole file with `records` (a snapshot of the live state plus any appends still waiting
   * for durability), synchronously and durably: temp file, fsync, rename, directory fsync. Anything
   * buffered is dropped: the caller's snapshot covers it.
   */
  rewrite(records: readonly Buffer[]): void {
    if (this.closed) throw new Error(`offset log ${this.file} is closed`);
    const temp = this.file + TEMP_SUFFIX;
    const fd = fs.openSync(temp, 'w+');
    let size = 0;
    try {
      const image = Buffer.concat([encodeFileHeader(), ...records]);
      writeFully(fd, image, image.length, 0);
      size = image.length;
      fs.fsyncSync(fd);
      fs.renameSync(temp, this.file);
      syncDirectory(this.options.dir);
    } catch (err) {
      closeQuietly(fd);
      unlinkIfExists(temp);
      throw err;
    }
    closeQuietly(fd); // the new file is opened again through the cache by the next write
    // the old file's descriptor is closed once no sync in flight holds it (the cache's pins)
    this.files.release(this.segment.file);
    this.segment = new OffsetLogSegment(new CachedFile(this.file, 'r+'), size);
    const writer = this.writer;
    writer.length = 0;
    writer.activeSyncPending = false;
    writer.markAllDurable(this.segment);
  }

  /** Writes what is buffered and fsyncs it (unless fsync is off), then closes the file. */
  close(): void {
    if (this.closed) return;
    this.flush();
    const writer = this.writer;
    const file = this.segment.file;
    if (writer.activeSyncPending && this.syncEnabled && file.unsynced) {
      fs.fdatasyncSync(this.files.fd(file));
      file.unsynced = false;
    }
    writer.activeSyncPending = false;
    this.closed = true;
    this.files.release(file); // closed once no sync in flight holds it
  }
}
