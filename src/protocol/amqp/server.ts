/** The AMQP listener: one TCP server per configured address, one AmqpConnection per socket. */
import { createServer, type Server, type Socket } from 'node:net';
import type { BrokerCore } from '../../core/core.js';
import type { Logger } from '../../log/logger.js';
import { AmqpConnection, type AmqpLimits } from './connection.js';
import { adoptReservation, type ListenerReservation } from '../../util/listen.js';

export class AmqpServer {
  private readonly servers: Server[] = [];
  readonly connections = new Set<AmqpConnection>();
  port = 0;

  constructor(
    private readonly core: BrokerCore,
    private readonly limits: AmqpLimits,
    private readonly logger: Logger,
  ) {}

  /** serve the addresses reserved for AMQP (see util/listen.ts) */
  async listen(reservation: ListenerReservation): Promise<number> {
    const listening = await adoptReservation(reservation, () => createServer((socket) => this.accept(socket)), (l) => this.logger.error(l));
    this.servers.push(...listening.servers);
    this.port = listening.port;
    return listening.port;
  }

  private accept(socket: Socket): void {
    const connection = new AmqpConnection(socket, this.core, this.limits, this.logger, (c) => this.gone(c));
    this.connections.add(connection);
    this.core.clients.add(connection);
    this.core.stats.counters.connectionCreated++;
  }

  private gone(connection: AmqpConnection): void {
    this.connections.delete(connection);
    this.core.clients.delete(connection);
    this.core.stats.counters.connectionClosed++;
  }

  setBlocked(reason: string | null): void {
    for (const c of this.connections) c.setBlocked(reason);
  }

  /** stop accepting, close every connection with 320 CONNECTION_FORCED, wait for sockets to go */
  async close(): Promise<void> {
    for (const s of this.servers) s.close();
    for (const c of this.connections) c.forceClose('broker forced connection closure with reason \'shutdown\'');
    const deadline = Date.now() + 2000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.connections) c.socket.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
