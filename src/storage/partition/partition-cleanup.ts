/**
 * Log cleanup of a PartitionLog (Kafka's cleanup.policy): retention deletes whole segments by age and
 * size (delete), and compaction rewrites sealed segments keeping the latest record of every key
 * (compact). The log calls these with itself as the CleanupHost: the few operations on its segments they
 * need, nothing else of its state.
 *
 * Retention deletes the active segment too once all of it is past retentionMs (rolled first, as Kafka
 * does). Compaction (semantics, tombstone age and crash safety: compaction.ts) never changes an offset, so
 * a compacted log has gaps: between batches of a segment and between segments. A read at an offset in a
 * gap returns the next batch that exists (its baseOffset is then greater than the offset asked for),
 * exactly as Kafka answers a fetch there (partition-log.ts read()).
 */

import fs from 'node:fs';
import { closeQuietly } from '../files.js';
import {
  KeyOffsetMap,
  cleanSegmentFileSteps,
  discardCleanedSegment,
  emptyCompactionResult,
  storedBatches,
  swapInCleanedSegment,
  type CompactionOptions,
  type CompactionResult,
} from './compaction.js';
import { PARTITION_SEGMENT_HEADER_BYTES } from './format.js';
import { PartitionSegment } from './partition-segment.js';

/** Bytes a compaction step reads (building the key map or cleaning a segment) before it lets others run: 8 MiB by default. */
const COMPACTION_STEP_BYTES = 8 * 1024 * 1024;

/** What retention and compaction need of the PartitionLog they clean. */
export interface CleanupHost {
  readonly dir: string;
  /** neither closed nor destroyed */
  readonly isOpen: boolean;
  notOpenError(): Error;
  /** ascending by base offset; the last one is the active segment (read anew after every step) */
  readonly segments: readonly PartitionSegment[];
  /** bytes of all segment files */
  totalBytes: number;
  readonly indexIntervalBytes: number;
  readonly syncEnabled: boolean;
  flush(): void;
  /** seals the active segment and starts the next one */
  roll(): void;
  /** every byte of the active segment is written and synced */
  activeDurable(): boolean;
  /** deletes the segment at `index` of `segments` with its files */
  deleteSegmentAt(index: number): void;
  /** the segment is deleted or replaced: its fds closed, no cached position in it kept */
  forgetSegment(segment: PartitionSegment): void;
  /** puts the cleaned `replacement` at `index` of `segments` */
  replaceSegment(index: number, replacement: PartitionSegment): void;
  /** the sealed segment's .log still awaits its fsync, or its index files are not written yet */
  awaitingIndexFiles(segment: PartitionSegment): boolean;
  writeIndexFiles(segment: PartitionSegment): void;
  /** the directory's descriptor for fsyncs between renames; -1 with policy 'never' */
  directoryFd(): number;
}

export interface RetentionLimits {
  readonly retentionMs: number | null;
  readonly retentionBytes: number | null;
}

/**
 * Deletes segments, oldest first: those whose newest batch is older than retentionMs, then sealed ones
 * beyond retentionBytes (while the segments left still hold at least retentionBytes). When every batch
 * of the active segment is older than retentionMs too, it is rolled and deleted as Kafka does, so a
 * quiet topic does not keep expired records; only once all of it is durable (else the next pass does it).
 * Returns the number deleted; logStartOffset moves to the first segment left (the end, if none is left).
 */
export function applyRetention(log: CleanupHost, limits: RetentionLimits, now: number): number {
  if (!log.isOpen) throw log.notOpenError();
  let deleted = 0;
  const retentionMs = limits.retentionMs;
  if (retentionMs !== null) {
    for (;;) {
      const oldest = log.segments[0]!;
      const newest = oldest.maxTimestamp >= 0 ? oldest.maxTimestamp : oldest.lastAppendTime;
      if (now - newest <= retentionMs) break;
      if (log.segments.length === 1) {
        if (oldest.lastBatchPosition === 0 || !log.activeDurable()) break;
        log.roll();
      }
      log.deleteSegmentAt(0);
      deleted++;
    }
  }
  const retentionBytes = limits.retentionBytes;
  if (retentionBytes !== null) {
    while (log.segments.length > 1 && log.totalBytes - log.segments[0]!.size >= retentionBytes) {
      log.deleteSegmentAt(0);
      deleted++;
    }
  }
  return deleted;
}

/**
 * Compaction (semantics, tombstone age and crash safety: compaction.ts) in steps, so the caller can let
 * other work run between them: each step reads about `options.stepBytes` (default 8 MiB) and ends at a
 * segment's end at the latest. The key map is built from every segment as it was when the first step ran,
 * then the sealed segments whose .log is durable and indexed are cleaned oldest first, stopping at the
 * first that is not yet; a cleaned segment is swapped in within the step that finishes it. Offsets never
 * change. Between steps the log may take appends (their keys are not in the map: their older records are
 * kept, which is safe), roll, or lose segments to retention (skipped); once the log is closed or destroyed
 * the next step ends the pass, and return() ends it at once (closing its files, removing any unfinished
 * .cleaned file). Should a file operation fail midway, the step throws and the files stay
 * recoverable: reopen the log.
 */
export function* compactionPass(log: CleanupHost, now: number, options: CompactionOptions): Generator<void, CompactionResult, void> {
  if (!log.isOpen) throw log.notOpenError();
  const deleteRetentionMs = options.deleteRetentionMs;
  if (!(deleteRetentionMs >= 0)) throw new RangeError(`deleteRetentionMs ${deleteRetentionMs} must be >= 0`);
  const stepBytes = options.stepBytes ?? COMPACTION_STEP_BYTES;
  const result = emptyCompactionResult(log.totalBytes);
  log.flush(); // the key map reads the active segment's batches from its file
  const keys = new KeyOffsetMap();
  const reads = log.segments.map((segment) => ({ segment, end: segment.flushedSize }));
  const sealed = log.segments.slice(0, -1);
  for (const { segment, end } of reads) {
    if (segment.deleted || !segment.created) continue;
    // an fd of its own: the log's cached read fds may be closed or reused between steps
    const fd = fs.openSync(segment.logPath, 'r');
    try {
      const walk = storedBatches(fd, PARTITION_SEGMENT_HEADER_BYTES, end);
      let stepStart = PARTITION_SEGMENT_HEADER_BYTES;
      for (let next = walk.next(); next.done !== true; next = walk.next()) {
        keys.addBatch(next.value);
        if (walk.position - stepStart >= stepBytes) {
          stepStart = walk.position;
          yield;
          if (!log.isOpen) return result;
        }
      }
    } finally {
      closeQuietly(fd);
    }
    yield;
    if (!log.isOpen) return result;
  }
  for (const segment of sealed) {
    if (segment.deleted) continue; // deleted by retention since the pass began (forgetSegment marks every removal)
    // awaiting its fsync (fd still open) or its index files: it and every later segment wait for the next pass
    if (log.awaitingIndexFiles(segment)) break;
    result.segmentsExamined++;
    const newest = segment.maxTimestamp >= 0 ? segment.maxTimestamp : segment.lastAppendTime;
    const cleaning = cleanSegmentFileSteps(
      {
        logPath: segment.logPath,
        baseOffset: segment.baseOffset,
        size: segment.size,
        keys,
        removeTombstones: now - newest > deleteRetentionMs,
        indexIntervalBytes: log.indexIntervalBytes,
        sync: log.syncEnabled,
      },
      stepBytes,
    );
    let step = cleaning.next();
    try {
      while (step.done !== true) {
        yield;
        if (!log.isOpen) return result;
        if (segment.deleted) break;
        step = cleaning.next();
      }
    } finally {
      // stopped early (the log closed, the segment deleted, or this pass ended by return()): the
      // cleaning removes its unfinished .cleaned file
      if (step.done !== true) cleaning.return(null);
    }
    if (step.done !== true) continue;
    // the step that finished the cleaning ran after the last check: the segment is still in the log
    const cleaned = step.value;
    const i = log.segments.indexOf(segment);
    if (cleaned !== null) {
      result.batchesRemoved += cleaned.batchesRemoved;
      result.recordsRemoved += cleaned.recordsRemoved;
      result.tombstonesRemoved += cleaned.tombstonesRemoved;
      result.batchesKeptOpaque += cleaned.batchesKeptOpaque;
      if (cleaned.lastBatchPosition === 0 && i > 0) {
        // nothing kept: the segment goes (the first one stays, header only, to hold logStartOffset)
        discardCleanedSegment(segment.logPath);
        log.deleteSegmentAt(i);
        result.segmentsRemoved++;
      } else {
        log.forgetSegment(segment); // before the swap: no read may use its fds or positions again
        swapInCleanedSegment(segment.logPath, log.directoryFd());
        const replacement = new PartitionSegment(log.dir, segment.baseOffset);
        replacement.size = replacement.flushedSize = cleaned.size;
        replacement.nextOffset = cleaned.nextOffset;
        replacement.maxTimestamp = cleaned.maxTimestamp;
        replacement.lastAppendTime = segment.lastAppendTime;
        replacement.lastBatchPosition = cleaned.lastBatchPosition;
        replacement.bytesSinceIndexEntry = cleaned.bytesSinceIndexEntry;
        replacement.memoryIndex = cleaned.index;
        log.replaceSegment(i, replacement);
        log.totalBytes += cleaned.size - segment.size;
        log.writeIndexFiles(replacement); // step 5: the cleaned .log is durable already
        result.segmentsRewritten++;
      }
    }
    result.bytesAfter = log.totalBytes;
    yield;
    if (!log.isOpen) return result;
  }
  result.bytesAfter = log.totalBytes;
  return result;
}
