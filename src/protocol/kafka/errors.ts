/**
 * Kafka error codes, in two kinds kept apart (ARCHITECTURE.md habit 10, errors are data):
 *
 * - **Broker failures**: a topic that does not exist, no permission, a config or a record the broker refuses,
 *   a failed write. Each is an entry of the error registry (src/errors/errors.ts), which gives the same
 *   failure its AMQP reply code and HTTP status too; a handler answers it with the entry's Kafka code,
 *   `Errors.X.kafka`, or with the entry a core failure carries (kafkaFailureOf), never by a Kafka name.
 * - **Kafka protocol states** (KafkaProtocolState below): the group-membership protocol, the SASL exchange's
 *   order, fetch sessions, Kafka-only request fields. No other protocol has them, so no registry entry does.
 *
 * KafkaErrorCode is Kafka's numbering of both, for tests and the registry's own check (test/build/
 * error-registry.test.ts, which also fails if a handler names a broker failure here instead of the registry).
 */
import type { ErrorDef } from '../../errors/errors.js';
import { streamErrorDef } from '../../core/stream/errors.js';

/**
 * Kafka protocol states, not broker failures: no other protocol has them, and no registry entry carries their
 * codes. Handlers answer these by name. NONE is success.
 */
export const KafkaProtocolState = Object.freeze({
  NONE: 0,
  // the classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit):
  // members, generations and rebalances, and the parameters only it has
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  MEMBER_ID_REQUIRED: 79,
  FENCED_INSTANCE_ID: 82,
  // the SASL exchange's order: SaslHandshake once, then SaslAuthenticate (a wrong login is UNAUTHORIZED)
  ILLEGAL_SASL_STATE: 34,
  // Produce's acks field: 0, 1 or -1
  INVALID_REQUIRED_ACKS: 21,
  // incremental fetch sessions (KIP-227): this broker creates none
  FETCH_SESSION_ID_NOT_FOUND: 70,
});

/**
 * Kafka's numbers for the broker failures the registry maps (each name is the Kafka code of the registry
 * entry named beside it). Only for tests and for reading: a handler answers through the registry.
 */
const KAFKA_FAILURE_CODES = Object.freeze({
  /** a registry entry with no Kafka code (kafka -1) is never answered: the connection is failed, as for a bug */
  UNKNOWN_SERVER_ERROR: -1,
  OFFSET_OUT_OF_RANGE: 1, // OFFSET_OUT_OF_RANGE
  CORRUPT_MESSAGE: 2, // CORRUPT_RECORD (and AMQP's FRAME_ERROR, SYNTAX_ERROR)
  UNKNOWN_TOPIC_OR_PARTITION: 3, // UNKNOWN_TOPIC (and NOT_FOUND, NO_ROUTE)
  MESSAGE_TOO_LARGE: 10, // MESSAGE_TOO_LARGE, CONTENT_TOO_LARGE
  OFFSET_METADATA_TOO_LARGE: 12, // OFFSET_METADATA_TOO_LARGE
  COORDINATOR_NOT_AVAILABLE: 15, // COORDINATOR_NOT_AVAILABLE
  INVALID_TOPIC_EXCEPTION: 17, // INVALID_TOPIC
  INVALID_GROUP_ID: 24, // INVALID_GROUP_ID
  TOPIC_AUTHORIZATION_FAILED: 29, // ACCESS_REFUSED (and NOT_ALLOWED)
  GROUP_AUTHORIZATION_FAILED: 30, // GROUP_ACCESS_REFUSED
  CLUSTER_AUTHORIZATION_FAILED: 31, // CLUSTER_ACCESS_REFUSED
  UNSUPPORTED_SASL_MECHANISM: 33, // UNSUPPORTED_MECHANISM
  UNSUPPORTED_VERSION: 35, // NOT_IMPLEMENTED
  TOPIC_ALREADY_EXISTS: 36, // TOPIC_EXISTS
  INVALID_PARTITIONS: 37, // INVALID_PARTITIONS
  INVALID_REPLICATION_FACTOR: 38, // INVALID_REPLICATION_FACTOR
  INVALID_REPLICA_ASSIGNMENT: 39, // INVALID_REPLICA_ASSIGNMENT
  INVALID_CONFIG: 40, // INVALID_CONFIG
  INVALID_REQUEST: 42, // INVALID_ARGUMENT (and BAD_REQUEST, COMMAND_INVALID)
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43, // UNSUPPORTED_RECORD_FORMAT
  POLICY_VIOLATION: 44, // POLICY_VIOLATION
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45, // OUT_OF_ORDER_SEQUENCE
  INVALID_PRODUCER_EPOCH: 47, // PRODUCER_FENCED
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53, // TRANSACTIONS_UNSUPPORTED
  KAFKA_STORAGE_ERROR: 56, // KAFKA_STORAGE_ERROR
  SASL_AUTHENTICATION_FAILED: 58, // UNAUTHORIZED
  NON_EMPTY_GROUP: 68, // NON_EMPTY_GROUP
  GROUP_ID_NOT_FOUND: 69, // GROUP_NOT_FOUND
  UNSUPPORTED_COMPRESSION_TYPE: 76, // UNSUPPORTED_COMPRESSION
  INVALID_RECORD: 87, // INVALID_RECORD (and PRECONDITION_FAILED)
  THROTTLING_QUOTA_EXCEEDED: 89, // THROTTLING_QUOTA_EXCEEDED
});

/** Kafka's numbering of every code this broker answers: the protocol states and the registry's failures. */
export const KafkaErrorCode = Object.freeze({ ...KafkaProtocolState, ...KAFKA_FAILURE_CODES });

/**
 * The registry entry for a failure thrown by the core, when Kafka has a code for it (answer `.kafka`); null
 * for anything else (a bug, or an entry Kafka has no code for): the handler rethrows it, which fails the
 * connection with one log line.
 */
export function kafkaFailureOf(err: unknown): ErrorDef | null {
  const def = streamErrorDef(err);
  return def !== null && def.kafka >= 0 ? def : null;
}

/**
 * The one log line (per server, context.warnOnce) for a codec this Node cannot decompress: it lasts as long as
 * the process, so it is said once, not per request.
 */
export function unsupportedCompressionNotice(err: Error): string {
  return `kafka: ${err.message}: produced batches in that codec get UNSUPPORTED_COMPRESSION_TYPE; stored ones are served as they are, and a lookup by time answers such a batch's first offset`;
}
