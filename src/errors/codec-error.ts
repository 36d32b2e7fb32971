/**
 * The one error the wire codecs (AMQP methods, field tables, properties) throw when the bytes they are given
 * cannot be decoded. Field tables are part of Postbox's neutral property format, so this lives below core.
 *
 * `replyCode` is the AMQP 0-9-1 reply code the connection should close with:
 *   - 502 SYNTAX_ERROR    a field is truncated, runs past its frame, or has an unknown type tag
 *   - 540 NOT_IMPLEMENTED the class id or method id is not one this broker knows
 *
 * Decoders never throw anything else for bad input, so a caller can catch this one class, close the
 * connection with `replyCode`, and treat any other exception as a bug.
 */
export class AmqpCodecError extends Error {
  readonly replyCode: number;

  constructor(replyCode: number, message: string) {
    super(message);
    this.name = 'AmqpCodecError';
    this.replyCode = replyCode;
  }
}

/** AMQP reply code for malformed field data (spec constant SYNTAX-ERROR). */
export const CODEC_SYNTAX_ERROR = 502;
/** AMQP reply code for an unknown class or method (spec constant NOT-IMPLEMENTED). */
export const CODEC_NOT_IMPLEMENTED = 540;

/** A 502 SYNTAX_ERROR naming the thing that could not be read. */
export function syntaxError(message: string): AmqpCodecError {
  return new AmqpCodecError(CODEC_SYNTAX_ERROR, message);
}
