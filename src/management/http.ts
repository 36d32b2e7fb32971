/**
 * The management HTTP listener (node:http only): one server per configured address, HTTP basic auth against
 * the broker's users (the loopback-only rule applies, as for AMQP), JSON in and out, and dispatch through the
 * route table. Resources add routes in their own module (policies.ts, queues.ts, ...) and list them in ROUTES.
 * Every route but the public ones (the dashboard's files) needs a user with a management tag (router.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TlsCertificates } from '../util/tls.js';
import type { UserConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { isLoopbackAddress } from '../util/net.js';
import { overviewRoutes } from './overview.js';
import { policyRoutes } from './policies.js';
import { queueRoutes } from './queues.js';
import { exchangeRoutes } from './exchanges.js';
import { bindingRoutes } from './bindings.js';
import { connectionRoutes } from './connections.js';
import { accessControlRoutes } from './access-control.js';
import { definitionRoutes } from './definitions.js';
import { streamRoutes } from './streams.js';
import { streamMessageRoutes } from './stream-messages.js';
import { uiRoutes } from './ui.js';
import { alertRoutes } from './alerts.js';
import { METRICS_PATHS, metricsRoutes } from './metrics.js';
import { Errors } from '../errors/errors.js';
import {
  ANONYMOUS_USER,
  apiError,
  requireManagementTag,
  errorReply,
  Router,
  type ApiReply,
  type ApiRequest,
  type HttpMethod,
  type JsonStream,
  type ManagementContext,
  type Route,
  type TextStream,
} from './router.js';
import { Slicer } from './listing.js';
import { adoptReservation, type ListenerReservation } from '../util/listen.js';

/** Every route the API serves. */
export const ROUTES: readonly Route[] = [
  ...overviewRoutes,
  ...policyRoutes,
  ...queueRoutes,
  ...exchangeRoutes,
  ...bindingRoutes,
  ...connectionRoutes,
  ...accessControlRoutes,
  ...definitionRoutes,
  ...streamRoutes,
  ...streamMessageRoutes,
  ...alertRoutes,
  ...metricsRoutes,
  ...uiRoutes(() => ROUTES),
];

/** Largest piece of a streamed JSON reply, bytes (about; a piece ends after the row that passes it). */
const STREAM_PIECE_BYTES = 64 * 1024;
/** Largest request body accepted, bytes: policies and definitions are small; anything bigger is refused (413). */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/** The realm in the WWW-Authenticate header of a 401. */
const AUTH_REALM = 'Postbox Management';

const METHODS: ReadonlySet<string> = new Set<HttpMethod>(['GET', 'PUT', 'POST', 'DELETE']);

/** What the Prometheus listener (--prometheus-port, RabbitMQ's 15692) serves: the metrics, nothing else. */
export const PROMETHEUS_ROUTES: readonly Route[] = metricsRoutes;

export class ManagementServer {
  private readonly servers: Server[] = [];
  private readonly router: Router;
  /** the hosts actually listened on */
  readonly boundHosts: string[] = [];
  port = 0;
  /** the HTTPS port (0: not listening) */
  tlsPort = 0;

  /** serves only some routes (the Prometheus port): any other path is a 404, credentials or not */
  private readonly partial: boolean;

  /** `routes`: what this listener serves (the whole API by default; PROMETHEUS_ROUTES for the Prometheus port) */
  constructor(
    private readonly context: ManagementContext,
    routes: readonly Route[] = ROUTES,
  ) {
    this.router = new Router(routes);
    this.partial = routes !== ROUTES;
  }

  private get logger(): Logger {
    return this.context.logger;
  }

  /** serve the addresses reserved for the management API (see util/listen.ts) */
  async listen(reservation: ListenerReservation): Promise<number> {
    const listening = await adoptReservation(
      reservation,
      () => createServer((req, res) => this.handle(req, res)),
      (l) => this.logger.error(l),
    );
    this.servers.push(...listening.servers);
    this.boundHosts.push(...listening.hosts);
    this.port = listening.port;
    return listening.port;
  }

  /** serve the addresses reserved for the management API over TLS (HTTPS) */
  async listenTls(reservation: ListenerReservation, tls: TlsCertificates): Promise<number> {
    const listening = await adoptReservation(
      reservation,
      () =>
        tls.listener(
          createHttpsServer(tls.serverOptions(), (req, res) => this.handle(req, res)),
          'management HTTP API over TLS',
          (line) => this.logger.warn(line),
        ),
      (l) => this.logger.error(l),
    );
    this.servers.push(...listening.servers);
    this.tlsPort = listening.port;
    return listening.port;
  }

  /** stop accepting and drop every connection (idle keep-alive ones included) */
  async close(): Promise<void> {
    const closing = this.servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    );
    this.servers.length = 0;
    await Promise.all(closing);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) {
        refused = true;
        res.setHeader('Connection', 'close');
        const reply = errorReply(apiError(Errors.REQUEST_TOO_LARGE, `request body larger than ${MAX_REQUEST_BODY_BYTES} bytes`));
        this.logger.debug(() => `http ${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]} → ${reply.status} ${reply.code}`);
        this.send(res, reply);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) void this.dispatch(req, res, Buffer.concat(chunks));
    });
    req.on('error', (err) => this.logger.debug(`http request error: ${err.message}`));
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    let reply: ApiReply & { headers?: Readonly<Record<string, string>> };
    /** the registry code of a failure, for the log line */
    let failure = '';
    try {
      const refused = this.context.guard?.check(req, body.length > 0);
      if (refused !== undefined && refused !== null) throw refused;
      const match = this.router.match(method, path);
      const isPublic =
        match.kind === 'found' && match.route.public === true && !(METRICS_PATHS.includes(match.route.path) && this.context.metricsRequireAuth === true);
      if (this.partial && match.kind === 'not-found')
        throw apiError(Errors.NOT_FOUND, 'Not Found (this port serves /metrics, /metrics/per-object and /metrics/detailed)');
      const user = isPublic ? ANONYMOUS_USER : await this.authenticate(req);
      if (match.kind === 'not-found' || !METHODS.has(method)) throw apiError(Errors.NOT_FOUND, 'Not Found');
      if (match.kind === 'method-not-allowed') throw apiError(Errors.METHOD_NOT_ALLOWED, `method ${method} not allowed`, { Allow: match.allowed.join(', ') });
      if (!isPublic) requireManagementTag(user);
      const request: ApiRequest = {
        method: method as HttpMethod,
        params: match.params,
        user,
        query: new URLSearchParams(query < 0 ? '' : url.slice(query + 1)),
        header: (name) => headerValue(req, name),
        hasBody: body.length > 0,
        json: () => parseJson(body),
      };
      reply = await match.route.handler(request, this.context);
      // a change of definitions is answered once it is durable: the journal records the handler wrote are
      // synced by the next group-commit round (shared with every other declaration), never on the event loop
      if (method !== 'GET') await this.context.core.definitionsSettled();
    } catch (err) {
      const refusal = errorReply(err);
      reply = refusal;
      failure = ` ${refusal.code}`;
      if (reply.status >= 500) this.logger.error(`http ${method} ${path}: ${(err as Error)?.stack ?? String(err)}`);
    }
    this.logger.debug(() => `http ${method} ${path} → ${reply.status}${failure}`);
    this.send(res, reply);
  }

  /**
   * The user named in the basic-auth header, or a 401. A request without credentials is a challenge, not a
   * failed login; a wrong or malformed pair goes through the login guard (core/login-guard.ts): logged per
   * source, and answered after a delay once the source has failed often.
   */
  private authenticate(req: IncomingMessage): Promise<UserConfig> {
    const challenge = { 'WWW-Authenticate': `Basic realm="${AUTH_REALM}"` };
    const header = req.headers.authorization;
    if (header === undefined || !/^basic /i.test(header))
      return Promise.reject(apiError(Errors.UNAUTHORIZED, 'authentication required (HTTP basic auth)', challenge));
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = colon < 0 ? '' : decoded.slice(0, colon);
    const fromLoopback = isLoopbackAddress(req.socket.remoteAddress);
    return new Promise((resolve, reject) => {
      let answered = false;
      let cancel = (): void => {};
      const onClose = (): void => cancel();
      cancel = this.context.core.logins.attempt(
        { source: req.socket.remoteAddress, protocol: 'HTTP', mechanism: 'basic', user: name },
        () => (colon < 0 ? undefined : this.context.core.authenticate(name, decoded.slice(colon + 1), fromLoopback)),
        (user, reason) => {
          answered = true;
          req.socket.off('close', onClose);
          if (user !== undefined) resolve(user);
          else if (colon < 0) reject(apiError(Errors.UNAUTHORIZED, 'malformed basic auth credentials', challenge));
          else if (reason === 'busy') reject(apiError(Errors.UNAUTHORIZED, 'too many failed logins from your address: try again in a few seconds', challenge));
          else reject(apiError(Errors.UNAUTHORIZED, `login failed for user '${name}'`, challenge));
        },
      );
      // a client that hangs up while its answer is held costs nothing more
      if (!answered) req.socket.once('close', onClose);
    });
  }

  private sendStream(res: ServerResponse, status: number, stream: JsonStream): Promise<void> {
    return writeStream(res, status, stream).catch((err: unknown) => {
      this.logger.error(`http: writing a streamed reply failed: ${(err as Error)?.stack ?? String(err)}`);
      res.destroy();
    });
  }

  private send(res: ServerResponse, reply: ApiReply & { headers?: Readonly<Record<string, string>> }): void {
    if (res.headersSent) return;
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
    res.setHeader('Cache-Control', 'no-cache');
    if (reply.raw !== undefined) {
      for (const [k, v] of Object.entries(reply.raw.headers ?? {})) res.setHeader(k, v);
      res.writeHead(reply.status, { 'Content-Type': reply.raw.contentType, 'Content-Length': reply.raw.bytes.byteLength });
      res.end(reply.raw.bytes);
      return;
    }
    if (reply.stream !== undefined) {
      void this.sendStream(res, reply.status, reply.stream);
      return;
    }
    if (reply.text !== undefined) {
      void writeTextStream(res, reply.status, reply.text).catch((err: unknown) => {
        this.logger.error(`http: writing a streamed reply failed: ${(err as Error)?.stack ?? String(err)}`);
        res.destroy();
      });
      return;
    }
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status);
      res.end();
      return;
    }
    const text = JSON.stringify(reply.body, jsonReplacer);
    res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

/**
 * Writes a JsonStream as a chunked response: pieces of at most STREAM_PIECE_BYTES or LISTING_SLICE_MS of
 * stringifying each, one event-loop turn between pieces, and a wait for 'drain' whenever the socket's
 * buffer is full, so a client that reads slowly holds no more than one piece of text.
 */
async function writeStream(res: ServerResponse, status: number, stream: JsonStream): Promise<void> {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  const slicer = new Slicer();
  for (const part of stream.parts) {
    if (typeof part === 'string') {
      res.write(part);
      continue;
    }
    let i = 0;
    while (i < part.length) {
      const pieces: string[] = [];
      let bytes = 0;
      do {
        const text = JSON.stringify(part[i], jsonReplacer) ?? 'null';
        pieces.push(i === 0 ? text : ',' + text);
        bytes += text.length + 1;
        i++;
      } while (i < part.length && bytes < STREAM_PIECE_BYTES && !slicer.due());
      const flushed = res.write(pieces.join(''));
      if (res.destroyed) return;
      if (!flushed) await drainedOrClosed(res);
      else await slicer.next();
      if (res.destroyed) return;
    }
  }
  res.end();
}

/**
 * Writes a TextStream as a chunked response: the pieces are drawn (and so made) within LISTING_SLICE_MS
 * slices and written in chunks of about STREAM_PIECE_BYTES, one event-loop turn between chunks and a wait
 * for 'drain' while the socket's buffer is full: a client that reads slowly holds one chunk of text.
 */
async function writeTextStream(res: ServerResponse, status: number, stream: TextStream): Promise<void> {
  res.writeHead(status, { 'Content-Type': stream.contentType });
  const slicer = new Slicer();
  let chunk: string[] = [];
  let bytes = 0;
  for (const piece of stream.pieces) {
    if (piece.length !== 0) {
      chunk.push(piece);
      bytes += piece.length;
    }
    if (bytes < STREAM_PIECE_BYTES && !slicer.due()) continue;
    if (bytes !== 0) {
      const flushed = res.write(chunk.join(''));
      chunk = [];
      bytes = 0;
      if (res.destroyed) return;
      if (!flushed) await drainedOrClosed(res);
      else await slicer.next();
    } else {
      await slicer.next();
    }
    if (res.destroyed) return;
  }
  res.end(chunk.join(''));
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw apiError(Errors.BAD_REQUEST, 'request body required (JSON)');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw apiError(Errors.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** field-table values JSON lacks: bigints as numbers when safe, bytes as text */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString('utf8');
  }
  return value;
}
