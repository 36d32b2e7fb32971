/**
 * Small helpers the resource modules share: which vhosts a user sees, body fields read with a 400 naming
 * the field, and the owner the management API declares queues with.
 */
import type { UserConfig } from '../config/config.js';
import { accessRefusedText, resourceName, type AccessKind } from '../core/users.js';
import type { VirtualHost } from '../core/vhost.js';
import { Errors } from '../errors/errors.js';
import { apiError, type ApiRequest, type ManagementContext } from './router.js';

/**
 * The connection-level owner of what the API declares. Queues it declares are never exclusive, so this
 * only stands in where the core asks who is acting.
 */
export const MANAGEMENT_OWNER: object = Object.freeze({ owner: 'management API' });

/** The vhosts `user` may use, in name order. */
export function visibleVhosts(ctx: ManagementContext, user: UserConfig): VirtualHost[] {
  const out: VirtualHost[] = [];
  for (const v of ctx.core.vhosts.values()) if (ctx.core.vhostFor(user, v.name) !== undefined) out.push(v);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * 403 unless `user`'s permissions in `vhost` allow `kind` on the resource: the same configure/write/read
 * expressions AMQP enforces, checked for what the API does on the user's behalf (RabbitMQ's API acts through
 * an internal AMQP channel of the user, so its permissions apply there too).
 */
export function requireAccess(ctx: ManagementContext, user: UserConfig, vhost: VirtualHost, kind: AccessKind, type: 'queue' | 'exchange', name: string): void {
  if (ctx.core.users.access(user.name, vhost.name).allows(kind, resourceName(type, name))) return;
  throw apiError(Errors.ACCESS_REFUSED, accessRefusedText(type, name, vhost.name, user.name));
}

/** The body as a JSON object; an empty body is `{}` (routes whose every field is optional). */
export function optionalJsonObject(request: ApiRequest): Record<string, unknown> {
  if (!request.hasBody) return {};
  const body = request.json();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw apiError(Errors.BAD_REQUEST, 'request body must be a JSON object');
  return body as Record<string, unknown>;
}

export function boolField(body: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw apiError(Errors.INVALID_ARGUMENT, `'${key}' must be true or false`);
}

export function stringField(body: Record<string, unknown>, key: string, fallback?: string): string {
  const v = body[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw apiError(Errors.INVALID_ARGUMENT, `'${key}' is required`);
  }
  if (typeof v !== 'string') throw apiError(Errors.INVALID_ARGUMENT, `'${key}' must be a string`);
  return v;
}

/** a query flag such as `if-unused=true` */
export function queryFlag(request: ApiRequest, name: string): boolean {
  const v = request.query.get(name);
  return v === 'true' || v === '';
}
