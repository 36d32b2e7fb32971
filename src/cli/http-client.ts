/**
 * A small client of the management HTTP API for the `postbox` subcommands: where to connect (flags, then
 * environment, then defaults), basic auth, JSON in and out, and one error type carrying the server's reason.
 */
import { DEFAULT_HTTP_PORT } from '../config/config.js';

/** The host the CLI talks to by default (the broker listens on loopback by default). */
export const DEFAULT_CLIENT_HOST = 'localhost';
/** RabbitMQ's default user, which Postbox also creates. */
export const DEFAULT_CLIENT_USER = 'guest';
export const DEFAULT_CLIENT_PASSWORD = 'guest';
/** How long one API call may take before the CLI gives up, ms. */
export const REQUEST_TIMEOUT_MS = 15_000;

export interface ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** Flags every API subcommand takes, with their environment variables (documented in docs/policies.md). */
export const CONNECTION_FLAGS = [
  { flag: 'host', env: 'POSTBOX_HOST', doc: `management API host (default ${DEFAULT_CLIENT_HOST}; the first address when the env var lists several)` },
  { flag: 'http-port', env: 'POSTBOX_HTTP_PORT', doc: `management API port (default ${DEFAULT_HTTP_PORT})` },
  { flag: 'user', env: 'POSTBOX_USER', doc: `user name (default ${DEFAULT_CLIENT_USER})` },
  { flag: 'password', env: 'POSTBOX_PASSWORD', doc: `password (default ${DEFAULT_CLIENT_PASSWORD})` },
] as const;

/** A failed call: the server's reason (from its `{ error, reason }` body) or why the server could not be reached. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/** A wrong flag or argument: the command prints the usage and exits 2. */
export class UsageError extends Error {}

/** Resolve connection options: flag > env var > default. */
export function clientOptions(flags: Readonly<Record<string, string | boolean | undefined>>, env: Readonly<Record<string, string | undefined>>): ClientOptions {
  const pick = (flag: string, envName: string, fallback: string): string => {
    const f = flags[flag];
    if (typeof f === 'string') return f;
    const e = env[envName];
    return e !== undefined && e !== '' ? e : fallback;
  };
  // the server's POSTBOX_HOST may list several listen addresses, including wildcards: use the first, as loopback
  let host = pick('host', 'POSTBOX_HOST', DEFAULT_CLIENT_HOST).split(',')[0]!.trim();
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const portText = pick('http-port', 'POSTBOX_HTTP_PORT', String(DEFAULT_HTTP_PORT));
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--http-port must be a port 1..65535, got '${portText}'`);
  return { host, port, user: pick('user', 'POSTBOX_USER', DEFAULT_CLIENT_USER), password: pick('password', 'POSTBOX_PASSWORD', DEFAULT_CLIENT_PASSWORD) };
}

export interface ApiResponse {
  readonly status: number;
  /** the parsed JSON body, or undefined when there was none */
  readonly body: unknown;
}

export class ManagementClient {
  constructor(private readonly options: ClientOptions) {}

  get baseUrl(): string {
    const h = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${h}:${this.options.port}`;
  }

  /** `path` segments are encoded here: pass them raw, e.g. ['api', 'policies', '/', 'name'] */
  async request(method: string, segments: readonly string[], body?: unknown): Promise<ApiResponse> {
    const url = this.baseUrl + '/' + segments.map((s) => encodeURIComponent(s)).join('/');
    const auth = Buffer.from(`${this.options.user}:${this.options.password}`).toString('base64');
    const headers: Record<string, string> = { Authorization: `Basic ${auth}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ClientError(`cannot reach the management API at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, null);
    }
    const text = await response.text();
    let parsed: unknown;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ClientError(`${method} ${url}: HTTP ${response.status} with a body that is not JSON`, response.status);
      }
    }
    if (response.status >= 400) {
      const reason = (parsed as { reason?: unknown } | undefined)?.reason;
      throw new ClientError(`${typeof reason === 'string' ? reason : `HTTP ${response.status}`} (HTTP ${response.status})`, response.status);
    }
    return { status: response.status, body: parsed };
  }
}

/** Render rows as a left-aligned text table with a header line. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
