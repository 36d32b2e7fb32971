/**
 * Recovery of a PartitionLog's segments at open (and after a rollback, which rebuilds the log from its
 * files as an open would). Synchronous: a broker cannot serve a partition before it knows what is in it.
 *
 * A segment whose index files are intact and describe exactly the .log's size (and whose last batch
 * checks out) is trusted without reading its batches. Any other segment (the active one after a crash, a
 * sealed one whose index was never written) is scanned, every batch's CRC checked and its index rebuilt.
 * A bad batch with nothing sound after it in the last segment is a torn tail, truncated; one followed by
 * sound batches is damage: the segment is split around it, the damaged bytes kept in a side file, every
 * later batch keeping its offset (batch-resync.ts). A segment with a damaged header whose first batch
 * checks out gets its header rewritten (the old one kept in a side file); one with nothing recognisable
 * is moved aside as .corrupt. Segments after a damaged one, or overlapping an earlier one, were never
 * reported durable and are removed. A file in a format version this Postbox does not read stops the
 * open (UnsupportedFormatError). Segment state and both ways of learning it: partition-segment.ts.
 *
 * The log then picks its active segment and reports the totals (partition-log.ts recover()).
 */

import fs from 'node:fs';
import path from 'node:path';
import { closeQuietly, readdirIfExists, unlinkIfExists, writeFully } from '../files.js';
import { trySaveDamagedBytes } from '../damage.js';
import { checkFormatVersion } from '../format-error.js';
import { findNextBatch, isSplitTemporaryFile } from './batch-resync.js';
import {
  CORRUPT_SEGMENT_SUFFIX,
  LOG_FILE_SUFFIX,
  PARTITION_FORMAT_VERSION,
  PARTITION_SEGMENT_HEADER_BYTES,
  PARTITION_SEGMENT_MAGIC,
  checkSegmentHeader,
  encodeSegmentHeader,
  parseSegmentFile,
  segmentBaseName,
} from './format.js';
import { MAX_BATCH_BYTES } from '../../format/kafka/record-batch.js';
import {
  MAX_RELATIVE_OFFSET,
  PartitionSegment,
  scanSegmentFile,
  trustIndexFiles,
  writeIndexFiles,
  type RecoveryTotals,
  type SegmentScanContext,
} from './partition-segment.js';

/** Largest segment size, 1 GiB: with MAX_BATCH_BYTES every file position fits a u32 index entry. */
export const MAX_PARTITION_SEGMENT_BYTES = 1024 * 1024 * 1024;

export interface PartitionRecoveryContext extends SegmentScanContext {
  /** scan and CRC-check every segment, even those with intact index files */
  readonly verifyAllOnOpen: boolean;
}

export interface RecoveredSegments {
  /** ascending by base offset */
  readonly segments: PartitionSegment[];
  /** bytes of their files */
  readonly totalBytes: number;
  /** the offset the next batch gets: past the last segment, and past any segment lost or left empty */
  readonly resumeAt: bigint;
  readonly totals: RecoveryTotals;
}

/** Finds, checks and repairs the segments of the partition in `context.dir` (none when it does not exist). */
export function recoverSegments(context: PartitionRecoveryContext): RecoveredSegments {
  const segments: PartitionSegment[] = [];
  let totalBytes = 0;
  const logBases: bigint[] = [];
  const indexBases = new Set<bigint>();
  for (const name of readdirIfExists(context.dir)) {
    if (isSplitTemporaryFile(name)) unlinkIfExists(path.join(context.dir, name)); // a split cut short: the damaged segment is whole
    const parsed = parseSegmentFile(name);
    if (parsed === null) continue;
    if (parsed.suffix === LOG_FILE_SUFFIX) logBases.push(parsed.baseOffset);
    else indexBases.add(parsed.baseOffset);
  }
  logBases.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const base of logBases) indexBases.delete(base);
  for (const base of indexBases) removeSegmentFiles(new PartitionSegment(context.dir, base)); // orphans

  const totals: RecoveryTotals = {
    trusted: 0,
    scanned: 0,
    scannedBytes: 0,
    droppedBytes: 0,
    removed: 0,
    corrupt: 0,
    damaged: 0,
    damagedBytes: 0,
    lostBase: -1n,
    emptyBase: -1n,
  };
  const recoveryBlock = { buffer: Buffer.allocUnsafe(0) };
  let damaged = false;
  for (let i = 0; i < logBases.length; i++) {
    const base = logBases[i]!;
    const segment = new PartitionSegment(context.dir, base);
    const previous = segments.length > 0 ? segments[segments.length - 1]! : null;
    if (damaged || (previous !== null && base < previous.nextOffset)) {
      // nothing after a torn segment was reported durable; an overlapping segment cannot be trusted
      context.logger(
        `partition ${context.dir}: ${segmentBaseName(base)}${LOG_FILE_SUFFIX}: removed (` +
          (damaged ? 'follows a damaged segment' : `overlaps offsets up to ${previous!.nextOffset}`) +
          ')',
      );
      removeSegmentFiles(segment); // their offsets were never reported durable: they are reused
      totals.removed++;
      damaged = true;
      continue;
    }
    const isLast = i === logBases.length - 1;
    const tailMayBeTorn = (): boolean => isLast || holdsLastData(context.dir, logBases, i);
    if (!recoverSegment(context, segment, isLast, totals, recoveryBlock, tailMayBeTorn)) continue;
    if (segment.splitBase >= 0n && logBases[i + 1] !== segment.splitBase) logBases.splice(i + 1, 0, segment.splitBase);
    segments.push(segment);
    totalBytes += segment.size;
    if (segment.truncated) damaged = true;
  }
  const last = segments.length > 0 ? segments[segments.length - 1]! : null;
  let resumeAt = last !== null ? last.nextOffset : 0n;
  if (totals.lostBase >= resumeAt) resumeAt = totals.lostBase + 1n;
  if (totals.emptyBase > resumeAt) resumeAt = totals.emptyBase;
  return { segments, totalBytes, resumeAt, totals };
}

/** Recovers one segment into `segment`; false when its files were removed or moved aside. */
function recoverSegment(
  context: PartitionRecoveryContext,
  segment: PartitionSegment,
  isLast: boolean,
  totals: RecoveryTotals,
  recoveryBlock: { buffer: Buffer },
  tailMayBeTorn: () => boolean,
): boolean {
  const name = path.basename(segment.logPath);
  const fd = fs.openSync(segment.logPath, 'r+');
  try {
    const stat = fs.fstatSync(fd);
    const size = stat.size;
    segment.lastAppendTime = stat.mtimeMs;
    if (size === 0) {
      context.logger(`partition ${context.dir}: ${name} is empty (a crash during a roll), removed`);
      if (segment.baseOffset > totals.emptyBase) totals.emptyBase = segment.baseOffset;
      removeSegmentFiles(segment);
      return false;
    }
    const header = Buffer.alloc(PARTITION_SEGMENT_HEADER_BYTES);
    const headerLength = fs.readSync(fd, header, 0, PARTITION_SEGMENT_HEADER_BYTES, 0);
    checkFormatVersion(segment.logPath, header, headerLength, PARTITION_SEGMENT_MAGIC, PARTITION_FORMAT_VERSION);
    const problem = checkSegmentHeader(header, headerLength, segment.baseOffset);
    const sizeFits = size <= MAX_PARTITION_SEGMENT_BYTES + MAX_BATCH_BYTES;
    const headerOnly = problem !== null && sizeFits && size > PARTITION_SEGMENT_HEADER_BYTES && firstBatchSound(fd, size, segment.baseOffset);
    if (headerOnly) repairHeader(context, segment, fd, header.subarray(0, headerLength), problem, totals);
    else if (problem !== null || !sizeFits) {
      fs.renameSync(segment.logPath, segment.logPath + CORRUPT_SEGMENT_SUFFIX);
      unlinkIfExists(segment.indexPath);
      unlinkIfExists(segment.timeIndexPath);
      context.errorLogger(`partition ${context.dir}: ${name}: ${problem ?? `${size} bytes`}; moved aside to ${name}${CORRUPT_SEGMENT_SUFFIX}`);
      totals.corrupt++;
      if (segment.baseOffset > totals.lostBase) totals.lostBase = segment.baseOffset;
      return false;
    }
    if (!headerOnly && !context.verifyAllOnOpen && trustIndexFiles(segment, fd, size, isLast)) {
      totals.trusted++;
      return true;
    }
    // the index files (if any) describe other bytes: never let them outlive this scan
    unlinkIfExists(segment.indexPath);
    unlinkIfExists(segment.timeIndexPath);
    scanSegmentFile(segment, fd, size, context, totals, recoveryBlock, tailMayBeTorn());
    if (!isLast || segment.splitBase >= 0n) writeIndexFiles(segment, false);
    return true;
  } finally {
    closeQuietly(fd); // the active segment is reopened by recover()
  }
}

/** The batches of `segment` check out but its header does not: keeps the old header in a side file and writes it afresh. */
function repairHeader(context: PartitionRecoveryContext, segment: PartitionSegment, fd: number, header: Buffer, problem: string, totals: RecoveryTotals): void {
  const sideFile = trySaveDamagedBytes(segment.logPath, 0, header, context.syncEnabled);
  writeFully(fd, encodeSegmentHeader(segment.baseOffset), PARTITION_SEGMENT_HEADER_BYTES, 0);
  if (context.syncEnabled) fs.fdatasyncSync(fd);
  totals.damaged++;
  totals.damagedBytes += header.length;
  context.errorLogger(
    `partition ${context.dir}: ${path.basename(segment.logPath)} has a DAMAGED header (${problem}) but its batches check out: ` +
      `header rewritten, the old one kept in ${sideFile}`,
  );
}

/** Whether a sound batch of this segment's offsets starts right after the header (the header alone is damaged). */
function firstBatchSound(fd: number, size: number, baseOffset: bigint): boolean {
  const maximum = baseOffset + MAX_RELATIVE_OFFSET;
  return findNextBatch(fd, size, size, PARTITION_SEGMENT_HEADER_BYTES, baseOffset, maximum)?.position === PARTITION_SEGMENT_HEADER_BYTES;
}

/**
 * Whether segment `i` of `logBases` is the last one holding batches: no later .log has more than a
 * header (a crash during a roll leaves an empty or header-only one). Only there can a bad tail be torn.
 */
function holdsLastData(dir: string, logBases: readonly bigint[], i: number): boolean {
  for (let later = i + 1; later < logBases.length; later++) {
    try {
      if (fs.statSync(path.join(dir, segmentBaseName(logBases[later]!) + LOG_FILE_SUFFIX)).size > PARTITION_SEGMENT_HEADER_BYTES) return false;
    } catch {
      // gone: holds nothing
    }
  }
  return true;
}

export function removeSegmentFiles(segment: PartitionSegment): void {
  unlinkIfExists(segment.logPath);
  unlinkIfExists(segment.indexPath);
  unlinkIfExists(segment.timeIndexPath);
}
