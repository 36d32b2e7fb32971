/**
 * The management API's routing: a table of routes (method + path template) with one handler each, and the
 * helpers handlers share (vhost lookup, tag checks, errors). Handlers are functions of a parsed request,
 * synchronous or async (when they wait, e.g. for an fsync); node:http details stay in http.ts. Errors are
 * data: a handler throws an ApiError (apiError(Errors.X, reason)) or lets the core's BrokerError through;
 * either is answered with its registry definition's HTTP status.
 */
import type { UserConfig } from '../config/config.js';
import type { BrokerCore } from '../core/core.js';
import type { StreamStore } from '../core/stream/topics.js';
import type { GroupCoordinator } from '../core/stream/groups.js';
import type { VirtualHost } from '../core/vhost.js';
import { BrokerError, Errors, type ErrorDef } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import type { AlertEngine } from './alerts.js';
import type { RequestGuard } from './request-guard.js';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface ListenerInfo {
  readonly protocol: 'amqp' | 'amqp/ssl' | 'http' | 'https' | 'kafka' | 'kafka/ssl' | 'http/prometheus';
  readonly ip_address: string;
  readonly port: number;
}

/** What handlers may use of the broker around them. */
export interface ManagementContext {
  readonly core: BrokerCore;
  /** Kafka-model topics and consumer groups */
  readonly streams: StreamStore;
  readonly groups: GroupCoordinator;
  readonly logger: Logger;
  readonly productName: string;
  readonly version: string;
  /** this broker's node name, as RabbitMQ's `rabbit@host` */
  readonly node: string;
  /** the disk alarm's limit, bytes (RabbitMQ's disk_free_limit), for /api/nodes */
  readonly diskFreeLimitBytes?: number;
  /** the alert rules and their states (absent: the routes answer 404) */
  readonly alerts?: AlertEngine;
  /** refuses what a browser can be made to send (DNS rebinding, cross-site requests); absent = no such checks */
  readonly guard?: RequestGuard;
  /** the vhost whose permissions apply to Kafka topics and groups (--kafka-vhost); absent: '/' */
  readonly kafkaVhost?: string;
  /** GET /metrics (and /metrics/per-object, /metrics/detailed, on every port) needs credentials (--metrics-require-auth) */
  readonly metricsRequireAuth?: boolean;
  /** rabbitmq_identity_info's rabbitmq_cluster_permanent_id (metrics-rabbitmq.ts: clusterPermanentId) */
  readonly clusterPermanentId?: string;
  listeners(): readonly ListenerInfo[];
}

export interface ApiRequest {
  readonly method: HttpMethod;
  /** path parameters by name, URL-decoded (`%2F` is `/`) */
  readonly params: Readonly<Record<string, string>>;
  /** the authenticated user */
  readonly user: UserConfig;
  /** the query string's parameters */
  readonly query: URLSearchParams;
  /** a request header's value (case-insensitive name), undefined when absent */
  header(name: string): string | undefined;
  /** true when the request carried a body */
  readonly hasBody: boolean;
  /** the body parsed as JSON; a BAD_REQUEST ApiError when it is missing or not JSON */
  json(): unknown;
}

export interface ApiReply {
  readonly status: number;
  /** serialised as JSON; omitted for 204 */
  readonly body?: unknown;
  /** extra response headers (e.g. Location) */
  readonly headers?: Readonly<Record<string, string>>;
  /** sent as is instead of `body` (the dashboard's static files) */
  readonly raw?: RawBody;
  /** a long JSON body written in pieces instead of `body` (listings, definitions export) */
  readonly stream?: JsonStream;
  /** a long non-JSON body written in pieces instead of `body` (the Prometheus exposition) */
  readonly text?: TextStream;
}

/**
 * A text body made lazily, piece by piece (`pieces` is usually a generator that does its work as it is
 * iterated), written in chunks with a turn of the event loop between them and back-pressure from the
 * socket. An empty piece writes nothing: a generator yields one now and then from a long loop of its own
 * to let the writer look at the clock.
 */
export interface TextStream {
  readonly contentType: string;
  readonly pieces: Iterable<string>;
}

/**
 * A JSON document written in pieces, yielding to the event loop between them: `parts` are written in order,
 * a string as it is (JSON punctuation and small values), an array as its elements' JSON joined by commas
 * (the brackets around them are parts of their own).
 */
export interface JsonStream {
  readonly parts: ReadonlyArray<string | readonly unknown[]>;
}

/** A non-JSON reply body: bytes with their content type and any extra headers. */
export interface RawBody {
  readonly contentType: string;
  readonly bytes: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (request: ApiRequest, context: ManagementContext) => ApiReply | Promise<ApiReply>;

export interface Route {
  readonly method: HttpMethod;
  /** e.g. `/api/policies/:vhost/:name`; `:x` segments are parameters */
  readonly path: string;
  readonly handler: Handler;
  /** served without credentials (the dashboard's page and assets); the handler gets ANONYMOUS_USER */
  readonly public?: boolean;
}

/** The `user` of a request to a public route: no vhosts, no tags, so it may do nothing a user needs rights for. */
export const ANONYMOUS_USER: UserConfig = Object.freeze({ name: '', password: '', vhosts: [], loopbackOnly: true, tags: [] });

/**
 * A failure the management API answers with: a registry definition (its `http` is the status sent), the
 * reason, and any response headers it needs (WWW-Authenticate on a 401, Allow on a 405). There is no way to
 * answer with a bare status: a new kind of failure is a new entry in src/errors/errors.ts.
 */
export class ApiError extends BrokerError {
  constructor(
    errorDef: ErrorDef,
    reason: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(errorDef, reason);
    this.name = 'ApiError';
  }
}

/** RabbitMQ-style `error` names by HTTP status */
const ERROR_NAMES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'not_authorised',
  403: 'access_refused',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  500: 'internal_server_error',
  501: 'not_implemented',
  503: 'service_unavailable',
};

export function errorName(status: number): string {
  return ERROR_NAMES[status] ?? 'error';
}

/** The failure `errorDef` stands for, with this reason (and headers): what handlers throw. */
export function apiError(errorDef: ErrorDef, reason: string, headers?: Readonly<Record<string, string>>): ApiError {
  return new ApiError(errorDef, reason, headers);
}

/**
 * The reply for a thrown error: `{ error, reason }` with the registry definition's HTTP status (an ApiError
 * or a BrokerError from the core); anything else is a bug, answered as the registry's INTERNAL_ERROR.
 */
export function errorReply(err: unknown): { status: number; body: { error: string; reason: string }; headers: Readonly<Record<string, string>>; code: string } {
  if (err instanceof BrokerError) {
    return {
      status: err.def.http,
      body: { error: errorName(err.def.http), reason: err.message },
      headers: err instanceof ApiError ? err.headers : {},
      code: err.def.code,
    };
  }
  const internal = Errors.INTERNAL_ERROR;
  return { status: internal.http, body: { error: errorName(internal.http), reason: 'internal error' }, headers: {}, code: internal.code };
}

interface CompiledRoute {
  readonly route: Route;
  /** literal segment, or null for a parameter */
  readonly segments: readonly (string | null)[];
  readonly names: readonly string[];
}

export type RouteMatch =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allowed: readonly HttpMethod[] }
  | { readonly kind: 'not-found' };

export class Router {
  private readonly routes: CompiledRoute[];

  constructor(routes: readonly Route[]) {
    this.routes = routes.map((route) => {
      const parts = route.path.split('/').slice(1);
      return {
        route,
        segments: parts.map((p) => (p.startsWith(':') ? null : p)),
        names: parts.filter((p) => p.startsWith(':')).map((p) => p.slice(1)),
      };
    });
  }

  /** `rawPath` is the request path without the query string, still URL-encoded */
  match(method: string, rawPath: string): RouteMatch {
    let parts = rawPath.split('/').slice(1);
    if (parts.length > 1 && parts[parts.length - 1] === '') parts = parts.slice(0, -1); // a trailing slash
    let decoded: string[];
    try {
      // decode each segment on its own so an encoded slash (%2F, the default vhost) stays inside its segment
      decoded = parts.map((p) => decodeURIComponent(p));
    } catch {
      throw apiError(Errors.BAD_REQUEST, `malformed URL encoding in path '${rawPath}'`);
    }
    const allowed: HttpMethod[] = [];
    for (const c of this.routes) {
      if (c.segments.length !== decoded.length) continue;
      if (!c.segments.every((s, i) => s === null || s === decoded[i])) continue;
      if (c.route.method !== method) {
        allowed.push(c.route.method);
        continue;
      }
      const params: Record<string, string> = {};
      let n = 0;
      c.segments.forEach((s, i) => {
        if (s === null) params[c.names[n++]!] = decoded[i]!;
      });
      return { kind: 'found', route: c.route, params };
    }
    return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
  }
}

// ---------------------------------------------------------------- helpers for handlers

/** The vhost named in the path: 404 when it does not exist, 403 when the user may not use it. */
export function vhostFor(context: ManagementContext, user: UserConfig, name: string): VirtualHost {
  const vhost = context.core.vhosts.get(name);
  if (vhost === undefined) throw apiError(Errors.NOT_FOUND, `no vhost '${name}'`);
  if (context.core.vhostFor(user, name) === undefined) throw apiError(Errors.ACCESS_REFUSED, `user '${user.name}' has no access to vhost '${name}'`);
  return vhost;
}

/**
 * Tags that open the management API (RabbitMQ's): management sees the vhosts it may use, policymaker also
 * changes policies, monitoring also sees every connection and the node, administrator does everything.
 */
export const MANAGEMENT_TAGS: readonly string[] = ['management', 'policymaker', 'monitoring', 'administrator'];
/** Tags that see every connection, channel and the node (RabbitMQ's monitoring includes administrator). */
export const MONITORING_TAGS: readonly string[] = ['monitoring', 'administrator'];
/** Users, vhosts, permissions, definitions: administrators only. */
export const ADMINISTRATOR_TAGS: readonly string[] = ['administrator'];

/** 403 unless the user has a tag that opens the management API (every authenticated, non-public route). */
export function requireManagementTag(user: UserConfig): void {
  if (!user.tags.some((t) => MANAGEMENT_TAGS.includes(t))) {
    throw apiError(Errors.ACCESS_REFUSED, `user '${user.name}' may not use the management API: needs one of the tags ${MANAGEMENT_TAGS.join(', ')}`);
  }
}

export function hasTag(user: UserConfig, tags: readonly string[]): boolean {
  return user.tags.some((t) => tags.includes(t));
}

/** 403 unless the user has one of the tags. */
export function requireTag(user: UserConfig, tags: readonly string[], action: string): void {
  if (!user.tags.some((t) => tags.includes(t))) {
    throw apiError(Errors.ACCESS_REFUSED, `user '${user.name}' may not ${action}: needs the ${tags.join(' or ')} tag`);
  }
}

/** The request body as a JSON object, 400 otherwise. */
export function jsonObject(request: ApiRequest): Record<string, unknown> {
  const body = request.json();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw apiError(Errors.BAD_REQUEST, 'request body must be a JSON object');
  return body as Record<string, unknown>;
}
