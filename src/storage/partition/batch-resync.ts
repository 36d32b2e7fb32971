/**
 * Damage in the middle of a partition segment (what damage means: ../damage.ts).
 *
 * When the scan at open meets a batch that does not check out, it looks for the next batch whose header
 * is sound, whose length fits the file, whose baseOffset is not below the offsets already recovered and
 * whose CRC-32C matches. If there is one, the segment is split there rather than patched:
 *
 *   0000…0100.log  [hdr][b100][b105][damaged bytes][b120][b131]…        before
 *
 *   0000…0100.log  [hdr][b100][b105]                                     truncated at the damage
 *   0000…0100.log.damaged-<position>  [damaged bytes]                    the skipped bytes, kept
 *   0000…0120.log  [hdr][b120][b131]…                                    a new segment, named by the
 *                                                                        baseOffset of the batch found
 *
 * Batches carry their own offsets, so every batch after the damage keeps its offset; the damaged batch's
 * offsets become a gap, which readers already handle (compaction leaves gaps too: a fetch there answers
 * with the next batch). Splitting keeps every segment a plain run of sound batches, so nothing that walks
 * a segment batch by batch (fetch, compaction, producer state) ever meets the damaged bytes.
 *
 * Crash safety: the side file and the new segment are written (and fsynced) before the truncation. A
 * crash in between leaves the old segment whole and the new one complete; the next open finds the same
 * damage, rewrites the same new segment and truncates.
 */

import fs from 'node:fs';
import path from 'node:path';
import { closeQuietly, readFully, syncDirectory, writeFully } from '../files.js';
import { findNextValid, saveDamagedBytes } from '../damage.js';
import { LOG_FILE_SUFFIX, PARTITION_SEGMENT_HEADER_BYTES, encodeSegmentHeader, segmentBaseName } from './format.js';
import { BASE_OFFSET_AT, BATCH_HEADER_BYTES, batchCrcMatches, batchSizeAt, checkBatchHeader, lastOffsetDeltaAt } from '../../format/kafka/record-batch.js';

/** Bytes read per step while looking for the next sound batch, and per step while copying a split tail: 1 MiB. */
const RESYNC_WINDOW_BYTES = 1024 * 1024;
/** Suffix of a split segment while it is being written; renamed into place once whole and synced. */
const SPLIT_TEMP_SUFFIX = '.split.tmp';

/** A sound batch found after damage: its file position and baseOffset. */
export interface ResyncPoint {
  readonly position: number;
  readonly baseOffset: bigint;
}

/**
 * The first position in [from, size) of `fd` where a sound batch starts whose offsets lie in
 * [minimumOffset, maximumOffset], or null. `hint` (or -1) is tried first.
 */
export function findNextBatch(fd: number, from: number, size: number, hint: number, minimumOffset: bigint, maximumOffset: bigint): ResyncPoint | null {
  let window = Buffer.allocUnsafe(0);
  let windowStart = 0;
  let windowEnd = 0;
  const load = (at: number): void => {
    if (window.length === 0) window = Buffer.allocUnsafe(Math.min(RESYNC_WINDOW_BYTES, size));
    const length = Math.min(window.length, size - at);
    readFully(fd, window, length, at);
    windowStart = at;
    windowEnd = at + length;
  };
  const isBatchAt = (at: number): boolean => {
    if (size - at < BATCH_HEADER_BYTES) return false;
    if (at < windowStart || at + BATCH_HEADER_BYTES > windowEnd) load(at);
    const local = at - windowStart;
    if (checkBatchHeader(window, local, windowEnd - at, true) !== null) return false;
    const batchSize = batchSizeAt(window, local);
    if (at + batchSize > size) return false;
    const baseOffset = window.readBigInt64BE(local + BASE_OFFSET_AT);
    const lastOffset = baseOffset + BigInt(lastOffsetDeltaAt(window, local));
    if (baseOffset < minimumOffset || lastOffset > maximumOffset) return false;
    if (at + batchSize <= windowEnd) {
      if (!batchCrcMatches(window, local, batchSize)) return false;
    } else {
      const whole = Buffer.allocUnsafe(batchSize);
      readFully(fd, whole, batchSize, at);
      if (!batchCrcMatches(whole, 0, batchSize)) return false;
    }
    // the CRC does not cover baseOffset: one that the next batch's offset contradicts is damaged too
    return !nextBatchFallsInside(fd, window, windowStart, windowEnd, at + batchSize, size, minimumOffset, lastOffset);
  };
  const found = findNextValid(from, size - BATCH_HEADER_BYTES + 1, hint, isBatchAt);
  if (found < 0) return null;
  if (found < windowStart || found + BATCH_HEADER_BYTES > windowEnd) load(found);
  return { position: found, baseOffset: window.readBigInt64BE(found - windowStart + BASE_OFFSET_AT) };
}

/**
 * Whether the batch header at file position `next` (if there is a sound one) has a baseOffset in
 * [expected, lastOffset]: inside the range the batch before it claims, so that batch's offset (which its
 * CRC does not cover) is the damaged one. Only asked when a batch leaves a gap, which only compaction does.
 */
export function nextBatchFallsInside(
  fd: number,
  block: Buffer,
  blockStart: number,
  blockEnd: number,
  next: number,
  size: number,
  expected: bigint,
  lastOffset: bigint,
): boolean {
  if (size - next < BATCH_HEADER_BYTES) return false;
  let header = block;
  let at = next - blockStart;
  if (next + BATCH_HEADER_BYTES > blockEnd) {
    header = Buffer.allocUnsafe(BATCH_HEADER_BYTES);
    readFully(fd, header, BATCH_HEADER_BYTES, next);
    at = 0;
  }
  if (checkBatchHeader(header, at, BATCH_HEADER_BYTES, true) !== null) return false;
  const nextBase = header.readBigInt64BE(at + BASE_OFFSET_AT);
  return nextBase >= expected && nextBase <= lastOffset;
}

/** Saves bytes [from, to) of the segment `logPath` (open as `fd`) to a side file; returns the side file's name. */
export function saveDamagedRange(fd: number, logPath: string, from: number, to: number, sync: boolean): string {
  const bytes = Buffer.allocUnsafe(to - from);
  readFully(fd, bytes, bytes.length, from);
  return saveDamagedBytes(logPath, from, bytes, sync);
}

/**
 * Writes bytes [position, size) of `fd` as a new segment of base offset `baseOffset` in `dir` (header
 * first), synced when `sync`; returns its path. An existing file of that name (an earlier split the
 * crash interrupted before the truncation) is replaced by the same bytes.
 */
export function writeSplitSegment(fd: number, dir: string, position: number, size: number, baseOffset: bigint, sync: boolean): string {
  const target = path.join(dir, segmentBaseName(baseOffset) + LOG_FILE_SUFFIX);
  const temporary = target + SPLIT_TEMP_SUFFIX;
  const out = fs.openSync(temporary, 'w');
  try {
    writeFully(out, encodeSegmentHeader(baseOffset), PARTITION_SEGMENT_HEADER_BYTES, 0);
    const block = Buffer.allocUnsafe(Math.min(RESYNC_WINDOW_BYTES, size - position));
    let written = PARTITION_SEGMENT_HEADER_BYTES;
    for (let at = position; at < size;) {
      const length = Math.min(block.length, size - at);
      readFully(fd, block, length, at);
      writeFully(out, block, length, written);
      written += length;
      at += length;
    }
    if (sync) fs.fsyncSync(out);
  } finally {
    closeQuietly(out);
  }
  fs.renameSync(temporary, target);
  if (sync) syncDirectory(dir);
  return target;
}

/** Is `name` a split segment left half-written by a crash (removed at open)? */
export function isSplitTemporaryFile(name: string): boolean {
  return name.endsWith(LOG_FILE_SUFFIX + SPLIT_TEMP_SUFFIX);
}
