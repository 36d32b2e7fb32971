/**
 * The AMQP listeners: one TCP server per configured address (and one TLS server per address for amqps),
 * one AmqpConnection per socket. A TLS connection is handed over once its TLS handshake is done (bounded
 * by --tls-handshake-timeout), as a TLSSocket, which the connection uses as any socket; the AMQP handshake
 * timer starts then.
 */
import { SHARED_READ_BUFFER_BYTES, sharedReadsEnabled } from '../../util/shared-read-buffer.js';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { certificateUser, type TlsCertificates } from '../../util/tls.js';
import type { BrokerCore } from '../../core/core.js';
import type { Logger } from '../../log/logger.js';
import { AmqpConnection, type AmqpLimits } from './connection.js';
import { adoptReservation, type ListenerReservation } from '../../util/listen.js';

export class AmqpServer {
  /**
   * One read buffer for every socket of the listener (util/shared-read-buffer.ts): a read no longer brings a
   * fresh 64 KiB of memory, whose external-memory accounting started a full mark-compact every ~150 ms at
   * 5,000 msg/s and set the p99 of delivery latency (bench/results/2026-12-07-amqp-shared-reads.md).
   * Null with POSTBOX_SOCKET_READS=stream: 'data' events.
   */
  private readonly readBuffer = sharedReadsEnabled() ? Buffer.allocUnsafe(SHARED_READ_BUFFER_BYTES) : null;
  private readonly servers: Server[] = [];
  readonly connections = new Set<AmqpConnection>();
  port = 0;
  /** the amqps port (0: not listening) */
  tlsPort = 0;

  constructor(
    private readonly core: BrokerCore,
    private readonly limits: AmqpLimits,
    private readonly logger: Logger,
  ) {}

  /** serve the addresses reserved for AMQP (see util/listen.ts) */
  async listen(reservation: ListenerReservation): Promise<number> {
    const listening = await adoptReservation(
      reservation,
      () => createServer((socket) => this.accept(socket)),
      (l) => this.logger.error(l),
    );
    this.servers.push(...listening.servers);
    this.port = listening.port;
    return listening.port;
  }

  /** serve the addresses reserved for AMQP over TLS */
  async listenTls(reservation: ListenerReservation, tls: TlsCertificates): Promise<number> {
    const listening = await adoptReservation(
      reservation,
      () =>
        tls.listener(
          createTlsServer(tls.serverOptions(), (socket) => this.accept(socket, certificateUser(socket))),
          'AMQP over TLS',
          (line) => this.logger.warn(line),
        ),
      (l) => this.logger.error(l),
    );
    this.servers.push(...listening.servers);
    this.tlsPort = listening.port;
    return listening.port;
  }

  /** `certificateUser`: the CN of the client's verified certificate (TLS with --tls-verify-peer): EXTERNAL is offered */
  private accept(socket: Socket, certificateUser: string | null = null): void {
    const connection = new AmqpConnection(socket, this.core, this.limits, this.logger, (c) => this.gone(c), certificateUser, this.readBuffer);
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
    for (const c of this.connections) c.forceClose("broker forced connection closure with reason 'shutdown'");
    const deadline = Date.now() + 2000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.connections) c.socket.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
