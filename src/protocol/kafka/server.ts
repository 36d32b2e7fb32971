/** The Kafka listener: one TCP server per configured address, one KafkaConnection per socket. */
import { createServer, type Server } from 'node:net';
import type { Logger } from '../../log/logger.js';
import { KafkaConnection, type KafkaBrokerIdentity } from './connection.js';

export interface KafkaServerOptions {
  /** host advertised in Metadata (clients connect to it); defaults to the first listen address */
  readonly advertisedHost: string | null;
  readonly clusterId: string;
}

export class KafkaServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<KafkaConnection>();
  port = 0;
  private advertisedHost = '127.0.0.1';

  constructor(
    private readonly options: KafkaServerOptions,
    private readonly logger: Logger,
  ) {}

  async listen(hosts: readonly string[], port: number): Promise<number> {
    let bound = port;
    for (const host of hosts) {
      const server = createServer((socket) => {
        const c = new KafkaConnection(socket, () => this.identity(), this.logger);
        this.connections.add(c);
        socket.on('close', () => this.connections.delete(c));
      });
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
        if ((e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT') && hosts.length > 1) {
          this.logger.warn(`kafka: cannot listen on ${host}: ${e.message}; skipping`);
          continue;
        }
        throw err;
      }
      server.on('error', (err) => this.logger.error(`kafka listener ${host}:${bound}: ${err.message}`));
      this.servers.push(server);
    }
    if (this.servers.length === 0) throw new Error('kafka: no address could be listened on');
    this.port = bound;
    const first = hosts[0] ?? '127.0.0.1';
    this.advertisedHost = this.options.advertisedHost ?? (first === '0.0.0.0' || first === '::' ? 'localhost' : first);
    return bound;
  }

  private identity(): KafkaBrokerIdentity {
    return { nodeId: 0, host: this.advertisedHost, port: this.port, clusterId: this.options.clusterId };
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
