/**
 * A small client of the management HTTP API for the `postbox` subcommands: where to connect (flags, then
 * environment, then defaults), basic auth, JSON in and out, and one error type carrying the server's reason.
 */
import { once } from 'node:events';
import { Agent, request as httpRequest, type ClientRequest } from 'node:http';
import { DEFAULT_HTTP_PORT } from '../config/config.js';

/** The host the CLI talks to by default (the broker listens on loopback by default). */
export const DEFAULT_CLIENT_HOST = 'localhost';
/** RabbitMQ's default user, which Postbox also creates. */
export const DEFAULT_CLIENT_USER = 'guest';
export const DEFAULT_CLIENT_PASSWORD = 'guest';
/** JSON preferred; anything else accepted, as RabbitMQ answers 406 to a bodiless DELETE that accepts only JSON. */
const ACCEPT = 'application/json, */*;q=0.1';
/** How long one API call may take before the CLI gives up, ms. */
export const REQUEST_TIMEOUT_MS = 15_000;

export interface ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** Flags every API subcommand takes, with their environment variables (documented in docs/cli.md). */
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
export function clientOptions(flags: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>): ClientOptions {
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

/** Called as an upload proceeds: `sent` of `total` bytes handed to the connection. */
export type UploadProgress = (sent: number, total: number) => void;

/** Piece size of an upload with progress, bytes: small enough for a smooth bar, large enough to cost nothing. */
export const UPLOAD_CHUNK_BYTES = 64 * 1024;

interface RawReply {
  readonly status: number;
  readonly text: string;
}

/**
 * Calls the API over node:http with one kept-alive connection, so a bulk publish or consume pays for one TCP
 * handshake, not one per message (fetch costs several times more per request). Idle kept-alive sockets do
 * not hold the process open.
 */
export class ManagementClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly options: ClientOptions) {}

  get baseUrl(): string {
    const h = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${h}:${this.options.port}`;
  }

  /**
   * `path` segments are encoded here: pass them raw, e.g. ['api', 'policies', '/', 'name'].
   * With `onUpload`, the JSON body is written in UPLOAD_CHUNK_BYTES pieces, each after the previous one was
   * taken by the connection, and `onUpload(sent, total)` is called after each: the upload's progress, not
   * the server's. `query` becomes the query string.
   */
  async request(
    method: string,
    segments: readonly string[],
    body?: unknown,
    onUpload?: UploadProgress,
    query?: Readonly<Record<string, string>>,
  ): Promise<ApiResponse> {
    const search = query === undefined || Object.keys(query).length === 0 ? '' : '?' + new URLSearchParams(query).toString();
    const path = '/' + segments.map((s) => encodeURIComponent(s)).join('/') + search;
    const auth = Buffer.from(`${this.options.user}:${this.options.password}`).toString('base64');
    const headers: Record<string, string | number> = { Authorization: `Basic ${auth}`, Accept: ACCEPT };
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    let reply: RawReply;
    try {
      reply = await this.send(method, path, headers, payload, onUpload);
    } catch (err) {
      throw new ClientError(this.unreachable(err as Error & { code?: string }), null);
    }
    let parsed: unknown;
    if (reply.text.length > 0) {
      try {
        parsed = JSON.parse(reply.text);
      } catch {
        throw new ClientError(`${method} ${this.baseUrl}${path}: HTTP ${reply.status} with a body that is not JSON`, reply.status);
      }
    }
    if (reply.status >= 400) {
      const reason = (parsed as { reason?: unknown } | undefined)?.reason;
      throw new ClientError(`${typeof reason === 'string' ? reason : `HTTP ${reply.status}`} (HTTP ${reply.status})`, reply.status);
    }
    return { status: reply.status, body: parsed };
  }

  /** One line on why no HTTP answer came: nothing listening, or something that does not speak HTTP. */
  private unreachable(err: Error & { code?: string }): string {
    const why = err.code ?? err.message;
    // llhttp's parse errors (HPE_*): bytes came back, but not HTTP (an AMQP server answers with its
    // protocol header); a reset or hang-up before any answer: a server that closed on a request it did not understand
    if (why.startsWith('HPE_') || why === 'ECONNRESET') {
      return `${this.baseUrl.slice('http://'.length)} did not answer HTTP (${why}): is it the AMQP or Kafka port? --http-port is the management API's port (default ${DEFAULT_HTTP_PORT})`;
    }
    return `cannot reach the management API at ${this.baseUrl} (${why}): is the broker running, and are --host and --http-port right?`;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string | number>,
    payload: Buffer | undefined,
    onUpload: UploadProgress | undefined,
  ): Promise<RawReply> {
    return new Promise<RawReply>((resolve, reject) => {
      const req = httpRequest(
        { host: this.options.host, port: this.options.port, method, path, headers, agent: this.agent, timeout: REQUEST_TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no reply within ${REQUEST_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      if (payload === undefined) req.end();
      else if (onUpload === undefined) req.end(payload);
      else writeInPieces(req, payload, onUpload).then(() => req.end(), reject);
    });
  }
}

/** Write `payload` piece by piece, waiting for 'drain' whenever the connection's buffer is full. */
async function writeInPieces(req: ClientRequest, payload: Buffer, onUpload: UploadProgress): Promise<void> {
  let offset = 0;
  while (offset < payload.length) {
    const end = Math.min(offset + UPLOAD_CHUNK_BYTES, payload.length);
    const flowing = req.write(payload.subarray(offset, end));
    offset = end;
    if (!flowing) await once(req, 'drain');
    onUpload(offset, payload.length);
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
