/**
 * The client connections a protocol adapter has open, as the control plane sees them: a registry the
 * adapter adds to and removes from, and protocol-neutral descriptions the management API lists. The core
 * never calls into a connection on the message path; these are read on demand (a management request).
 */
import type { TlsConnectionInfo } from '../util/tls.js';
import type { FieldTable } from './field-table.js';
import type { SampledConnection } from './stats.js';

/** One client connection as the management API shows it (RabbitMQ's field meanings). */
export interface ConnectionDetails {
  /** unique while open: "peer host:port -> local host:port" */
  readonly name: string;
  /** e.g. 'AMQP 0-9-1' */
  readonly protocol: string;
  /** the authenticated user, '' before authentication */
  readonly user: string;
  /** the virtual host opened, '' before connection.open */
  readonly vhost: string;
  readonly host: string;
  readonly port: number;
  readonly peerHost: string;
  readonly peerPort: number;
  /** ms since the epoch */
  readonly connectedAt: number;
  /** 'starting' | 'tuning' | 'opening' | 'running' | 'blocked' | 'closing' | 'closed' */
  readonly state: string;
  readonly channels: number;
  readonly channelMax: number;
  readonly frameMax: number;
  /** heartbeat interval, seconds (0 = none) */
  readonly heartbeatSeconds: number;
  readonly authMechanism: string;
  readonly clientProperties: FieldTable;
  /** bytes received and sent on the socket */
  readonly recvBytes: number;
  readonly sendBytes: number;
  /** bytes per second received and sent over the last stats interval (the sampler's) */
  readonly recvRate: number;
  readonly sendRate: number;
  /** the connection's TLS facts; null or absent for a plain connection */
  readonly tls?: TlsConnectionInfo | null;
}

/** One channel of a connection. */
export interface ChannelDetails {
  readonly number: number;
  readonly consumerCount: number;
  readonly unacked: number;
  readonly prefetchCount: number;
  readonly globalPrefetchCount: number;
  readonly confirm: boolean;
  readonly transactional: boolean;
  /** publishes waiting for their confirm */
  readonly unconfirmed: number;
  /** 'running' | 'flow' (paused by channel.flow) | 'closing' */
  readonly state: string;
  /** messages published on this channel */
  readonly publish: number;
}

/** A client connection a protocol adapter registered (the stats sampler reads its traffic). */
export interface ClientConnection extends SampledConnection {
  details(): ConnectionDetails;
  channelDetails(): ChannelDetails[];
  /** an operator (management API, vhost deletion) closes it; AMQP sends 320 CONNECTION_FORCED with `reason` */
  closeByOperator(reason: string): void;
}

/** Who holds a consumer, for listing consumers: the connection and channel it came over. */
export interface ConsumerOwnerDetails {
  readonly connection: ClientConnection;
  readonly channelNumber: number;
  /** per-consumer prefetch (0 = unlimited) */
  readonly prefetchCount: number;
  /** the consume arguments that matter for display (x-priority) */
  readonly arguments: FieldTable;
}

/** The open client connections of a broker (all protocols that register). */
export class ClientRegistry {
  private readonly connections = new Set<ClientConnection>();
  /** connections ever added, every protocol (Prometheus's rabbitmq_connections_opened_total) */
  opened = 0;
  /** connections removed after being added */
  closed = 0;

  add(connection: ClientConnection): void {
    if (this.connections.has(connection)) return;
    this.connections.add(connection);
    this.opened++;
  }

  delete(connection: ClientConnection): void {
    if (this.connections.delete(connection)) this.closed++;
  }

  get size(): number {
    return this.connections.size;
  }

  has(connection: ClientConnection): boolean {
    return this.connections.has(connection);
  }

  [Symbol.iterator](): IterableIterator<ClientConnection> {
    return this.connections.values();
  }
}
