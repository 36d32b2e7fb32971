/**
 * The Kafka listeners: one TCP server per configured address (and one TLS server per address for the SSL
 * listener), one KafkaConnection per socket.
 *
 * Each listener advertises itself: Metadata and FindCoordinator answer with the port of the listener the
 * request came on (clients reconnect to the broker address they are given, so a client on the TLS port
 * must be sent back to the TLS port, a plain one to the plain port), as a Kafka broker with a PLAINTEXT and
 * an SSL listener does. A TLS connection reads its cleartext into the same shared buffer as a plain one
 * (Node's TLS handle takes a user buffer as a TCP handle does; util/shared-read-buffer.ts falls back to
 * 'data' events where it does not): that took the broker's CPU per produced 1 KiB record over TLS from
 * 3.5-4.0 µs to 2.8-2.9 (plain: 1.2-1.4; bench/results/2026-12-07-tls.md).
 */
import type { LoginGuard } from '../../core/login-guard.js';
import { StalledSenders } from './stalled-senders.js';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { certificateUser, type TlsCertificates } from '../../util/tls.js';
import type { ClientRegistry } from '../../core/clients.js';
import type { Logger } from '../../log/logger.js';
import { KafkaConnection } from './connection.js';
import type { KafkaBrokerIdentity, KafkaContext } from './handlers/context.js';
import type { StreamStore } from '../../core/stream/topics.js';
import type { GroupCoordinator } from '../../core/stream/groups.js';
import type { UserStore } from '../../core/users.js';
import { ByteBudget } from '../../util/byte-budget.js';
import { adoptReservation, type ListenerReservation } from '../../util/listen.js';
import { SHARED_READ_BUFFER_BYTES, sharedReadsEnabled } from '../../util/shared-read-buffer.js';

export interface KafkaServerOptions {
  /** host advertised in Metadata (clients connect to it); defaults to the first listen address */
  readonly advertisedHost: string | null;
  readonly clusterId: string;
  /** where open connections are listed for the management API (null: not listed) */
  readonly clients?: ClientRegistry | null;
  /** Kafka's fetch.max.bytes (default DEFAULT_FETCH_MAX_BYTES) */
  readonly fetchMaxBytes?: number;
  /** Kafka's socket.request.max.bytes (default DEFAULT_REQUEST_MAX_BYTES) */
  readonly requestMaxBytes?: number;
  /** Kafka's queued.max.request.bytes (default DEFAULT_QUEUED_MAX_REQUEST_BYTES) */
  readonly queuedMaxRequestBytes?: number;
  /** chunk buffers of Fetch answers being sent, over every connection (default FETCH_MEMORY_BYTES) */
  readonly fetchMemoryBytes?: number;
  /** the vhost whose permissions apply to topics and groups (default '/') */
  readonly kafkaVhost?: string;
  /** the broker's login guard (failed logins logged per source and slowed); absent: none */
  readonly logins?: LoginGuard;
}

/** Defaults for a server built without the settings (tests): Kafka's fetch.max.bytes and socket.request.max.bytes, and config.ts's. */
const DEFAULT_FETCH_MAX_BYTES = 55 * 1024 * 1024;
const DEFAULT_REQUEST_MAX_BYTES = 100 * 1024 * 1024;
const DEFAULT_QUEUED_MAX_REQUEST_BYTES = 256 * 1024 * 1024;
/**
 * Chunk buffers of Fetch answers being streamed from segment files, over every connection, 256 MiB by default
 * (--kafka-fetch-memory; a connection stalled on its chunk is closed when another waits: stalled-senders.ts): each
 * connection sending a streamed answer holds one chunk (1 MiB and 16 KiB: connection.ts), so about 250
 * connections stream at once and the others wait for a chunk to come back (their answers are late, never
 * refused or cut). A Fetch answer of any size costs one chunk: records are not read into memory before their turn
 * (connection.ts). (Kafka sends from the page cache with sendfile and needs no buffer at all.)
 */
export const FETCH_MEMORY_BYTES = 256 * 1024 * 1024;

export class KafkaServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<KafkaConnection>();
  port = 0;
  /** the SSL listener's port (0: not listening) */
  tlsPort = 0;
  private advertisedHost = '127.0.0.1';
  private readonly context: KafkaContext;
  /** the same, advertising the SSL listener */
  private readonly tlsContext: KafkaContext;
  private blockedReason: string | null = null;
  /** every connection's sockets read into this one buffer (null: POSTBOX_SOCKET_READS=stream) */
  private readonly readBuffer = sharedReadsEnabled() ? Buffer.allocUnsafe(SHARED_READ_BUFFER_BYTES) : null;

  constructor(
    private readonly options: KafkaServerOptions,
    streams: StreamStore,
    groups: GroupCoordinator,
    private readonly logger: Logger,
    users: UserStore,
  ) {
    const fetchMemory = new ByteBudget(options.fetchMemoryBytes ?? FETCH_MEMORY_BYTES);
    const warned = new Set<string>();
    this.context = {
      streams,
      groups,
      identity: () => this.identity(),
      logger,
      warnOnce: (key, line) => {
        if (warned.has(key)) return;
        warned.add(key);
        logger.warn(line);
      },
      publishBlocked: () => this.blockedReason !== null,
      fetchMaxBytes: options.fetchMaxBytes ?? DEFAULT_FETCH_MAX_BYTES,
      requestMaxBytes: options.requestMaxBytes ?? DEFAULT_REQUEST_MAX_BYTES,
      queuedRequests: new ByteBudget(options.queuedMaxRequestBytes ?? DEFAULT_QUEUED_MAX_REQUEST_BYTES),
      fetchMemory,
      stalledSenders: new StalledSenders(fetchMemory),
      users,
      kafkaVhost: options.kafkaVhost ?? '/',
      ...(options.logins !== undefined ? { logins: options.logins } : {}),
    };
    this.tlsContext = { ...this.context, identity: () => this.identity(this.tlsPort, 'SSL') };
  }

  /**
   * A resource alarm changed. While it is on, a connection whose next request is a Produce stops being
   * read (the request waits whole, unanswered) until the alarm clears; fetches, metadata and group
   * traffic on other connections go on. Kafka has no "blocked" notice, so clients see a slow answer.
   */
  setBlocked(reason: string | null): void {
    this.blockedReason = reason;
    if (reason === null) for (const c of this.connections) c.publishUnblocked();
  }

  /** serve the addresses reserved for Kafka (see util/listen.ts) */
  async listen(reservation: ListenerReservation): Promise<number> {
    const listening = await adoptReservation(
      reservation,
      () => createServer((socket) => this.accept(socket, this.context, this.readBuffer, null)),
      (l) => this.logger.error(l),
    );
    this.servers.push(...listening.servers);
    this.port = listening.port;
    this.setAdvertisedHost(listening.hosts);
    return listening.port;
  }

  /** serve the addresses reserved for Kafka over TLS (security.protocol=SSL) */
  async listenTls(reservation: ListenerReservation, tls: TlsCertificates): Promise<number> {
    const listening = await adoptReservation(
      reservation,
      () =>
        tls.listener(
          createTlsServer(tls.serverOptions(), (socket) => this.accept(socket, this.tlsContext, this.readBuffer, certificateUser(socket))),
          'Kafka over TLS',
          (line) => this.logger.warn(line),
        ),
      (l) => this.logger.error(l),
    );
    this.servers.push(...listening.servers);
    this.tlsPort = listening.port;
    if (this.port === 0) this.setAdvertisedHost(listening.hosts);
    return listening.port;
  }

  private accept(socket: Socket, context: KafkaContext, readBuffer: Buffer | null, principal: string | null): void {
    const c = new KafkaConnection(socket, context, this.logger, readBuffer, principal);
    this.connections.add(c);
    this.options.clients?.add(c);
    socket.on('close', () => {
      this.connections.delete(c);
      this.options.clients?.delete(c);
    });
  }

  private setAdvertisedHost(hosts: readonly string[]): void {
    const first = hosts[0] ?? '127.0.0.1';
    this.advertisedHost = this.options.advertisedHost ?? (first === '0.0.0.0' || first === '::' ? 'localhost' : first);
  }

  private identity(port = this.port, securityProtocol: 'PLAINTEXT' | 'SSL' = 'PLAINTEXT'): KafkaBrokerIdentity {
    return { nodeId: 0, host: this.advertisedHost, port, clusterId: this.options.clusterId, securityProtocol };
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
