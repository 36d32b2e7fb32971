/**
 * What a Kafka API handler gets: the broker's stream store and group coordinator (protocol-neutral core),
 * the identity this listener advertises, and the connection that sent the request.
 *
 * A handler is a pure function of (context, decoded request, version) to a response body, synchronous or a
 * promise (JoinGroup waits for a rebalance, Fetch for data, Produce with acks=-1 for its fsync). It returns
 * `null` only when the protocol says there is no response (Produce with acks=0). The connection writes
 * responses in request order, whatever order the promises settle in.
 */
import type { LoginGuard } from '../../../core/login-guard.js';
import type { StalledSenders } from '../stalled-senders.js';
import type { Logger } from '../../../log/logger.js';
import type { StreamStore } from '../../../core/stream/topics.js';
import type { GroupCoordinator } from '../../../core/stream/groups.js';
import type { KafkaRequests, KafkaResponses, SaslAuthenticateResponse, SaslHandshakeResponse, ServedApiKey } from '../generated/messages.js';
import type { ByteBudget } from '../../../util/byte-budget.js';
import type { AccessKind, UserStore } from '../../../core/users.js';

export interface KafkaBrokerIdentity {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
  readonly clusterId: string;
  /** the security protocol of the listener the request came on, as Kafka names it: 'PLAINTEXT' or 'SSL' */
  readonly securityProtocol: 'PLAINTEXT' | 'SSL';
}

/**
 * The connection a request came on: client ids for group membership and logs, and who it is. Every request
 * a handler sees comes from an authenticated connection (SASL, or the loopback guest): handlers only ask
 * what the user may do with a topic or group (the user's permissions in the Kafka vhost).
 */
export interface KafkaSession {
  /** the authenticated user's name */
  readonly userName: string;
  /** whether the user's `kind` permission expression in the Kafka vhost matches the topic or group `name` */
  allows(kind: AccessKind, name: string): boolean;
  /** the user has the administrator tag (Kafka's cluster-level operations: broker configs) */
  isAdministrator(): boolean;
  /** the user may write to some topic (Kafka 3's rule for an idempotent producer's InitProducerId, KIP-679) */
  writesSomewhere(): boolean;
  /** the user may read the broker's own configuration: an administrator, or a user tagged monitoring */
  monitors(): boolean;
  /** Kafka's Describe: any of the three permissions matches `name` (Metadata lists only such topics) */
  describes(name: string): boolean;
  /** SaslHandshake: choose the mechanism (v0: the tokens follow as bare frames) */
  saslHandshake(mechanism: string, version: number): SaslHandshakeResponse;
  /** SaslAuthenticate: one SASL token */
  saslAuthenticate(token: Buffer, version: number): SaslAuthenticateResponse | Promise<SaslAuthenticateResponse>;
  /** remote address:port */
  readonly name: string;
  /** the request header's client_id ('' when null) */
  readonly clientId: string;
  /** the remote host, as Kafka reports it in group member descriptions (e.g. '/127.0.0.1') */
  readonly clientHost: string;
  /** the authenticated user (the CN of a verified TLS client certificate); null = not authenticated */
  readonly principal: string | null;
}

export interface KafkaContext {
  readonly streams: StreamStore;
  readonly groups: GroupCoordinator;
  readonly identity: () => KafkaBrokerIdentity;
  readonly logger: Logger;
  /** logs `line` the first time `key` is seen by this server, and never again (a condition that lasts, e.g. no zstd on this Node) */
  readonly warnOnce: (key: string, line: string) => void;
  /** a resource alarm is on: Produce requests wait, unread, until it clears (as AMQP publishers are blocked) */
  readonly publishBlocked: () => boolean;
  /** most record bytes in one Fetch response (Kafka's fetch.max.bytes) */
  readonly fetchMaxBytes: number;
  /** largest request frame (Kafka's socket.request.max.bytes) */
  readonly requestMaxBytes: number;
  /** large requests being received, over every connection (Kafka's queued.max.request.bytes) */
  readonly queuedRequests: ByteBudget;
  /**
   * Chunk buffers of Fetch answers being streamed from segment files, over every connection
   * (FETCH_MEMORY_BYTES): a connection takes one chunk while it sends a streamed answer, or waits for one.
   */
  readonly fetchMemory: ByteBudget;
  /** connections whose chunk waits in their socket: the longest-stalled is closed when another needs a chunk */
  readonly stalledSenders: StalledSenders;
  /** the broker's users: SASL checks passwords and SCRAM proofs here, and permissions come from here */
  readonly users: UserStore;
  /** the vhost whose permissions apply to Kafka topics and groups (--kafka-vhost) */
  readonly kafkaVhost: string;
  /** failed logins of every protocol, logged per source and slowed (core/login-guard.ts); absent: SASL answers at once */
  readonly logins?: LoginGuard;
}

export interface KafkaHandler<K extends ServedApiKey> {
  readonly apiKey: K;
  /** the versions advertised in ApiVersions and accepted; anything else closes the connection */
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(
    context: KafkaContext,
    request: KafkaRequests[K],
    version: number,
    session: KafkaSession,
  ): KafkaResponses[K] | null | Promise<KafkaResponses[K] | null>;
}

/** A handler whose key type is erased, for the dispatch table. */
export type AnyKafkaHandler = { [K in ServedApiKey]: KafkaHandler<K> }[ServedApiKey];

/** Kafka's "authorized operations were not requested" sentinel (INT32_MIN). */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;
