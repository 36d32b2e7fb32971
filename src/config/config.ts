/**
 * One declarative table of settings. Each setting has a default, a unit, an env var, a flag, a config-file
 * key and a line of documentation; `--help` is rendered from this table, and a test keeps
 * docs/configuration.md listing every entry.
 * Precedence: flag > env var > config file > default. The result is frozen and passed in, never global.
 */
import { readFileSync } from 'node:fs';
import { isLogLevel, type LogLevel } from '../log/logger.js';
import { DEFAULT_PARTITION_SEGMENT_BYTES } from '../storage/partition/partition-log.js';
import { DEFAULT_MAX_PARTITIONS_PER_REQUEST, DEFAULT_MAX_PARTITIONS_TOTAL, DEFAULT_MAX_TOPICS, DEFAULT_STATS_INTERVAL_MS } from './defaults.js';
import { DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES } from '../format/kafka/record-walk.js';
import { MAX_TIMER_MS } from '../util/timers.js';
import { didYouMean } from '../util/suggest.js';

export type FsyncPolicy = 'always' | 'never';

export interface UserConfig {
  readonly name: string;
  readonly password: string;
  /** vhosts this user may open; '*' means all */
  readonly vhosts: readonly string[];
  /** when true the user may only connect from loopback (RabbitMQ's rule for guest) */
  readonly loopbackOnly: boolean;
  readonly tags: readonly string[];
}

export interface Config {
  readonly dataDir: string;
  readonly hosts: readonly string[];
  readonly amqpPort: number;
  readonly httpPort: number;
  /** the Prometheus listener's port (RabbitMQ's 15692: /metrics, /metrics/per-object, /metrics/detailed only); -1 = off */
  readonly prometheusPort: number;
  readonly kafkaPort: number;
  /** AMQP over TLS (amqps) listener port; -1 = off. Listens only when tlsCert is set */
  readonly amqpsPort: number;
  /** management HTTP API over TLS (https) port; -1 = off. Listens only when tlsCert is set */
  readonly httpsPort: number;
  /** Kafka over TLS (SSL) listener port; -1 = off. Listens only when tlsCert is set */
  readonly kafkaTlsPort: number;
  /** PEM file with the server certificate (and its chain); '' = no TLS listener */
  readonly tlsCert: string;
  /** PEM file with the server certificate's private key */
  readonly tlsKey: string;
  /** PEM file with the CA certificates client certificates are verified against ('' = none) */
  readonly tlsCa: string;
  /** TLS listeners ask for a client certificate and refuse a client without a valid one */
  readonly tlsVerifyPeer: boolean;
  /** time a client has to finish the TLS handshake on a TLS listener */
  readonly tlsHandshakeTimeoutMs: number;
  /** host the Kafka listener advertises in Metadata ('' = the first listen address) */
  readonly advertisedHost: string;
  readonly logLevel: LogLevel;
  readonly fsync: FsyncPolicy;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeatSeconds: number;
  readonly maxMessageBytes: number;
  readonly segmentBytes: number;
  /** descriptors the storage keeps open at once; 0 = half the soft RLIMIT_NOFILE */
  readonly storageOpenFiles: number;
  /** most queues in the broker (0 = no limit) */
  readonly maxQueues: number;
  /** most queues in one vhost (0 = no limit) */
  readonly maxQueuesPerVhost: number;
  /** Host names the management API answers to besides its built-in ones; '*' = any */
  readonly httpAllowedHosts: string;
  /** /metrics needs credentials */
  readonly metricsRequireAuth: boolean;
  /** accept rabbit_password_hashing_md5 password hashes in imports and user changes */
  readonly allowMd5PasswordHashes: boolean;
  /** hold a confirm-mode publisher's persistent messages back from consumers until the fsync that covers them */
  readonly deliverAfterFsync: boolean;
  readonly diskFreeLimitBytes: number;
  /** resident memory above which publishers are blocked; 0 = 40% of physical memory */
  readonly memoryHighWatermarkBytes: number;
  /** create a Kafka topic when a client produces to, or asks metadata for, one that does not exist */
  readonly kafkaAutoCreateTopics: boolean;
  /** the vhost whose permissions apply to Kafka topics and groups */
  readonly kafkaVhost: string;
  /** partitions of an auto-created topic (and of CreateTopics with numPartitions -1) */
  readonly kafkaDefaultPartitions: number;
  /** how often Kafka topic retention and compaction run */
  readonly kafkaRetentionCheckMs: number;
  /** Kafka partition segment size for topics that do not set segment.bytes */
  readonly kafkaSegmentBytes: number;
  /** most Kafka topics in total */
  readonly kafkaMaxTopics: number;
  /** most Kafka partitions in total, over every topic */
  readonly kafkaMaxPartitions: number;
  /** most partitions one Kafka request may create (CreateTopics, CreatePartitions, auto-creation) */
  readonly kafkaMaxPartitionsPerRequest: number;
  /** bound on one Kafka record batch's records once decompressed */
  readonly kafkaMaxDecompressedBatchBytes: number;
  /** most record bytes in one Kafka Fetch response, whatever the client asks (Kafka's fetch.max.bytes) */
  readonly kafkaFetchMaxBytes: number;
  /** largest Kafka request frame; a larger one closes the connection (Kafka's socket.request.max.bytes) */
  readonly kafkaSocketRequestMaxBytes: number;
  /** bytes of large Kafka requests being received over every connection before reading pauses (Kafka's queued.max.request.bytes) */
  readonly kafkaQueuedMaxRequestBytes: number;
  /** chunk buffers of Fetch answers being sent, over every connection, bytes */
  readonly kafkaFetchMemoryBytes: number;
  /** how often message rates are sampled (RabbitMQ's collect_statistics_interval) */
  readonly statsIntervalMs: number;
  readonly users: readonly UserConfig[];
  readonly vhosts: readonly string[];
  /** alert rules from the config file's `alerts` array, as written (validated by the alert engine) */
  readonly alertRules: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** URL POSTed a JSON event when an alert fires or resolves; '' = none */
  readonly alertWebhook: string;
  /** how often alert rules are evaluated */
  readonly alertIntervalMs: number;
  /** start with the built-in default alert rules (dead-letter growth, no consumers, resource alarms, consumer lag) */
  readonly alertDefaultRules: boolean;
  readonly configFile: string | undefined;
}

type Kind = 'string' | 'port' | 'int' | 'hosts' | 'level' | 'fsync' | 'bool';

interface Setting {
  readonly key: keyof Config;
  readonly flag: string;
  readonly env: string;
  readonly file: string;
  readonly kind: Kind;
  readonly unit: string;
  readonly defaultValue: string;
  readonly doc: string;
}

/** The AMQP port RabbitMQ uses; clients default to it. */
export const DEFAULT_AMQP_PORT = 5672;
/** The management port RabbitMQ uses. */
export const DEFAULT_HTTP_PORT = 15672;
/** The port RabbitMQ's Prometheus plugin listens on; scrape configs and dashboards' docs point at it. */
export const DEFAULT_PROMETHEUS_PORT = 15692;
/** How often alert rules are evaluated, ms: alerts are about minutes, not milliseconds. */
export const DEFAULT_ALERT_INTERVAL_MS = 5000;
/** Partitions of an auto-created Kafka topic: Kafka's num.partitions default, so keyed order is total. */
export const DEFAULT_KAFKA_PARTITIONS = 1;
/** Retention/compaction interval, 60 s: retention deletes whole segments, so a minute's lag is noise. */
export const DEFAULT_KAFKA_RETENTION_CHECK_MS = 60_000;
/** Most record bytes in one Fetch response: Kafka's fetch.max.bytes default, 55 MiB. */
export const DEFAULT_KAFKA_FETCH_MAX_BYTES = 55 * 1024 * 1024;
/** Largest Kafka request frame: Kafka's socket.request.max.bytes default, 100 MiB. */
export const DEFAULT_KAFKA_SOCKET_REQUEST_MAX_BYTES = 100 * 1024 * 1024;
/**
 * Bytes of large requests (past a connection's 64 KiB receive buffer) being received at once over every
 * Kafka connection, 256 MiB: two and a half of the largest request, so a few large producers proceed at
 * once while ten clients each announcing a 99 MiB request hold at most this much. (Kafka's
 * queued.max.request.bytes is unbounded by default.)
 */
export const DEFAULT_KAFKA_QUEUED_MAX_REQUEST_BYTES = 256 * 1024 * 1024;
/** Chunk buffers of Fetch answers being sent, over every connection: about 250 connections send at once (src/protocol/kafka/server.ts). */
export const DEFAULT_KAFKA_FETCH_MEMORY_BYTES = 256 * 1024 * 1024;
/** The Kafka port clients default to. */
export const DEFAULT_KAFKA_PORT = 9092;
/** The AMQP-over-TLS port RabbitMQ uses (IANA's amqps). */
export const DEFAULT_AMQPS_PORT = 5671;
/** The management-over-TLS port RabbitMQ's docs use. */
export const DEFAULT_HTTPS_PORT = 15671;
/** The port Kafka deployments conventionally give their SSL listener. */
export const DEFAULT_KAFKA_TLS_PORT = 9093;
/**
 * Time a client has to complete the TLS handshake, ms: RabbitMQ's ssl_handshake_timeout default (5 s).
 * Node's own default (120 s) would let a client that opens TCP and sends nothing hold a socket two minutes.
 */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 5000;
/** A listener port set to this is not listened on (RabbitMQ's way: a listener with no port). */
export const PORT_OFF = -1;
/** Largest frame we offer in connection.tune, bytes (RabbitMQ's default). */
export const DEFAULT_FRAME_MAX = 131072;
/** Channels per connection we offer in connection.tune (RabbitMQ's default). */
export const DEFAULT_CHANNEL_MAX = 2047;
/** Heartbeat interval we offer in connection.tune, seconds (RabbitMQ's default). */
export const DEFAULT_HEARTBEAT_SECONDS = 60;
/** Largest message body accepted, bytes: RabbitMQ 3.x's default max_message_size (128 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
/** Free disk space below which publishers are blocked, bytes (RabbitMQ's default disk_free_limit, 50 MB). */
export const DEFAULT_DISK_FREE_LIMIT_BYTES = 50_000_000;
/**
 * Most queues a broker holds by default, 200,000: twice the 100k durable queues a broker is meant to
 * carry (each costs some kilobytes of memory and a directory, no open file), while a client declaring
 * queues in a loop is stopped long before memory runs out.
 */
export const DEFAULT_MAX_QUEUES = 200_000;
/** Segment file size at which a queue's log rolls to a new file, bytes. */
export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;

// one setting per line, so a table row reads (and diffs) as one line
// prettier-ignore
export const SETTINGS: readonly Setting[] = [
  { key: 'dataDir', flag: '--data-dir', env: 'POSTBOX_DATA_DIR', file: 'dataDir', kind: 'string', unit: 'path', defaultValue: './data', doc: 'directory for queues, messages and definitions' },
  { key: 'hosts', flag: '--host', env: 'POSTBOX_HOST', file: 'host', kind: 'hosts', unit: 'addresses', defaultValue: '127.0.0.1,::1', doc: 'comma-separated addresses to listen on (0.0.0.0 and :: for all interfaces)' },
  { key: 'amqpPort', flag: '--amqp-port', env: 'POSTBOX_AMQP_PORT', file: 'amqpPort', kind: 'port', unit: 'port', defaultValue: String(DEFAULT_AMQP_PORT), doc: 'AMQP 0-9-1 listener port (0 = ephemeral, -1 = off)' },
  { key: 'httpPort', flag: '--http-port', env: 'POSTBOX_HTTP_PORT', file: 'httpPort', kind: 'port', unit: 'port', defaultValue: String(DEFAULT_HTTP_PORT), doc: 'management HTTP API port (policies, overview, health checks; 0 = ephemeral, -1 = off)' },
  { key: 'kafkaPort', flag: '--kafka-port', env: 'POSTBOX_KAFKA_PORT', file: 'kafkaPort', kind: 'port', unit: 'port', defaultValue: String(DEFAULT_KAFKA_PORT), doc: 'Kafka protocol listener port (0 = ephemeral, -1 = off)' },
  { key: 'amqpsPort', flag: '--amqps-port', env: 'POSTBOX_AMQPS_PORT', file: 'amqpsPort', kind: 'port', unit: 'port', defaultValue: String(DEFAULT_AMQPS_PORT), doc: 'AMQP 0-9-1 over TLS listener port, when --tls-cert is set (0 = ephemeral, -1 = off)' },
  { key: 'prometheusPort', flag: '--prometheus-port', env: 'POSTBOX_PROMETHEUS_PORT', file: 'prometheusPort', kind: 'port', unit: 'port', defaultValue: String(DEFAULT_PROMETHEUS_PORT), doc: 'Prometheus metrics listener (RabbitMQ\'s 15692), plain HTTP on the --host addresses, serving only /metrics, /metrics/per-object and /metrics/detailed (0 = ephemeral, -1 = off)' },
  { key: 'httpsPort', flag: '--https-port', env: 'POSTBOX_HTTPS_PORT', file: 'httpsPort', kind: 'port', unit: 'port', defaultValue: String(DEFAULT_HTTPS_PORT), doc: 'management HTTP API over TLS port, when --tls-cert is set (0 = ephemeral, -1 = off)' },
  { key: 'kafkaTlsPort', flag: '--kafka-tls-port', env: 'POSTBOX_KAFKA_TLS_PORT', file: 'kafkaTlsPort', kind: 'port', unit: 'port', defaultValue: String(DEFAULT_KAFKA_TLS_PORT), doc: 'Kafka protocol over TLS (security.protocol=SSL) listener port, when --tls-cert is set (0 = ephemeral, -1 = off)' },
  { key: 'tlsCert', flag: '--tls-cert', env: 'POSTBOX_TLS_CERT', file: 'tlsCert', kind: 'string', unit: 'path', defaultValue: '', doc: 'PEM file with the server certificate, followed by its intermediate CA certificates if any; empty = no TLS listener. Reloaded on SIGHUP and when it changes' },
  { key: 'tlsKey', flag: '--tls-key', env: 'POSTBOX_TLS_KEY', file: 'tlsKey', kind: 'string', unit: 'path', defaultValue: '', doc: "PEM file with the server certificate's private key (unencrypted); needed with --tls-cert" },
  { key: 'tlsCa', flag: '--tls-ca', env: 'POSTBOX_TLS_CA', file: 'tlsCa', kind: 'string', unit: 'path', defaultValue: '', doc: 'PEM file with the CA certificates client certificates are verified against; needed with --tls-verify-peer' },
  { key: 'tlsVerifyPeer', flag: '--tls-verify-peer', env: 'POSTBOX_TLS_VERIFY_PEER', file: 'tlsVerifyPeer', kind: 'bool', unit: 'true/false', defaultValue: 'false', doc: "TLS listeners require a client certificate signed by --tls-ca (RabbitMQ's verify_peer with fail_if_no_peer_cert); AMQP then offers EXTERNAL, Kafka takes the certificate's CN as the user" },
  { key: 'tlsHandshakeTimeoutMs', flag: '--tls-handshake-timeout', env: 'POSTBOX_TLS_HANDSHAKE_TIMEOUT', file: 'tlsHandshakeTimeout', kind: 'int', unit: 'ms', defaultValue: String(DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS), doc: "time a client has to complete the TLS handshake before it is disconnected (RabbitMQ's ssl_handshake_timeout)" },
  { key: 'advertisedHost', flag: '--advertised-host', env: 'POSTBOX_ADVERTISED_HOST', file: 'advertisedHost', kind: 'string', unit: 'host', defaultValue: '', doc: 'host Kafka clients are told to connect to (Metadata); empty = the first --host address' },
  { key: 'logLevel', flag: '--log-level', env: 'POSTBOX_LOG_LEVEL', file: 'logLevel', kind: 'level', unit: 'level', defaultValue: 'info', doc: 'debug, info, warn, error or silent' },
  { key: 'fsync', flag: '--fsync', env: 'POSTBOX_FSYNC', file: 'fsync', kind: 'fsync', unit: 'policy', defaultValue: 'always', doc: "'always': confirms wait for the group-commit fsync; 'never': confirms after the OS write (a power loss can lose confirmed messages)" },
  { key: 'frameMax', flag: '--frame-max', env: 'POSTBOX_FRAME_MAX', file: 'frameMax', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_FRAME_MAX), doc: 'largest AMQP frame offered in connection.tune' },
  { key: 'channelMax', flag: '--channel-max', env: 'POSTBOX_CHANNEL_MAX', file: 'channelMax', kind: 'int', unit: 'channels', defaultValue: String(DEFAULT_CHANNEL_MAX), doc: 'channels per connection offered in connection.tune' },
  { key: 'heartbeatSeconds', flag: '--heartbeat', env: 'POSTBOX_HEARTBEAT', file: 'heartbeat', kind: 'int', unit: 'seconds', defaultValue: String(DEFAULT_HEARTBEAT_SECONDS), doc: 'heartbeat interval offered in connection.tune (0 disables)' },
  { key: 'maxMessageBytes', flag: '--max-message-size', env: 'POSTBOX_MAX_MESSAGE_SIZE', file: 'maxMessageSize', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_MAX_MESSAGE_BYTES), doc: 'largest message body accepted (larger: channel closed with 406)' },
  { key: 'diskFreeLimitBytes', flag: '--disk-free-limit', env: 'POSTBOX_DISK_FREE_LIMIT', file: 'diskFreeLimit', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_DISK_FREE_LIMIT_BYTES), doc: 'free space on the data directory\'s disk below which publishers are blocked (connection.blocked)' },
  { key: 'memoryHighWatermarkBytes', flag: '--memory-high-watermark', env: 'POSTBOX_MEMORY_HIGH_WATERMARK', file: 'memoryHighWatermark', kind: 'int', unit: 'bytes', defaultValue: '0', doc: "resident memory of the broker above which publishers are blocked (connection.blocked) until it falls back; 0 = 40% of physical memory (RabbitMQ's vm_memory_high_watermark)" },
  { key: 'alertWebhook', flag: '--alert-webhook', env: 'POSTBOX_ALERT_WEBHOOK', file: 'alertWebhook', kind: 'string', unit: 'URL', defaultValue: '', doc: 'URL that gets a JSON POST when an alert fires or resolves; empty = none (alerts are always shown at /api/alerts)' },
  { key: 'alertDefaultRules', flag: '--alert-default-rules', env: 'POSTBOX_ALERT_DEFAULT_RULES', file: 'alertDefaultRules', kind: 'bool', unit: 'true/false', defaultValue: 'true', doc: 'start with the built-in alert rules (default.dead-letter-growth, default.no-consumers, default.resource-alarm, default.consumer-lag); each can be replaced or deleted through the API, false leaves them all out' },
  { key: 'alertIntervalMs', flag: '--alert-interval', env: 'POSTBOX_ALERT_INTERVAL', file: 'alertInterval', kind: 'int', unit: 'ms', defaultValue: String(DEFAULT_ALERT_INTERVAL_MS), doc: 'how often alert rules are evaluated' },
  { key: 'kafkaVhost', flag: '--kafka-vhost', env: 'POSTBOX_KAFKA_VHOST', file: 'kafkaVhost', kind: 'string', unit: 'vhost', defaultValue: '/', doc: "the vhost whose configure/write/read permissions apply to Kafka topics and groups (a Kafka user needs permissions there)" },
  { key: 'kafkaAutoCreateTopics', flag: '--kafka-auto-create-topics', env: 'POSTBOX_KAFKA_AUTO_CREATE_TOPICS', file: 'kafkaAutoCreateTopics', kind: 'bool', unit: 'true/false', defaultValue: 'true', doc: "create a topic with --kafka-partitions partitions when a client produces to or asks metadata for one that does not exist (Kafka's auto.create.topics.enable)" },
  { key: 'kafkaDefaultPartitions', flag: '--kafka-partitions', env: 'POSTBOX_KAFKA_PARTITIONS', file: 'kafkaPartitions', kind: 'int', unit: 'partitions', defaultValue: String(DEFAULT_KAFKA_PARTITIONS), doc: "partitions of an auto-created topic, and of CreateTopics with numPartitions -1 (Kafka's num.partitions)" },
  { key: 'kafkaRetentionCheckMs', flag: '--kafka-retention-check', env: 'POSTBOX_KAFKA_RETENTION_CHECK', file: 'kafkaRetentionCheck', kind: 'int', unit: 'ms', defaultValue: String(DEFAULT_KAFKA_RETENTION_CHECK_MS), doc: "how often topic retention (retention.ms, retention.bytes) and compaction run (Kafka's log.retention.check.interval.ms)" },
  { key: 'kafkaSegmentBytes', flag: '--kafka-segment-size', env: 'POSTBOX_KAFKA_SEGMENT_SIZE', file: 'kafkaSegmentSize', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_PARTITION_SEGMENT_BYTES), doc: "size at which a Kafka partition rolls to a new segment, for topics that do not set segment.bytes (Kafka's log.segment.bytes)" },
  { key: 'kafkaMaxTopics', flag: '--kafka-max-topics', env: 'POSTBOX_KAFKA_MAX_TOPICS', file: 'kafkaMaxTopics', kind: 'int', unit: 'topics', defaultValue: String(DEFAULT_MAX_TOPICS), doc: 'most Kafka topics in total; creating one more (CreateTopics, auto-creation) is refused with POLICY_VIOLATION' },
  { key: 'kafkaMaxPartitions', flag: '--kafka-max-partitions', env: 'POSTBOX_KAFKA_MAX_PARTITIONS', file: 'kafkaMaxPartitions', kind: 'int', unit: 'partitions', defaultValue: String(DEFAULT_MAX_PARTITIONS_TOTAL), doc: 'most Kafka partitions in total over every topic; growth past it is refused with POLICY_VIOLATION' },
  { key: 'kafkaMaxPartitionsPerRequest', flag: '--kafka-max-partitions-per-request', env: 'POSTBOX_KAFKA_MAX_PARTITIONS_PER_REQUEST', file: 'kafkaMaxPartitionsPerRequest', kind: 'int', unit: 'partitions', defaultValue: String(DEFAULT_MAX_PARTITIONS_PER_REQUEST), doc: 'most partitions one Kafka request may create (CreateTopics, CreatePartitions, or the topics a Metadata or Produce request auto-creates); the rest get THROTTLING_QUOTA_EXCEEDED' },
  { key: 'kafkaMaxDecompressedBatchBytes', flag: '--kafka-max-decompressed-batch-size', env: 'POSTBOX_KAFKA_MAX_DECOMPRESSED_BATCH_SIZE', file: 'kafkaMaxDecompressedBatchSize', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES), doc: "most bytes one Kafka record batch's records may take once decompressed (a produced batch past it, or claiming more records than fit, gets MESSAGE_TOO_LARGE); max.message.bytes bounds the compressed batch" },
  { key: 'kafkaFetchMaxBytes', flag: '--kafka-fetch-max-bytes', env: 'POSTBOX_KAFKA_FETCH_MAX_BYTES', file: 'kafkaFetchMaxBytes', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_KAFKA_FETCH_MAX_BYTES), doc: "most record bytes in one Fetch response whatever the client asks (at least one batch is always sent; Kafka's fetch.max.bytes)" },
  { key: 'kafkaSocketRequestMaxBytes', flag: '--kafka-socket-request-max-bytes', env: 'POSTBOX_KAFKA_SOCKET_REQUEST_MAX_BYTES', file: 'kafkaSocketRequestMaxBytes', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_KAFKA_SOCKET_REQUEST_MAX_BYTES), doc: "largest Kafka request frame; a client announcing a larger one is disconnected (Kafka's socket.request.max.bytes)" },
  { key: 'kafkaQueuedMaxRequestBytes', flag: '--kafka-queued-max-request-bytes', env: 'POSTBOX_KAFKA_QUEUED_MAX_REQUEST_BYTES', file: 'kafkaQueuedMaxRequestBytes', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_KAFKA_QUEUED_MAX_REQUEST_BYTES), doc: "bytes of large Kafka requests (past 64 KiB) being received at once over every connection; a connection whose next request does not fit stops being read until others are handled (Kafka's queued.max.request.bytes)" },
  { key: 'kafkaFetchMemoryBytes', flag: '--kafka-fetch-memory', env: 'POSTBOX_KAFKA_FETCH_MEMORY', file: 'kafkaFetchMemory', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_KAFKA_FETCH_MEMORY_BYTES), doc: 'memory for Fetch answers being sent, over every connection: each connection sending one holds a 1 MiB chunk (records are streamed from the segment files); a connection that finds none waits, and one whose chunk has waited 5 s in a socket that is not read is then closed' },
  { key: 'statsIntervalMs', flag: '--stats-interval', env: 'POSTBOX_STATS_INTERVAL', file: 'statsInterval', kind: 'int', unit: 'ms', defaultValue: String(DEFAULT_STATS_INTERVAL_MS), doc: "how often message rates (the management API's *_details.rate) are sampled; a rate is the change over the last interval (RabbitMQ's collect_statistics_interval)" },
  { key: 'segmentBytes', flag: '--segment-size', env: 'POSTBOX_SEGMENT_SIZE', file: 'segmentSize', kind: 'int', unit: 'bytes', defaultValue: String(DEFAULT_SEGMENT_BYTES), doc: 'size at which a queue log rolls to a new segment file' },
  { key: 'storageOpenFiles', flag: '--storage-open-files', env: 'POSTBOX_STORAGE_OPEN_FILES', file: 'storageOpenFiles', kind: 'int', unit: 'files', defaultValue: '0', doc: 'most files the storage (queues, partitions) keeps open at once; the least recently used are closed and reopened on demand. 0 = half the soft open-file limit (ulimit -n), at most 4096' },
  { key: 'maxQueues', flag: '--max-queues', env: 'POSTBOX_MAX_QUEUES', file: 'maxQueues', kind: 'int', unit: 'queues', defaultValue: String(DEFAULT_MAX_QUEUES), doc: "most queues in the broker, all vhosts together (RabbitMQ's cluster_queue_limit); one more queue.declare is refused with 406 PRECONDITION_FAILED. 0 = no limit" },
  { key: 'maxQueuesPerVhost', flag: '--max-queues-per-vhost', env: 'POSTBOX_MAX_QUEUES_PER_VHOST', file: 'maxQueuesPerVhost', kind: 'int', unit: 'queues', defaultValue: '0', doc: "most queues in each vhost (RabbitMQ's max-queues vhost limit); one more queue.declare is refused with 406 PRECONDITION_FAILED. 0 = no limit" },
  { key: 'httpAllowedHosts', flag: '--http-allowed-hosts', env: 'POSTBOX_HTTP_ALLOWED_HOSTS', file: 'httpAllowedHosts', kind: 'string', unit: 'names', defaultValue: '', doc: "comma-separated host names the management API answers to besides IP addresses, localhost, this machine's name and --advertised-host (a request with another Host is refused with 403: DNS rebinding); '*' = any" },
  { key: 'metricsRequireAuth', flag: '--metrics-require-auth', env: 'POSTBOX_METRICS_REQUIRE_AUTH', file: 'metricsRequireAuth', kind: 'bool', unit: 'true/false', defaultValue: 'false', doc: "GET /metrics, /metrics/per-object and /metrics/detailed, on the management and the Prometheus port, ask for the credentials of a user with a management tag (by default they are open, as RabbitMQ's Prometheus endpoint)" },
  { key: 'deliverAfterFsync', flag: '--deliver-after-fsync', env: 'POSTBOX_DELIVER_AFTER_FSYNC', file: 'deliverAfterFsync', kind: 'bool', unit: 'true/false', defaultValue: 'false', doc: "a persistent message from a publisher in confirm mode reaches consumers only after the fsync that covers it, so a message whose publisher gets basic.nack is never delivered (as RabbitMQ's quorum queues); by default it is delivered at once, before its fsync, as RabbitMQ's classic queues do (the confirm still waits for the fsync)" },
  { key: 'allowMd5PasswordHashes', flag: '--allow-md5-password-hashes', env: 'POSTBOX_ALLOW_MD5_PASSWORD_HASHES', file: 'allowMd5PasswordHashes', kind: 'bool', unit: 'true/false', defaultValue: 'false', doc: 'accept users with rabbit_password_hashing_md5 password hashes (RabbitMQ before 3.6) in definitions imports and PUT /api/users; by default they are refused with 400 naming the user' },
];

export class ConfigError extends Error {}

/** `source` names the value: the flag, the env var, the config file's key. */
function parseValue(setting: Setting, raw: unknown, source: string): unknown {
  const text = typeof raw === 'string' ? raw : String(raw);
  switch (setting.kind) {
    case 'string':
      return text;
    case 'hosts': {
      const list = Array.isArray(raw) ? raw.map(String) : text.split(',');
      const hosts = list.map((h) => h.trim()).filter((h) => h.length > 0);
      if (hosts.length === 0) throw new ConfigError(`${source} needs at least one address`);
      return hosts;
    }
    case 'port': {
      const n = Number(text);
      if (!Number.isInteger(n) || n < PORT_OFF || n > 65535) throw new ConfigError(`${source} must be a port 0..65535, or -1 for off, got '${text}'`);
      return n;
    }
    case 'int': {
      const n = Number(text);
      // an interval in ms drives a timer: setTimeout/setInterval cannot wait longer than MAX_TIMER_MS
      const max = setting.unit === 'ms' ? MAX_TIMER_MS : Number.MAX_SAFE_INTEGER;
      if (!Number.isInteger(n) || n < 0 || n > max) throw new ConfigError(`${source} must be an integer 0..${max}, got '${text}'`);
      return n;
    }
    case 'level':
      if (!isLogLevel(text)) throw new ConfigError(`${source} must be debug, info, warn, error or silent, got '${text}'`);
      return text;
    case 'bool':
      if (text !== 'true' && text !== 'false') throw new ConfigError(`${source} must be 'true' or 'false', got '${text}'`);
      return text === 'true';
    case 'fsync':
      if (text !== 'always' && text !== 'never') throw new ConfigError(`${source} must be 'always' or 'never', got '${text}'`);
      return text;
  }
}

/** The built-in guest/guest user every broker has unless a config file defines its own guest or sets "defaultGuest": false. */
export const DEFAULT_GUEST: UserConfig = Object.freeze({
  name: 'guest',
  password: 'guest',
  vhosts: Object.freeze(['*']),
  loopbackOnly: true,
  tags: Object.freeze(['administrator']),
});

function parseUsers(raw: unknown, source: string): UserConfig[] {
  if (!Array.isArray(raw)) throw new ConfigError(`${source}: 'users' must be an array`);
  return raw.map((u: any, i: number) => {
    if (typeof u !== 'object' || u === null || typeof u.name !== 'string' || typeof u.password !== 'string') {
      throw new ConfigError(`${source}: users[${i}] needs string 'name' and 'password'`);
    }
    const vhosts = u.vhosts === undefined ? ['/'] : u.vhosts;
    if (!Array.isArray(vhosts) || !vhosts.every((v: unknown) => typeof v === 'string'))
      throw new ConfigError(`${source}: users[${i}].vhosts must be an array of strings`);
    return Object.freeze({
      name: u.name,
      password: u.password,
      vhosts: Object.freeze([...vhosts]),
      loopbackOnly: u.loopbackOnly === true,
      tags: Object.freeze(Array.isArray(u.tags) ? u.tags.map(String) : []),
    });
  });
}

export interface ConfigSources {
  readonly flags?: Readonly<Record<string, string>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** parsed config file contents (JSON object) */
  readonly file?: Readonly<Record<string, unknown>>;
  readonly configFile?: string;
  /** programmatic overrides (startBroker options), highest precedence */
  readonly overrides?: Partial<Config>;
}

/** Config-file keys that are not settings of the table: users, vhosts, alert rules, the built-in guest. */
export const FILE_ONLY_KEYS: readonly string[] = ['users', 'vhosts', 'alerts', 'defaultGuest'];

/** Every key a config file may have. */
export function knownFileKeys(): string[] {
  return [...SETTINGS.map((s) => s.file), ...FILE_ONLY_KEYS];
}

/**
 * A config file key that is neither a setting nor one of FILE_ONLY_KEYS is an error, as an unknown flag is:
 * a misspelt key (`amqpPrt`) would otherwise leave its setting at the default without a word.
 */
function checkFileKeys(file: Readonly<Record<string, unknown>>, source: string): void {
  const known = knownFileKeys();
  for (const key of Object.keys(file)) {
    if (!known.includes(key)) throw new ConfigError(`${source}: unknown key '${key}'${didYouMean(key, known)} (see docs/configuration.md)`);
  }
}

export function buildConfig(sources: ConfigSources): Config {
  const out: Record<string, unknown> = {};
  const file = sources.file ?? {};
  checkFileKeys(file, `config file ${sources.configFile ?? ''}`.trim());
  for (const s of SETTINGS) {
    // each source names the value as its user wrote it: `--amqp-port must be...`, `POSTBOX_AMQP_PORT must be...`
    let value = parseValue(s, s.defaultValue, `the default of ${s.flag}`);
    if (file[s.file] !== undefined) value = parseValue(s, file[s.file], `${`config file ${sources.configFile ?? ''}`.trim()}: '${s.file}'`);
    const envValue = sources.env?.[s.env];
    if (envValue !== undefined && envValue !== '') value = parseValue(s, envValue, s.env);
    const flagValue = sources.flags?.[s.flag];
    if (flagValue !== undefined) value = parseValue(s, flagValue, s.flag);
    out[s.key] = value;
  }
  const users = file.users !== undefined ? parseUsers(file.users, 'config file') : [];
  if (!users.some((u) => u.name === 'guest') && file.defaultGuest !== false) users.unshift(DEFAULT_GUEST);
  const vhostsRaw = file.vhosts ?? ['/'];
  if (!Array.isArray(vhostsRaw) || !vhostsRaw.every((v) => typeof v === 'string')) throw new ConfigError("config file: 'vhosts' must be an array of strings");
  const vhosts = vhostsRaw.includes('/') ? [...vhostsRaw] : ['/', ...vhostsRaw];
  const alertRules = file.alerts ?? [];
  if (!Array.isArray(alertRules) || !alertRules.every((r) => typeof r === 'object' && r !== null && typeof (r as { name?: unknown }).name === 'string')) {
    throw new ConfigError("config file: 'alerts' must be an array of objects, each with a 'name'");
  }
  const config = {
    ...out,
    alertRules: Object.freeze(alertRules as Array<Record<string, unknown>>),
    users: Object.freeze(users),
    vhosts: Object.freeze(vhosts),
    configFile: sources.configFile,
    ...(sources.overrides ?? {}),
  } as Config;
  if (config.frameMax < 4096) throw new ConfigError('frame-max must be at least 4096 (AMQP frame-min-size)');
  if (config.channelMax < 1 || config.channelMax > 65535) throw new ConfigError('channel-max must be 1..65535');
  if (config.statsIntervalMs < 1) throw new ConfigError('stats-interval must be at least 1 ms');
  if (config.alertIntervalMs < 1) throw new ConfigError('alert-interval must be at least 1 ms');
  checkTlsSettings(config);
  return Object.freeze(config);
}

/** The TLS files go together: a certificate needs its key, and verifying peers needs the CAs to verify them against. */
function checkTlsSettings(config: Config): void {
  if (config.tlsCert !== '' && config.tlsKey === '') throw new ConfigError("--tls-cert needs --tls-key (the certificate's private key)");
  if (config.tlsKey !== '' && config.tlsCert === '') throw new ConfigError('--tls-key needs --tls-cert');
  if (config.tlsVerifyPeer && config.tlsCert === '')
    throw new ConfigError('--tls-verify-peer needs --tls-cert and --tls-key (it applies to the TLS listeners)');
  if (config.tlsVerifyPeer && config.tlsCa === '')
    throw new ConfigError('--tls-verify-peer needs --tls-ca (the CA certificates client certificates are verified against)');
  if (config.tlsHandshakeTimeoutMs < 1) throw new ConfigError('--tls-handshake-timeout must be at least 1 ms');
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('top level must be an object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Each setting as `postbox serve --help` shows it: the flag with its unit, and its doc with default (when there is one) and env var. */
export function settingsHelpRows(): [string, string][] {
  return SETTINGS.map((s) => [`${s.flag} <${s.unit}>`, `${s.doc} (${s.defaultValue === '' ? '' : `default ${s.defaultValue}; `}env ${s.env})`]);
}
