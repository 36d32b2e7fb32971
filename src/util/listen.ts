/**
 * Listening in two steps, so a broker that cannot listen stops before it touches its data directory:
 *
 * 1. reserveListener() binds every configured address of one listener (AMQP, HTTP, Kafka) with one port:
 *    the first bound port is reused for the others when port 0 (ephemeral) was asked for. An address family
 *    the machine lacks (no IPv6) is skipped with a warning when another address is listening. Any other
 *    failure (a port in use, a privileged port) is a ListenError naming the listener, the address and the
 *    flag that sets its port, and every socket bound so far is closed. The broker reserves all its
 *    listeners before it opens storage.
 * 2. adoptReservation() hands each bound socket to the real server (net or http) once the broker is
 *    ready, with Node's documented `server.listen(handle)`. A client that connects in between (during
 *    recovery) is held, unread, and given to the real server then, as a kernel backlog would hold it.
 *
 * An IPv6 address is bound IPv6-only when an IPv4 address is in the same list (`--host 0.0.0.0,::`):
 * Linux binds `::` dual-stack by default, which takes the IPv4 port too and makes the 0.0.0.0 bind fail
 * with EADDRINUSE. `::` alone stays dual-stack, as Node binds it.
 */
import { isIPv4, isIPv6, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { StartupError } from './startup-error.js';

/** Clients held while the broker recovers, per address: beyond it, one is dropped (it sees a reset). */
export const MAX_HELD_CONNECTIONS = 1024;

/** A listener could not bind one of its addresses. */
export class ListenError extends StartupError {
  constructor(
    readonly label: string,
    readonly flag: string,
    readonly host: string,
    readonly port: number,
    readonly code: string | undefined,
    reason: string,
  ) {
    super(`cannot listen for ${label} on ${hostPort(host, port)} (${flag}): ${reason}`);
    this.name = 'ListenError';
  }
}

/** `127.0.0.1:5672`, `[::1]:5672` */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'no such address on this machine',
  EAFNOSUPPORT: 'address family not supported on this machine',
  ENOTFOUND: 'unknown host name',
  EAI_AGAIN: 'host name could not be resolved',
};

function reasonOf(err: NodeJS.ErrnoException): string {
  return (err.code !== undefined ? REASONS[err.code] : undefined) ?? err.message;
}

/** true when `host` must be bound IPv6-only so the IPv4 addresses in `hosts` can be bound beside it */
export function needsIpv6Only(host: string, hosts: readonly string[]): boolean {
  return isIPv6(host) && hosts.some((h) => isIPv4(h));
}

function ignoreHeldError(): void {}

interface HeldAddress {
  readonly host: string;
  readonly server: Server;
  readonly held: Socket[];
}

export interface ListenerReservation {
  /** e.g. 'AMQP' */
  readonly label: string;
  /** e.g. '--amqp-port' */
  readonly flag: string;
  /** the addresses actually bound */
  readonly hosts: readonly string[];
  readonly port: number;
  /** close the bound sockets (and any held client) when the broker gives up starting */
  cancel(): Promise<void>;
}

class Reservation implements ListenerReservation {
  adopted = false;
  constructor(
    readonly label: string,
    readonly flag: string,
    readonly port: number,
    readonly addresses: HeldAddress[],
  ) {}

  get hosts(): readonly string[] {
    return this.addresses.map((a) => a.host);
  }

  async cancel(): Promise<void> {
    if (this.adopted) return;
    this.adopted = true;
    await closeAddresses(this.addresses);
  }
}

async function closeAddresses(addresses: readonly HeldAddress[]): Promise<void> {
  for (const a of addresses) for (const s of a.held) s.destroy();
  await Promise.all(addresses.map((a) => new Promise<void>((r) => a.server.close(() => r()))));
}

/** Bind `port` on every one of `hosts` for one listener (step 1 above). */
export async function reserveListener(
  label: string,
  flag: string,
  hosts: readonly string[],
  port: number,
  warn: (line: string) => void,
): Promise<ListenerReservation> {
  const addresses: HeldAddress[] = [];
  let actual = port;
  for (const host of hosts) {
    const held: Socket[] = [];
    const server = createNetServer({ pauseOnConnect: true }, (socket) => {
      if (held.length >= MAX_HELD_CONNECTIONS) {
        socket.destroy();
        return;
      }
      // a held client that resets must not be an uncaught error; the real server brings its own handlers
      socket.on('error', ignoreHeldError);
      held.push(socket);
    });
    try {
      actual = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: actual, ipv6Only: needsIpv6Only(host, hosts) }, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(typeof address === 'object' && address !== null ? address.port : actual);
        });
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if ((e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT') && hosts.length > 1) {
        warn(`${label}: cannot listen on ${host}: ${reasonOf(e)}; skipping`);
        continue;
      }
      await closeAddresses(addresses);
      throw new ListenError(label, flag, host, actual, e.code, reasonOf(e));
    }
    server.on('error', () => {});
    addresses.push({ host, server, held });
  }
  if (addresses.length === 0) throw new ListenError(label, flag, hosts.join(','), port, undefined, 'no address could be listened on');
  return new Reservation(label, flag, actual, addresses);
}

export interface Listening<S extends Server> {
  readonly servers: S[];
  /** the addresses actually listened on */
  readonly hosts: string[];
  readonly port: number;
}

/** Serve the reserved addresses with servers made by `create` (step 2 above). */
export async function adoptReservation<S extends Server>(
  reservation: ListenerReservation,
  create: () => S,
  error: (line: string) => void,
): Promise<Listening<S>> {
  if (!(reservation instanceof Reservation) || reservation.adopted) throw new Error(`${reservation.label}: reservation already used`);
  reservation.adopted = true;
  const servers: S[] = [];
  for (const address of reservation.addresses) {
    const server = create();
    // Node's documented listen(handle): the new server takes over the bound socket; the reserving server
    // is dropped without close(), which would close that socket
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.server, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const at = hostPort(address.host, reservation.port);
    server.on('error', (err) => error(`${reservation.label} listener ${at}: ${err.message}`));
    for (const socket of address.held.splice(0)) {
      if (socket.destroyed) continue;
      socket.off('error', ignoreHeldError);
      server.emit('connection', socket);
      socket.resume();
    }
    servers.push(server);
  }
  return { servers, hosts: [...reservation.hosts], port: reservation.port };
}
