/** Kafka protocol error codes used by the handlers (Kafka's own numbering), and the map from broker errors. */
import { streamErrorDef } from '../../core/stream/errors.js';

export const KafkaErrorCode = Object.freeze({
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  MESSAGE_TOO_LARGE: 10,
  OFFSET_METADATA_TOO_LARGE: 12,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  INVALID_REQUIRED_ACKS: 21,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_COMMIT_OFFSET_SIZE: 28,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REPLICA_ASSIGNMENT: 39,
  INVALID_CONFIG: 40,
  INVALID_REQUEST: 42,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43,
  POLICY_VIOLATION: 44,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  KAFKA_STORAGE_ERROR: 56,
  SASL_AUTHENTICATION_FAILED: 58,
  FETCH_SESSION_ID_NOT_FOUND: 70,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
  MEMBER_ID_REQUIRED: 79,
  FENCED_INSTANCE_ID: 82,
  GROUP_ID_NOT_FOUND: 69,
  NON_EMPTY_GROUP: 68,
  INVALID_RECORD: 87,
  THROTTLING_QUOTA_EXCEEDED: 89,
});

/** The Kafka error code for a failure thrown by the core (through the registry); anything else is a server error. */
export function kafkaErrorCodeOf(err: unknown): number {
  const def = streamErrorDef(err);
  return def !== null && def.kafka >= 0 ? def.kafka : KafkaErrorCode.UNKNOWN_SERVER_ERROR;
}

/**
 * The one log line (per server, context.warnOnce) for a codec this Node cannot decompress: it lasts as long as
 * the process, so it is said once, not per request.
 */
export function unsupportedCompressionNotice(err: Error): string {
  return `kafka: ${err.message}: produced batches in that codec get UNSUPPORTED_COMPRESSION_TYPE; stored ones are served as they are, and a lookup by time answers such a batch's first offset`;
}
