/**
 * The record walk of a queue segment at recovery (layout: format.ts; what damage means: damage.ts).
 *
 * Walks the records of a whole segment image, indexing each good one in `segment`. At a record that
 * does not check out it looks for the next good record: when there is one, the bytes in between are
 * damage — indexed as a skipped range (Segment.addSkipped: acked, never delivered) and returned so the
 * log can save them and report them — and the walk goes on there; when there is none, the rest of the
 * file is a torn tail and the walk ends (the log truncates it, as it always did). Record offsets never
 * move, so ack files and delivered markers keep naming the same records.
 */

import { crc32c } from '@node-rs/crc32';
import { findNextValid } from './damage.js';
import { MAX_RECORD_PAYLOAD_BYTES, MIN_RECORD_PAYLOAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, readRecordCrc, readRecordLength } from './format.js';
import type { Segment } from './segment.js';

/** Bytes recovery skipped: [offset, offset + bytes) of the segment, and why the first record there failed. */
export interface SkippedRange {
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

export interface SegmentScanResult {
  /** end of the last good record: the file is truncated here when it is shorter than the file */
  readonly validEnd: number;
  /** why the bytes from validEnd on are a torn tail ('' when the walk reached the end of the file) */
  readonly tornReason: string;
  /** damaged ranges skipped, in file order (records after each were kept) */
  readonly skipped: readonly SkippedRange[];
  /** good records indexed */
  readonly records: number;
}

/** Why no good record starts at `at` of `bytes` (the first `size` bytes are the file), or null when one does. */
export function recordProblemAt(bytes: Buffer, at: number, size: number): string | null {
  if (at + RECORD_HEADER_BYTES > size) return 'incomplete record header';
  const length = readRecordLength(bytes, at);
  if (length < MIN_RECORD_PAYLOAD_BYTES || length > MAX_RECORD_PAYLOAD_BYTES) return `invalid record length ${length}`;
  const payloadStart = at + RECORD_HEADER_BYTES;
  if (payloadStart + length > size) return `record length ${length} runs past end of file`;
  if (crc32c(bytes.subarray(payloadStart, payloadStart + length)) !== readRecordCrc(bytes, at)) return 'CRC mismatch';
  return null;
}

/** Walks the records of the segment image `bytes` (file size `size`, header already checked) into `segment`. */
export function scanSegmentRecords(bytes: Buffer, size: number, segment: Segment): SegmentScanResult {
  const skipped: SkippedRange[] = [];
  const isRecordAt = (at: number): boolean => recordProblemAt(bytes, at, size) === null;
  let records = 0;
  let at = SEGMENT_HEADER_BYTES;
  while (at < size) {
    const problem = recordProblemAt(bytes, at, size);
    if (problem === null) {
      const length = readRecordLength(bytes, at);
      segment.addRecord(at, length);
      records++;
      at += RECORD_HEADER_BYTES + length;
      continue;
    }
    // where the record's own length says the next one starts, when that length is plausible
    let hint = -1;
    if (at + RECORD_HEADER_BYTES <= size) {
      const length = readRecordLength(bytes, at);
      if (length >= MIN_RECORD_PAYLOAD_BYTES && length <= MAX_RECORD_PAYLOAD_BYTES) hint = at + RECORD_HEADER_BYTES + length;
    }
    const next = findNextValid(at + 1, size - RECORD_HEADER_BYTES - MIN_RECORD_PAYLOAD_BYTES + 1, hint, isRecordAt);
    if (next < 0) return { validEnd: at, tornReason: problem, skipped, records };
    skipped.push({ offset: at, bytes: next - at, reason: problem });
    segment.addSkipped(at, next - at);
    at = next;
  }
  return { validEnd: at, tornReason: '', skipped, records };
}
