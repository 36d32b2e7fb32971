/**
 * The registry error (src/errors/errors.ts) for a failure a stream operation throws: the core's own
 * BrokerErrors, the record-batch format's errors (format/kafka/errors.ts) and the log store's
 * OffsetOutOfRangeError (storage/log-store.ts), so an adapter maps every failure through the registry
 * without knowing the storage engine's error classes.
 */
import { BrokerError, Errors, type ErrorDef } from '../../errors/errors.js';
import { BatchTooLargeError, CorruptBatchError, UnsupportedCompressionError } from '../../format/kafka/errors.js';
import { OffsetOutOfRangeError } from '../../storage/stores.js';

/** The registry error `err` stands for, or null for anything else (a bug: the adapter's server error). */
export function streamErrorDef(err: unknown): ErrorDef | null {
  if (err instanceof BrokerError) return err.def;
  // UnsupportedCompressionError is a CorruptBatchError: it is asked first
  if (err instanceof UnsupportedCompressionError) return Errors.UNSUPPORTED_COMPRESSION;
  if (err instanceof BatchTooLargeError) return Errors.MESSAGE_TOO_LARGE;
  if (err instanceof CorruptBatchError) return Errors.CORRUPT_RECORD;
  if (err instanceof OffsetOutOfRangeError) return Errors.OFFSET_OUT_OF_RANGE;
  return null;
}
