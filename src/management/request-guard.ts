/**
 * What the management API refuses before it looks at credentials, because a browser can be made to send it:
 *
 * - DNS rebinding: a page on `evil.example` whose name then resolves to 127.0.0.1 reaches the API with
 *   `Host: evil.example` (and, with the default guest account, passes basic auth). A request is served only
 *   when its Host names the broker: an IP address literal (a browser only sends one when the user typed the
 *   address), `localhost` or a `*.localhost` name, this machine's host name, `--advertised-host`, or a name
 *   in `--http-allowed-hosts` (`*` there turns the check off, for a broker behind a proxy that rewrites Host).
 * - Cross-site requests (CSRF): a page on another site can auto-submit a form (`text/plain`,
 *   `application/x-www-form-urlencoded`, `multipart/form-data`, none of which needs a CORS preflight) while
 *   the browser holds basic credentials for the API. A state-changing request (anything but GET and HEAD) is
 *   refused when `Sec-Fetch-Site` says it comes from another site (`cross-site`, or `same-site`: another
 *   port of the same host is another origin), or when its `Origin` is not the origin it was sent to; and
 *   every request body must be `application/json` (415 otherwise, as RabbitMQ's API answers): a JSON body
 *   from another origin needs a preflight, which the API never grants.
 *
 * Tools that are not browsers (curl, rabbitmqadmin, Terraform, the CLI) send no Origin or Sec-Fetch-Site
 * and pass; they must send `Content-Type: application/json` with a body, as RabbitMQ requires too.
 */
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { Errors } from '../errors/errors.js';
import { apiError, type ApiError } from './router.js';

export interface RequestGuardOptions {
  /** names accepted in Host besides the built-in ones; ['*'] accepts any */
  readonly allowedHosts: readonly string[];
  /** the Kafka listener's advertised host (a name clients already use for this broker), '' = none */
  readonly advertisedHost: string;
}

/** The methods a form or a page can use to change something (HEAD and GET only read). */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

export class RequestGuard {
  private readonly names: ReadonlySet<string>;
  private readonly anyHost: boolean;

  constructor(options: RequestGuardOptions) {
    const names = new Set<string>(['localhost']);
    const own = hostname().toLowerCase();
    names.add(own);
    // the short name too: `broker1` for `broker1.example.com`
    if (own.includes('.')) names.add(own.slice(0, own.indexOf('.')));
    if (options.advertisedHost !== '') names.add(options.advertisedHost.toLowerCase());
    for (const name of options.allowedHosts) if (name !== '*' && name !== '') names.add(name.toLowerCase());
    this.names = names;
    this.anyHost = options.allowedHosts.includes('*');
  }

  /** the refusal for this request, or null when it may go on to authentication and its route */
  check(req: IncomingMessage, hasBody: boolean): ApiError | null {
    const host = req.headers.host;
    if (host !== undefined && !this.anyHost && !this.isOwnHost(host)) {
      return apiError(Errors.ACCESS_REFUSED, `Host '${host}' is not a name of this broker (add it to --http-allowed-hosts)`);
    }
    const method = req.method ?? 'GET';
    if (SAFE_METHODS.has(method)) return null;
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') return apiError(Errors.ACCESS_REFUSED, `cross-origin ${method} refused (Sec-Fetch-Site: ${site})`);
    const origin = req.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, host)) return apiError(Errors.ACCESS_REFUSED, `cross-origin ${method} refused (Origin: ${origin})`);
    if (hasBody && !isJsonContentType(req.headers['content-type'])) {
      return apiError(Errors.UNSUPPORTED_MEDIA_TYPE, `request body must be application/json (Content-Type: ${req.headers['content-type'] ?? 'none'})`);
    }
    return null;
  }

  private isOwnHost(host: string): boolean {
    const name = hostName(host);
    if (name === null) return false;
    if (isIP(name) !== 0) return true;
    return this.names.has(name) || name.endsWith('.localhost');
  }
}

/** the name or address of a Host header value (`[::1]:15672` → `::1`), lower-cased; null when malformed */
function hostName(host: string): string | null {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? null : h.slice(1, end);
  }
  const colon = h.indexOf(':');
  if (colon >= 0 && h.indexOf(':', colon + 1) >= 0) return h; // a bare IPv6 address
  return colon < 0 ? h : h.slice(0, colon);
}

/** `Origin: http://127.0.0.1:15672` against `Host: 127.0.0.1:15672` (scheme aside: the listener decides it) */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || origin === 'null') return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  const originHost = `${url.hostname}:${url.port === '' ? defaultPort : url.port}`;
  const name = hostName(host);
  if (name === null) return false;
  const portAt = host.lastIndexOf(':');
  const hostPort = host.trim().endsWith(']') || portAt < 0 || (isIP(name) === 6 && !host.includes('[')) ? defaultPort : host.slice(portAt + 1).trim();
  const bracketed = isIP(name) === 6 ? `[${name}]` : name;
  return originHost.toLowerCase() === `${bracketed}:${hostPort}`;
}

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const type = value.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
