/**
 * Vhost, user and permission routes, shaped like RabbitMQ's management API:
 *   GET    /api/vhosts                         vhosts the user may use, with message counts and stats
 *   GET    /api/vhosts/{name}                  one
 *   PUT    /api/vhosts/{name}                  create (body optional) → 201 created, 204 exists
 *   DELETE /api/vhosts/{name}                  delete with everything in it → 204 (405 for a config-file vhost)
 *   GET    /api/vhosts/{name}/permissions      permissions in it
 *   GET    /api/users, /api/users/{name}       users (password hashes, never passwords)
 *   PUT    /api/users/{name}                   { password | password_hash [, hashing_algorithm], tags } → 201/204
 *   DELETE /api/users/{name}                   → 204
 *   GET    /api/users/{name}/permissions
 *   GET    /api/permissions                    every permission
 *   GET    /api/permissions/{vhost}/{user}     one
 *   PUT    /api/permissions/{vhost}/{user}     { configure, write, read } → 201/204
 *   DELETE /api/permissions/{vhost}/{user}     → 204
 *   GET    /api/whoami                         { name, tags }
 * Everything but the vhost reads and whoami needs the administrator tag. Users and vhosts from the config
 * file are fixed at run time: changing them answers 405 with the reason.
 */
import { FULL_PERMISSION, type PermissionDefinition, type UserView } from '../core/users.js';
import { DEFAULT_GUEST } from '../config/config.js';
import type { VirtualHost } from '../core/vhost.js';
import { optionalJsonObject, visibleVhosts } from './access.js';
import { listReply } from './listing.js';
import { Errors } from '../errors/errors.js';
import {
  ADMINISTRATOR_TAGS,
  apiError,
  jsonObject,
  requireTag,
  vhostFor,
  type ApiReply,
  type ApiRequest,
  type ManagementContext,
  type Route,
} from './router.js';
import { depthJson, queueMessageStats } from './shapes.js';
import { QueueCounters, QUEUE_SAMPLE_SIZE } from '../core/stats.js';

function vhostJson(v: VirtualHost, ctx: ManagementContext): Record<string, unknown> {
  const totals = new QueueCounters();
  const rates = new Float64Array(QUEUE_SAMPLE_SIZE);
  let ready = 0;
  let unacked = 0;
  for (const q of v.queues.values()) {
    totals.add(q.counters);
    for (let i = 0; i < QUEUE_SAMPLE_SIZE; i++) rates[i]! += q.counters.rates[i]!;
    ready += q.messageCount;
    unacked += q.unackedCount;
  }
  totals.rates.set(rates);
  let recv = 0;
  let send = 0;
  for (const c of ctx.core.clients) {
    const d = c.details();
    if (d.vhost !== v.name) continue;
    recv += d.recvBytes;
    send += d.sendBytes;
  }
  return {
    name: v.name,
    description: '',
    tags: [],
    metadata: { description: '', tags: [] },
    tracing: false,
    default_queue_type: 'classic',
    cluster_state: { [ctx.node]: 'running' },
    ...depthJson(ready, unacked, rates),
    message_stats: queueMessageStats(totals),
    recv_oct: recv,
    send_oct: send,
    postbox_config_file: ctx.core.isConfigVhost(v.name),
  };
}

function userJson(u: UserView): Record<string, unknown> {
  return {
    name: u.name,
    password_hash: u.passwordHash,
    hashing_algorithm: u.hashingAlgorithm,
    tags: [...u.tags],
    limits: {},
    postbox_config_file: u.fromConfig,
  };
}

/** tags as RabbitMQ accepts them: an array, or one comma-separated string */
export function parseTags(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string')
    return value
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
  if (Array.isArray(value) && value.every((t) => typeof t === 'string')) return value.map((t) => t.trim()).filter((t) => t !== '');
  throw apiError(Errors.INVALID_ARGUMENT, "'tags' must be a comma-separated string or an array of strings");
}

function admin(req: ApiRequest, action: string): void {
  requireTag(req.user, ADMINISTRATOR_TAGS, action);
}

/** a vhost by name for administrator routes (an administrator manages vhosts it has no permissions in) */
function existingVhost(ctx: ManagementContext, name: string): string {
  if (!ctx.core.vhosts.has(name)) throw apiError(Errors.NOT_FOUND, `no vhost '${name}'`);
  return name;
}

function fixedUser(ctx: ManagementContext, name: string): void {
  if (!ctx.core.users.isFromConfig(name)) return;
  if (ctx.core.users.identity(name) === DEFAULT_GUEST) {
    // no config file defines it: it is the built-in guest, which only a config file can change or remove
    throw apiError(
      Errors.METHOD_NOT_ALLOWED,
      `user '${name}' is the built-in default user and cannot be changed through the API: to change its password or tags, ` +
        `define a user named '${name}' under "users" in a config file (postbox serve --config <file>); to remove it, set "defaultGuest": false there ` +
        `(see docs/configuration.md); other users can be created through the API`,
    );
  }
  throw apiError(Errors.METHOD_NOT_ALLOWED, `user '${name}' is defined in the config file and cannot be changed through the API; edit the config file`);
}

function putVhost(req: ApiRequest, ctx: ManagementContext): ApiReply {
  admin(req, 'create vhosts');
  optionalJsonObject(req); // description, tags, tracing: accepted and not kept
  const name = req.params.name!;
  const created = ctx.core.addVhost(name);
  if (created) {
    // as RabbitMQ: the creator may use the new vhost (config users' access is fixed by the file)
    if (!ctx.core.users.isFromConfig(req.user.name) && ctx.core.users.get(req.user.name) !== undefined) {
      ctx.core.changeUsers(() =>
        ctx.core.users.setPermission({ user: req.user.name, vhost: name, configure: FULL_PERMISSION, write: FULL_PERMISSION, read: FULL_PERMISSION }),
      );
    }
    ctx.logger.info(`vhost '${name}' created by '${req.user.name}' (management API)`);
  }
  return { status: created ? 201 : 204 };
}

function deleteVhost(req: ApiRequest, ctx: ManagementContext): ApiReply {
  admin(req, 'delete vhosts');
  const name = req.params.name!;
  if (!ctx.core.vhosts.has(name)) throw apiError(Errors.NOT_FOUND, `no vhost '${name}'`);
  if (ctx.core.isConfigVhost(name))
    throw apiError(Errors.METHOD_NOT_ALLOWED, `vhost '${name}' is defined in the config file and cannot be deleted through the API; edit the config file`);
  ctx.core.deleteVhost(name);
  ctx.logger.info(`vhost '${name}' deleted by '${req.user.name}' (management API)`);
  return { status: 204 };
}

function putUser(req: ApiRequest, ctx: ManagementContext): ApiReply {
  admin(req, 'create or change users');
  const name = req.params.name!;
  fixedUser(ctx, name);
  const body = jsonObject(req);
  const tags = parseTags(body.tags);
  let input: Parameters<typeof ctx.core.users.put>[1];
  if (typeof body.password === 'string') input = { password: body.password, tags };
  else if (typeof body.password_hash === 'string') {
    const algorithm = body.hashing_algorithm;
    if (algorithm !== undefined && typeof algorithm !== 'string') throw apiError(Errors.INVALID_ARGUMENT, "'hashing_algorithm' must be a string");
    input = { passwordHash: body.password_hash, hashingAlgorithm: algorithm, tags };
  } else if (body.password !== undefined || body.password_hash !== undefined)
    throw apiError(Errors.INVALID_ARGUMENT, "'password' and 'password_hash' must be strings");
  else input = { tags };
  const created = ctx.core.changeUsers(() => ctx.core.users.put(name, input));
  ctx.logger.info(`user '${name}' ${created ? 'created' : 'updated'} by '${req.user.name}' (management API)`);
  return { status: created ? 201 : 204 };
}

function deleteUser(req: ApiRequest, ctx: ManagementContext): ApiReply {
  admin(req, 'delete users');
  const name = req.params.name!;
  fixedUser(ctx, name);
  ctx.core.changeUsers(() => ctx.core.users.delete(name));
  ctx.logger.info(`user '${name}' deleted by '${req.user.name}' (management API)`);
  return { status: 204 };
}

function permissionFor(ctx: ManagementContext, vhost: string, user: string): PermissionDefinition | undefined {
  return ctx.core.users.permissions().find((p) => p.vhost === vhost && p.user === user);
}

function putPermission(req: ApiRequest, ctx: ManagementContext): ApiReply {
  admin(req, 'set permissions');
  const vhost = existingVhost(ctx, req.params.vhost!);
  const user = req.params.user!;
  if (ctx.core.users.get(user) === undefined) throw apiError(Errors.NOT_FOUND, `no user '${user}'`);
  fixedUser(ctx, user);
  const body = jsonObject(req);
  const field = (key: string): string => {
    const v = body[key];
    if (typeof v !== 'string') throw apiError(Errors.INVALID_ARGUMENT, `'${key}' is required (a regular expression string)`);
    return v;
  };
  const created = ctx.core.changeUsers(() =>
    ctx.core.users.setPermission({ user, vhost, configure: field('configure'), write: field('write'), read: field('read') }),
  );
  return { status: created ? 201 : 204 };
}

function deletePermission(req: ApiRequest, ctx: ManagementContext): ApiReply {
  admin(req, 'clear permissions');
  const vhost = existingVhost(ctx, req.params.vhost!);
  const user = req.params.user!;
  if (ctx.core.users.get(user) === undefined) throw apiError(Errors.NOT_FOUND, `no user '${user}'`);
  fixedUser(ctx, user);
  ctx.core.changeUsers(() => ctx.core.users.clearPermission(user, vhost));
  return { status: 204 };
}

export const accessControlRoutes: readonly Route[] = [
  { method: 'GET', path: '/api/whoami', handler: (req) => ({ status: 200, body: { name: req.user.name, tags: [...req.user.tags] } }) },
  {
    method: 'GET',
    path: '/api/vhosts',
    handler: (req, ctx) =>
      listReply(
        req,
        visibleVhosts(ctx, req.user).map((v) => vhostJson(v, ctx)),
      ),
  },
  { method: 'GET', path: '/api/vhosts/:name', handler: (req, ctx) => ({ status: 200, body: vhostJson(vhostFor(ctx, req.user, req.params.name!), ctx) }) },
  { method: 'PUT', path: '/api/vhosts/:name', handler: putVhost },
  { method: 'DELETE', path: '/api/vhosts/:name', handler: deleteVhost },
  {
    method: 'GET',
    path: '/api/vhosts/:name/permissions',
    handler: (req, ctx) => {
      admin(req, 'list permissions');
      const vhost = existingVhost(ctx, req.params.name!);
      return { status: 200, body: ctx.core.users.permissions().filter((p) => p.vhost === vhost) };
    },
  },
  {
    method: 'GET',
    path: '/api/users',
    handler: (req, ctx) => {
      admin(req, 'list users');
      return listReply(req, ctx.core.users.list().map(userJson));
    },
  },
  {
    method: 'GET',
    path: '/api/users/:name',
    handler: (req, ctx) => {
      admin(req, 'read users');
      const u = ctx.core.users.get(req.params.name!);
      if (u === undefined) throw apiError(Errors.NOT_FOUND, `no user '${req.params.name}'`);
      return { status: 200, body: userJson(u) };
    },
  },
  { method: 'PUT', path: '/api/users/:name', handler: putUser },
  { method: 'DELETE', path: '/api/users/:name', handler: deleteUser },
  {
    method: 'GET',
    path: '/api/users/:name/permissions',
    handler: (req, ctx) => {
      admin(req, 'list permissions');
      if (ctx.core.users.get(req.params.name!) === undefined) throw apiError(Errors.NOT_FOUND, `no user '${req.params.name}'`);
      return { status: 200, body: ctx.core.users.permissions().filter((p) => p.user === req.params.name) };
    },
  },
  {
    method: 'GET',
    path: '/api/permissions',
    handler: (req, ctx) => {
      admin(req, 'list permissions');
      return { status: 200, body: ctx.core.users.permissions() };
    },
  },
  {
    method: 'GET',
    path: '/api/permissions/:vhost/:user',
    handler: (req, ctx) => {
      admin(req, 'read permissions');
      const vhost = existingVhost(ctx, req.params.vhost!);
      const p = permissionFor(ctx, vhost, req.params.user!);
      if (p === undefined) throw apiError(Errors.NOT_FOUND, `no permissions for user '${req.params.user}' in vhost '${vhost}'`);
      return { status: 200, body: p };
    },
  },
  { method: 'PUT', path: '/api/permissions/:vhost/:user', handler: putPermission },
  { method: 'DELETE', path: '/api/permissions/:vhost/:user', handler: deletePermission },
];
