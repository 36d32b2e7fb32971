/**
 * The error registry: every failure the broker reports is one of these definitions, so the same failure
 * maps the same way on every protocol. AMQP scope follows the spec: soft errors (4xx, 311-313) close the
 * channel, hard errors (3xx connection-forced, 5xx) close the connection.
 */
export interface ErrorDef {
  /** stable identifier, used in logs and the HTTP API */
  readonly code: string;
  /** AMQP 0-9-1 reply code */
  readonly amqp: number;
  /** HTTP status for the management API */
  readonly http: number;
  /** Kafka error code (later protocols map through this) */
  readonly kafka: number;
  readonly retriable: boolean;
}

function def(code: string, amqp: number, http: number, kafka: number, retriable = false): ErrorDef {
  return Object.freeze({ code, amqp, http, kafka, retriable });
}

export const Errors = Object.freeze({
  CONTENT_TOO_LARGE: def('CONTENT_TOO_LARGE', 311, 413, 10),
  NO_ROUTE: def('NO_ROUTE', 312, 404, 3),
  NO_CONSUMERS: def('NO_CONSUMERS', 313, 404, -1),
  CONNECTION_FORCED: def('CONNECTION_FORCED', 320, 503, -1, true),
  INVALID_PATH: def('INVALID_PATH', 402, 400, -1),
  ACCESS_REFUSED: def('ACCESS_REFUSED', 403, 403, 29),
  NOT_FOUND: def('NOT_FOUND', 404, 404, 3),
  RESOURCE_LOCKED: def('RESOURCE_LOCKED', 405, 409, -1, true),
  PRECONDITION_FAILED: def('PRECONDITION_FAILED', 406, 400, 87),
  FRAME_ERROR: def('FRAME_ERROR', 501, 400, 2),
  SYNTAX_ERROR: def('SYNTAX_ERROR', 502, 400, 2),
  COMMAND_INVALID: def('COMMAND_INVALID', 503, 400, 42),
  CHANNEL_ERROR: def('CHANNEL_ERROR', 504, 400, -1),
  UNEXPECTED_FRAME: def('UNEXPECTED_FRAME', 505, 400, -1),
  RESOURCE_ERROR: def('RESOURCE_ERROR', 506, 503, -1, true),
  NOT_ALLOWED: def('NOT_ALLOWED', 530, 403, 29),
  NOT_IMPLEMENTED: def('NOT_IMPLEMENTED', 540, 501, 35),
  INTERNAL_ERROR: def('INTERNAL_ERROR', 541, 500, -1),
  // streams (Kafka model); AMQP never raises these, so their AMQP code is the nearest soft error
  UNKNOWN_TOPIC: def('UNKNOWN_TOPIC', 404, 404, 3, true),
  TOPIC_EXISTS: def('TOPIC_EXISTS', 406, 409, 36),
  INVALID_TOPIC: def('INVALID_TOPIC', 406, 400, 17),
  INVALID_PARTITIONS: def('INVALID_PARTITIONS', 406, 400, 37),
  INVALID_CONFIG: def('INVALID_CONFIG', 406, 400, 40),
  /** a broker limit (topics, partitions) refuses the request for good: Kafka's POLICY_VIOLATION, as a create-topic policy answers */
  POLICY_VIOLATION: def('POLICY_VIOLATION', 406, 400, 44),
  /** a per-request limit refuses part of a request; a later request may do it (Kafka's controller mutation quota, KIP-599) */
  THROTTLING_QUOTA_EXCEEDED: def('THROTTLING_QUOTA_EXCEEDED', 406, 429, 89, true),
  /** a record batch larger than the topic's max.message.bytes */
  MESSAGE_TOO_LARGE: def('MESSAGE_TOO_LARGE', 406, 413, 10),
  /** a record the topic cannot take (a keyless record on a compacted topic) */
  INVALID_RECORD: def('INVALID_RECORD', 406, 400, 87),
  /** a record batch that fails its checks (CRC, sizes, record count): Kafka's CORRUPT_MESSAGE */
  CORRUPT_RECORD: def('CORRUPT_RECORD', 406, 400, 2),
  /** a record format this broker does not store (Kafka's message formats v0/v1) */
  UNSUPPORTED_RECORD_FORMAT: def('UNSUPPORTED_RECORD_FORMAT', 406, 400, 43),
  /** a compression codec this broker (or this Node) cannot decode, or the sender's protocol version may not use */
  UNSUPPORTED_COMPRESSION: def('UNSUPPORTED_COMPRESSION', 406, 400, 76),
  /** an idempotent producer's epoch is older than the partition's current one */
  PRODUCER_FENCED: def('PRODUCER_FENCED', 406, 409, 47),
  /** an idempotent producer's sequence number is not the next one */
  OUT_OF_ORDER_SEQUENCE: def('OUT_OF_ORDER_SEQUENCE', 406, 409, 45),
  /** a read from an offset outside a partition's log (before its start or past its end) */
  OFFSET_OUT_OF_RANGE: def('OFFSET_OUT_OF_RANGE', 406, 416, 1),
  /** a write or fsync failed: nothing more is acknowledged */
  KAFKA_STORAGE_ERROR: def('KAFKA_STORAGE_ERROR', 541, 503, 56, true),
  /** a consumer group still has members (deleting it, resetting its offsets) */
  NON_EMPTY_GROUP: def('NON_EMPTY_GROUP', 405, 409, 68),
});

/** Thrown by the core; protocol adapters translate it with its definition. */
export class BrokerError extends Error {
  readonly def: ErrorDef;
  constructor(errorDef: ErrorDef, message: string) {
    super(message);
    this.def = errorDef;
    this.name = 'BrokerError';
  }
}

export function brokerError(errorDef: ErrorDef, message: string): BrokerError {
  return new BrokerError(errorDef, message);
}
