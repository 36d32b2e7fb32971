/**
 * Typed failures of a partition log beyond the batch format's own (../../format/kafka/errors.ts).
 * `code` names the failure the way the protocol adapters' error tables do (Kafka: OFFSET_OUT_OF_RANGE = 1).
 */

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
