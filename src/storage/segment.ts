/**
 * In-memory state of one segment file of a SegmentLog (layout: see format.ts).
 *
 * A segment keeps a compact index of its records — the offset of each (a payload length is the gap to
 * the next offset) and an acked bit, in typed arrays — so an ack can be validated (unknown offsets and
 * repeated acks are ignored), live payload bytes can be kept exact, a record's length can be looked up
 * by offset, and the segment can be deleted the moment its last record is acked. The index costs
 * 4 bytes and 1 bit per record, plus the slack of its capacity: the log sizes a new segment's index
 * from its predecessor's record count, so a steady stream fills it without regrowing.
 *
 * File descriptors come from the broker's FdCache (fd-cache.ts) through the log, opened on demand and
 * closed when the cache needs room; this class only names the two files.
 */

import { ACK_ENTRY_BYTES, RECORD_HEADER_BYTES, writeAckEntry } from './format.js';
import { CachedFile } from './fd-cache.js';

/** Index slots allocated for a new segment when the log has no better estimate; doubled whenever full. */
export const INITIAL_INDEX_CAPACITY = 1024;
/** The smallest index: 16 slots (the acked bits of 8 slots share a byte). */
export const MIN_INDEX_CAPACITY = 16;
/** Acks buffered per segment before they are written to its ack file: 4 KiB = 512 entries. */
export const ACK_BUFFER_BYTES = 4096;

export class Segment {
  readonly number: number;
  readonly path: string;
  readonly ackPath: string;

  /** the .seg file (its descriptor comes and goes with the log's FdCache) */
  readonly file: CachedFile;
  /** Logical end of the segment: file size plus bytes still in the log's write buffer. */
  size = 0;
  /** Bytes already written to the file (== size for a sealed segment). */
  flushedSize = 0;
  /**
   * The file exists. A new segment's file is created by the first write into it, so an empty queue has
   * a directory and nothing else: no file to create, sync or hold open.
   */
  created = true;

  recordCount = 0;
  ackedCount = 0;
  /** Payload bytes of records not yet acked. */
  liveBytes = 0;

  /** record offsets in append order; records are contiguous, so a length is the gap to the next one */
  private offsets: Uint32Array;
  /** one bit per record, record i at bit (i & 7) of byte i >> 3 */
  private acked: Uint8Array;
  /** end of the last indexed record (where the next one starts) */
  private indexEnd = 0;
  /** Index where the next ack is expected (acks mostly come in append order). */
  private ackHint = 0;

  /** the .ack file, opened append-only on the first ack write */
  readonly ackFile: CachedFile;
  /** Buffered ack entries not yet written to the ack file. */
  ackBuffer: Buffer | null = null;
  ackBufferLength = 0;
  /**
   * The ack file holds its version-2 header (ACK_FILE_HEADER): false until the first ack write of a new
   * segment writes it, true for a segment whose ack file recovery found (or converted) in version 2.
   */
  ackHeaderWritten = false;
  /** In the log's list of segments with buffered acks. */
  ackWritePending = false;
  /** In the log's list of segments whose ack file was written since its last sync. */
  ackSyncPending = false;
  /** Sealed by a roll with data not yet synced: the log's next round syncs it. */
  dataSyncPending = false;

  constructor(number: number, path: string, ackPath: string, indexCapacity: number = INITIAL_INDEX_CAPACITY) {
    this.number = number;
    this.path = path;
    this.ackPath = ackPath;
    this.file = new CachedFile(path, 'r+');
    this.ackFile = new CachedFile(ackPath, 'a');
    const capacity = Math.max(MIN_INDEX_CAPACITY, Math.ceil(indexCapacity / 8) * 8);
    this.offsets = new Uint32Array(capacity);
    this.acked = new Uint8Array(capacity >>> 3);
  }

  get liveRecords(): number {
    return this.recordCount - this.ackedCount;
  }

  get fullyAcked(): boolean {
    return this.ackedCount === this.recordCount;
  }

  /** Adds a record to the index. Records arrive in increasing offset order. */
  addRecord(offset: number, payloadLength: number): void {
    const index = this.recordCount;
    if (index === this.offsets.length) this.grow();
    this.offsets[index] = offset;
    this.indexEnd = offset + RECORD_HEADER_BYTES + payloadLength;
    this.recordCount = index + 1;
    this.liveBytes += payloadLength;
  }

  /**
   * Indexes `byteCount` bytes at `offset` that recovery skipped as damaged (damage.ts): an entry that
   * is acked from the start and holds no live payload, so the record before it keeps its length, acks
   * naming the damaged offset are ignored, and the segment is still deleted once the rest is acked.
   */
  addSkipped(offset: number, byteCount: number): void {
    const index = this.recordCount;
    if (index === this.offsets.length) this.grow();
    this.offsets[index] = offset;
    this.indexEnd = offset + byteCount;
    this.recordCount = index + 1;
    this.acked[index >>> 3] = this.acked[index >>> 3]! | (1 << (index & 7));
    this.ackedCount++;
  }

  /** Index of the record starting at `offset`, or -1. */
  findRecord(offset: number): number {
    const hint = this.ackHint;
    if (hint < this.recordCount && this.offsets[hint] === offset) return hint;
    let low = 0;
    let high = this.recordCount - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const value = this.offsets[middle]!;
      if (value === offset) return middle;
      if (value < offset) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  isAcked(index: number): boolean {
    return (this.acked[index >>> 3]! & (1 << (index & 7))) !== 0;
  }

  recordOffset(index: number): number {
    return this.offsets[index]!;
  }

  recordLength(index: number): number {
    const end = index + 1 < this.recordCount ? this.offsets[index + 1]! : this.indexEnd;
    return end - this.offsets[index]! - RECORD_HEADER_BYTES;
  }

  /** Marks record `index` acked; returns its payload length, or -1 if it was already acked. */
  markAcked(index: number): number {
    const bit = 1 << (index & 7);
    const byte = index >>> 3;
    if ((this.acked[byte]! & bit) !== 0) return -1;
    this.acked[byte] = this.acked[byte]! | bit;
    this.ackedCount++;
    this.ackHint = index + 1;
    const length = this.recordLength(index);
    this.liveBytes -= length;
    return length;
  }

  /**
   * Appends one ack entry (the u32 and its checksum) to the buffer; returns true when it holds
   * ACK_BUFFER_BYTES or more (time to write it). A buffer that could not be written (its ack file cannot
   * be opened: a storage failure) grows instead of dropping entries: at most one entry per ack and
   * delivery of this segment's records while storage is failed.
   */
  bufferAck(entry: number): boolean {
    let buffer = this.ackBuffer;
    if (buffer === null) {
      buffer = Buffer.allocUnsafe(ACK_BUFFER_BYTES);
      this.ackBuffer = buffer;
    } else if (this.ackBufferLength === buffer.length) {
      const grown = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(grown, 0, 0, this.ackBufferLength);
      this.ackBuffer = buffer = grown;
    }
    writeAckEntry(buffer, this.ackBufferLength, entry);
    this.ackBufferLength += ACK_ENTRY_BYTES;
    return this.ackBufferLength >= ACK_BUFFER_BYTES;
  }

  /**
   * Forgets every record at or past `offset` (a rollback after a failed write): the index ends before them
   * and their acked bits are cleared. Records nobody waited for may have been delivered already (queue.ts):
   * their acks and delivered markers, before or after this, name offsets no record holds any more, and are
   * ignored (ack() returns false; recovery drops such entries from the ack file).
   */
  dropRecordsFrom(offset: number): void {
    let count = this.recordCount;
    while (count > 0 && this.offsets[count - 1]! >= offset) {
      const index = count - 1;
      const length = this.recordLength(index);
      const bit = 1 << (index & 7);
      if ((this.acked[index >>> 3]! & bit) !== 0) {
        this.acked[index >>> 3] = this.acked[index >>> 3]! & ~bit;
        this.ackedCount--;
      } else {
        this.liveBytes -= length;
      }
      this.recordCount = count = index;
      this.indexEnd = this.offsets[index]!;
    }
    if (this.ackHint > count) this.ackHint = count;
  }

  private grow(): void {
    const capacity = Math.max(MIN_INDEX_CAPACITY, this.offsets.length * 2);
    const offsets = new Uint32Array(capacity);
    offsets.set(this.offsets);
    const acked = new Uint8Array(capacity >>> 3);
    acked.set(this.acked);
    this.offsets = offsets;
    this.acked = acked;
  }
}
