/**
 * The error registry: every failure the broker reports is one of these definitions, so the same failure
 * maps the same way on every protocol. AMQP scope follows the spec: soft errors (4xx, 311-313) close the
 * channel, hard errors (3xx connection-forced, 5xx) close the connection.
 */
/** Only this module can make an ErrorDef (def() below): a value of the type is a registry entry, not a literal. */
declare const registered: unique symbol;

export interface ErrorDef {
  readonly [registered]: true;
  /** stable identifier, used in logs and the HTTP API */
  readonly code: string;
  /** AMQP 0-9-1 reply code */
  readonly amqp: number;
  /** HTTP status for the management API */
  readonly http: number;
  /**
   * Kafka error code, the one a Kafka handler answers this failure with (`Errors.X.kafka`); -1 where Kafka has
   * none (Kafka's own -1 is UNKNOWN_SERVER_ERROR: a Kafka handler does not answer such a failure, it fails
   * the connection as for a bug). Later protocols map through this.
   */
  readonly kafka: number;
  /** a retry may succeed: as Kafka marks the error (RetriableException), or a transient state of the broker */
  readonly retriable: boolean;
}

function def(code: string, amqp: number, http: number, kafka: number, retriable = false): ErrorDef {
  return Object.freeze({ code, amqp, http, kafka, retriable }) as ErrorDef;
}

export const Errors = Object.freeze({
  CONTENT_TOO_LARGE: def('CONTENT_TOO_LARGE', 311, 413, 10),
  NO_ROUTE: def('NO_ROUTE', 312, 404, 3),
  NO_CONSUMERS: def('NO_CONSUMERS', 313, 404, -1),
  CONNECTION_FORCED: def('CONNECTION_FORCED', 320, 503, -1, true),
  INVALID_PATH: def('INVALID_PATH', 402, 400, -1),
  /** no permission on a resource (a queue, an exchange, a vhost, a topic): Kafka's TOPIC_AUTHORIZATION_FAILED; a group and the broker itself have their own entries below */
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
  /** a feature or a version of a request the broker does not have: Kafka's UNSUPPORTED_VERSION (ApiVersions asked in a version it does not know) */
  NOT_IMPLEMENTED: def('NOT_IMPLEMENTED', 540, 501, 35),
  INTERNAL_ERROR: def('INTERNAL_ERROR', 541, 500, -1),
  // streams (Kafka model); AMQP never raises these, so their AMQP code is the nearest soft error
  /** no topic by that name, or no partition by that index in it: Kafka's UNKNOWN_TOPIC_OR_PARTITION (retriable: a topic being created appears) */
  UNKNOWN_TOPIC: def('UNKNOWN_TOPIC', 404, 404, 3, true),
  TOPIC_EXISTS: def('TOPIC_EXISTS', 406, 409, 36),
  INVALID_TOPIC: def('INVALID_TOPIC', 406, 400, 17),
  INVALID_PARTITIONS: def('INVALID_PARTITIONS', 406, 400, 37),
  /** a topic asking for more than one replica, or for a replication factor of 0: this broker is the only one (Kafka's INVALID_REPLICATION_FACTOR) */
  INVALID_REPLICATION_FACTOR: def('INVALID_REPLICATION_FACTOR', 406, 400, 38),
  /** a manual partition assignment that does not give each partition 0..N-1 exactly this broker (Kafka's INVALID_REPLICA_ASSIGNMENT, as a KRaft controller checks it) */
  INVALID_REPLICA_ASSIGNMENT: def('INVALID_REPLICA_ASSIGNMENT', 406, 400, 39),
  INVALID_CONFIG: def('INVALID_CONFIG', 406, 400, 40),
  /** a broker limit (topics, partitions) refuses the request for good: Kafka's POLICY_VIOLATION, as a create-topic policy answers */
  POLICY_VIOLATION: def('POLICY_VIOLATION', 406, 400, 44),
  /** a per-request limit refuses part of a request; a later request may do it (Kafka's controller mutation quota, KIP-599) */
  THROTTLING_QUOTA_EXCEEDED: def('THROTTLING_QUOTA_EXCEEDED', 406, 429, 89, true),
  /** a record batch larger than the topic's max.message.bytes */
  MESSAGE_TOO_LARGE: def('MESSAGE_TOO_LARGE', 406, 413, 10),
  /** a record the topic cannot take (a keyless record on a compacted topic) */
  INVALID_RECORD: def('INVALID_RECORD', 406, 400, 87),
  /** a record batch that fails its checks (CRC, sizes, record count): Kafka's CORRUPT_MESSAGE, retriable as Kafka marks it (a batch damaged on the way may arrive whole) */
  CORRUPT_RECORD: def('CORRUPT_RECORD', 406, 400, 2, true),
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
  /** no consumer group by that id (neither members nor committed offsets): Kafka's GROUP_ID_NOT_FOUND */
  GROUP_NOT_FOUND: def('GROUP_NOT_FOUND', 404, 404, 69),
  /** a consumer group id the broker does not take (an empty one): Kafka's INVALID_GROUP_ID */
  INVALID_GROUP_ID: def('INVALID_GROUP_ID', 406, 400, 24),
  /** a committed offset's metadata past MAX_OFFSET_METADATA_BYTES (core/stream/groups.ts): Kafka's OFFSET_METADATA_TOO_LARGE; the offset is not committed */
  OFFSET_METADATA_TOO_LARGE: def('OFFSET_METADATA_TOO_LARGE', 406, 400, 12),
  /** no permission on a consumer group (read to join, commit or fetch offsets; configure to delete it): Kafka's GROUP_AUTHORIZATION_FAILED */
  GROUP_ACCESS_REFUSED: def('GROUP_ACCESS_REFUSED', 403, 403, 30),
  /** an action on the broker itself that needs the administrator (or monitoring) tag, such as reading or altering its settings: Kafka's CLUSTER_AUTHORIZATION_FAILED */
  CLUSTER_ACCESS_REFUSED: def('CLUSTER_ACCESS_REFUSED', 403, 403, 31),
  /** a transactional producer: this broker does not run Kafka transactions (docs/compatibility.md). Kafka clients get TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which they do not retry */
  TRANSACTIONS_UNSUPPORTED: def('TRANSACTIONS_UNSUPPORTED', 540, 501, 53),
  /** the group coordinator cannot answer now (closing, or a group's record was not made durable); a retry may succeed */
  COORDINATOR_NOT_AVAILABLE: def('COORDINATOR_NOT_AVAILABLE', 506, 503, 15, true),
  // the management HTTP API's own failures (the request, not the broker's model, is at fault). AMQP and
  // Kafka answer the same mistakes in their framing; their codes here are the nearest equivalent, -1 where none
  /** a request that cannot be read: no body where one is needed, a body that is not JSON or not a JSON object, a malformed path (AMQP's syntax-error; Kafka's INVALID_REQUEST) */
  BAD_REQUEST: def('BAD_REQUEST', 502, 400, 42),
  /** a readable request with a field or query parameter missing, of the wrong type or out of range, or naming one thing twice (RabbitMQ answers an invalid argument with precondition-failed; Kafka's INVALID_REQUEST) */
  INVALID_ARGUMENT: def('INVALID_ARGUMENT', 406, 400, 42),
  /** no credentials, or wrong ones (HTTP basic auth): sent with a WWW-Authenticate challenge. AMQP refuses a login with access-refused; Kafka's SASL_AUTHENTICATION_FAILED */
  UNAUTHORIZED: def('UNAUTHORIZED', 403, 401, 58),
  /** a login by a SASL mechanism the broker does not offer: AMQP closes with command-invalid as RabbitMQ does; Kafka's UNSUPPORTED_SASL_MECHANISM; the HTTP API answers a scheme other than Basic with 401 and its challenge */
  UNSUPPORTED_MECHANISM: def('UNSUPPORTED_MECHANISM', 503, 401, 33),
  /** a method a path does not serve (sent with an Allow header), or a change to an object the API may not change (a user or vhost from the config file): AMQP's not-allowed */
  METHOD_NOT_ALLOWED: def('METHOD_NOT_ALLOWED', 530, 405, -1),
  /** a request body past the API's limit (the connection is then closed): AMQP's frame-error for a frame past frame_max; Kafka closes such a connection without a code */
  REQUEST_TOO_LARGE: def('REQUEST_TOO_LARGE', 501, 413, -1),
  /** a request body that is not application/json (what a cross-site form sends): AMQP's not-implemented is the nearest */
  UNSUPPORTED_MEDIA_TYPE: def('UNSUPPORTED_MEDIA_TYPE', 540, 415, -1),
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
