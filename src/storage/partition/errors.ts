/**
 * Typed failures of a partition log. `code` names the failure the way the protocol adapters' error
 * tables do (Kafka: CORRUPT_MESSAGE = 2, OFFSET_OUT_OF_RANGE = 1), so an adapter maps it without
 * parsing messages; storage itself knows nothing about protocols.
 */

/** A produce request's batch is malformed or fails its CRC; nothing of the request was appended. */
export class CorruptBatchError extends Error {
  readonly code: string = 'CORRUPT_MESSAGE';
  constructor(message: string) {
    super(message);
    this.name = 'CorruptBatchError';
  }
}

/**
 * A batch whose records, decompressed, would pass the broker's limit (or that claims more records than fit
 * in it). A CorruptBatchError for every caller that only needs "cannot be read"; the produce path answers
 * it with MESSAGE_TOO_LARGE, as Kafka answers a batch over its size limit (a Java producer then splits it).
 */
export class BatchTooLargeError extends CorruptBatchError {
  constructor(message: string) {
    super(message);
    this.name = 'BatchTooLargeError';
  }
}

/**
 * A batch compressed with a codec this Node cannot decode (zstd before Node 22.15 / 23.8). A CorruptBatchError
 * for callers that only need "cannot be read" (compaction keeps such a batch as it is); the produce path
 * answers it with UNSUPPORTED_COMPRESSION_TYPE, as Kafka answers a codec it does not take.
 */
export class UnsupportedCompressionError extends CorruptBatchError {
  override readonly code: string = 'UNSUPPORTED_COMPRESSION_TYPE';
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedCompressionError';
  }
}

/** A fetch asked for an offset outside [logStartOffset, highWatermark]. */
export class OffsetOutOfRangeError extends Error {
  readonly code = 'OFFSET_OUT_OF_RANGE';
  readonly offset: bigint;
  readonly logStartOffset: bigint;
  readonly highWatermark: bigint;
  constructor(offset: bigint, logStartOffset: bigint, highWatermark: bigint) {
    super(`offset ${offset} outside [${logStartOffset}, ${highWatermark}]`);
    this.name = 'OffsetOutOfRangeError';
    this.offset = offset;
    this.logStartOffset = logStartOffset;
    this.highWatermark = highWatermark;
  }
}
