/**
 * Listen on every configured address with one port: the first bound port is reused for the others when
 * port 0 (ephemeral) was asked for. An address family the machine lacks (no IPv6) is skipped with a
 * warning when another address is listening. Works for net and http servers alike.
 */
import type { Server } from 'node:net';

export interface Listening<S extends Server> {
  readonly servers: S[];
  /** the addresses actually listened on */
  readonly hosts: string[];
  readonly port: number;
}

export async function listenOnAll<S extends Server>(
  label: string,
  hosts: readonly string[],
  port: number,
  create: () => S,
  warn: (line: string) => void,
  error: (line: string) => void,
): Promise<Listening<S>> {
  const servers: S[] = [];
  const bound: string[] = [];
  let actual = port;
  for (const host of hosts) {
    const server = create();
    try {
      actual = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: actual }, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(typeof address === 'object' && address !== null ? address.port : actual);
        });
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if ((e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT') && hosts.length > 1) {
        warn(`${label}: cannot listen on ${host}: ${e.message}; skipping`);
        continue;
      }
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      throw err;
    }
    const at = `${host}:${actual}`;
    server.on('error', (err) => error(`${label} listener ${at}: ${err.message}`));
    servers.push(server);
    bound.push(host);
  }
  if (servers.length === 0) throw new Error(`${label}: no address could be listened on`);
  return { servers, hosts: bound, port: actual };
}
