/** The AMQP listener: one TCP server per configured address, one AmqpConnection per socket. */
import { createServer, type Server, type Socket } from 'node:net';
import type { BrokerCore } from '../../core/core.js';
import type { Logger } from '../../log/logger.js';
import { AmqpConnection, type AmqpLimits } from './connection.js';

export class AmqpServer {
  private readonly servers: Server[] = [];
  readonly connections = new Set<AmqpConnection>();
  port = 0;

  constructor(
    private readonly core: BrokerCore,
    private readonly limits: AmqpLimits,
    private readonly logger: Logger,
  ) {}

  /** listen on every host; the first bound port is reused for the others when port 0 was asked for */
  async listen(hosts: readonly string[], port: number): Promise<number> {
    let bound = port;
    for (const host of hosts) {
      const server = createServer((socket) => this.accept(socket));
      try {
        bound = await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port: bound }, () => {
            server.off('error', reject);
            const address = server.address();
            resolve(typeof address === 'object' && address !== null ? address.port : bound);
          });
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // an address family the machine lacks (no IPv6) is skipped when another address is listening
        if ((e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT') && hosts.length > 1) {
          this.logger.warn(`amqp: cannot listen on ${host}: ${e.message}; skipping`);
          continue;
        }
        throw err;
      }
      server.on('error', (err) => this.logger.error(`amqp listener ${host}:${bound}: ${err.message}`));
      this.servers.push(server);
    }
    if (this.servers.length === 0) throw new Error('amqp: no address could be listened on');
    this.port = bound;
    return bound;
  }

  private accept(socket: Socket): void {
    const connection = new AmqpConnection(socket, this.core, this.limits, this.logger, (c) => this.connections.delete(c));
    this.connections.add(connection);
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
