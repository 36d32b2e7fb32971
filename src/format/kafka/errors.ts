/**
 * Typed failures of reading a Kafka record batch (a batch that is malformed, too large once decompressed,
 * or in a codec this Node cannot decode). `code` names the failure the way the protocol adapters' error
 * tables do (Kafka: CORRUPT_MESSAGE = 2), so an adapter maps it without parsing messages
 * (core/stream/errors.ts); nothing here knows a protocol.
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
