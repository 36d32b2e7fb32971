/** The Kafka listener: one TCP server per configured address, one KafkaConnection per socket. */
import { createServer, type Server } from 'node:net';
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
  /** the vhost whose permissions apply to topics and groups (default '/') */
  readonly kafkaVhost?: string;
}

/** Defaults for a server built without the settings (tests): Kafka's fetch.max.bytes and socket.request.max.bytes, and config.ts's. */
const DEFAULT_FETCH_MAX_BYTES = 55 * 1024 * 1024;
const DEFAULT_REQUEST_MAX_BYTES = 100 * 1024 * 1024;
const DEFAULT_QUEUED_MAX_REQUEST_BYTES = 256 * 1024 * 1024;
/**
 * Record bytes of Fetch responses built and not yet written to the kernel, over every connection, 256 MiB:
 * a handful of full 55 MiB responses. Past it a fetch sends what is left (nothing, when nothing is), and the
 * consumer asks again. (Kafka sends from the page cache with sendfile and needs no such bound.)
 */
export const FETCH_MEMORY_BYTES = 256 * 1024 * 1024;

export class KafkaServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<KafkaConnection>();
  port = 0;
  private advertisedHost = '127.0.0.1';
  private readonly context: KafkaContext;
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
    this.context = {
      streams,
      groups,
      identity: () => this.identity(),
      logger,
      publishBlocked: () => this.blockedReason !== null,
      fetchMaxBytes: options.fetchMaxBytes ?? DEFAULT_FETCH_MAX_BYTES,
      requestMaxBytes: options.requestMaxBytes ?? DEFAULT_REQUEST_MAX_BYTES,
      queuedRequests: new ByteBudget(options.queuedMaxRequestBytes ?? DEFAULT_QUEUED_MAX_REQUEST_BYTES),
      fetchMemory: new ByteBudget(FETCH_MEMORY_BYTES),
      users,
      kafkaVhost: options.kafkaVhost ?? '/',
    };
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
    const listening = await adoptReservation(reservation, () => createServer((socket) => {
      const c = new KafkaConnection(socket, this.context, this.logger, this.readBuffer);
      this.connections.add(c);
      this.options.clients?.add(c);
      socket.on('close', () => {
        this.connections.delete(c);
        this.options.clients?.delete(c);
      });
    }), (l) => this.logger.error(l));
    this.servers.push(...listening.servers);
    this.port = listening.port;
    const first = listening.hosts[0] ?? '127.0.0.1';
    this.advertisedHost = this.options.advertisedHost ?? (first === '0.0.0.0' || first === '::' ? 'localhost' : first);
    return listening.port;
  }

  private identity(): KafkaBrokerIdentity {
    return { nodeId: 0, host: this.advertisedHost, port: this.port, clusterId: this.options.clusterId };
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
