/**
 * Client connection, channel and consumer routes, shaped like RabbitMQ's management API:
 *   GET    /api/connections                       connections the user may see (own; all for monitoring/administrator)
 *   GET    /api/vhosts/{vhost}/connections        the same, in one vhost
 *   GET    /api/connections/{name}                one connection
 *   DELETE /api/connections/{name}                close it: AMQP 320 CONNECTION_FORCED with the X-Reason header's
 *                                                 text (default "Closed via management plugin") → 204
 *   GET    /api/connections/{name}/channels       its channels
 *   GET    /api/channels, /api/vhosts/{vhost}/channels, /api/channels/{name}
 *   GET    /api/consumers[/{vhost}]               consumers of queues in the vhosts the user may use
 * A user sees and closes their own connections; monitoring sees every one; administrator closes every one.
 */
import type { ClientConnection, ConnectionDetails } from '../core/clients.js';
import type { VirtualHost } from '../core/vhost.js';
import { visibleVhosts } from './access.js';
import { listReply, mapRows } from './listing.js';
import { Errors } from '../errors/errors.js';
import { ADMINISTRATOR_TAGS, hasTag, apiError, vhostFor, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';
import { channelJson, channelName, connectionJson, consumerJson, visibleConnections } from './shapes.js';

/** RabbitMQ's close reason when the request gives none. */
export const DEFAULT_CLOSE_REASON = 'Closed via management plugin';

function connectionNamed(req: ApiRequest, ctx: ManagementContext, name: string): { connection: ClientConnection; details: ConnectionDetails } {
  const found = visibleConnections(ctx, req.user).find((c) => c.details.name === name);
  if (found === undefined) throw apiError(Errors.NOT_FOUND, `no connection '${name}'`);
  return found;
}

/** channel rows, made lazily (a listing builds them inside its time slices) */
function* channelRows(req: ApiRequest, ctx: ManagementContext, vhost: string | null): Generator<Record<string, unknown>> {
  for (const { connection, details } of visibleConnections(ctx, req.user)) {
    if (vhost !== null && details.vhost !== vhost) continue;
    for (const ch of connection.channelDetails()) yield channelJson(details, ch, ctx);
  }
}

function closeConnection(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const { connection, details } = connectionNamed(req, ctx, req.params.name!);
  if (details.user !== req.user.name && !hasTag(req.user, ADMINISTRATOR_TAGS)) {
    throw apiError(Errors.ACCESS_REFUSED, `user '${req.user.name}' may not close connections of other users: needs the administrator tag`);
  }
  const reason = req.header('x-reason') ?? DEFAULT_CLOSE_REASON;
  ctx.logger.info(`connection ${details.name} closed by '${req.user.name}' (management API): ${reason}`);
  connection.closeByOperator(reason);
  return { status: 204 };
}

/** consumer rows, made lazily */
function* consumerRows(vhosts: readonly VirtualHost[], ctx: ManagementContext): Generator<Record<string, unknown>> {
  for (const v of vhosts) for (const q of v.queues.values()) for (const c of q.consumers) yield consumerJson(q, c, ctx);
}

export const connectionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/connections',
    handler: (req, ctx) =>
      listReply(
        req,
        mapRows(visibleConnections(ctx, req.user), (c) => connectionJson(c.details, ctx)),
      ),
  },
  {
    method: 'GET',
    path: '/api/vhosts/:vhost/connections',
    handler: (req, ctx) => {
      const v = vhostFor(ctx, req.user, req.params.vhost!);
      return listReply(
        req,
        mapRows(
          visibleConnections(ctx, req.user).filter((c) => c.details.vhost === v.name),
          (c) => connectionJson(c.details, ctx),
        ),
      );
    },
  },
  {
    method: 'GET',
    path: '/api/connections/:name',
    handler: (req, ctx) => ({ status: 200, body: connectionJson(connectionNamed(req, ctx, req.params.name!).details, ctx) }),
  },
  { method: 'DELETE', path: '/api/connections/:name', handler: closeConnection },
  {
    method: 'GET',
    path: '/api/connections/:name/channels',
    handler: (req, ctx) => {
      const { connection, details } = connectionNamed(req, ctx, req.params.name!);
      return listReply(
        req,
        mapRows(connection.channelDetails(), (ch) => channelJson(details, ch, ctx)),
      );
    },
  },
  { method: 'GET', path: '/api/channels', handler: (req, ctx) => listReply(req, channelRows(req, ctx, null)) },
  {
    method: 'GET',
    path: '/api/vhosts/:vhost/channels',
    handler: (req, ctx) => listReply(req, channelRows(req, ctx, vhostFor(ctx, req.user, req.params.vhost!).name)),
  },
  {
    method: 'GET',
    path: '/api/channels/:name',
    handler: (req, ctx) => {
      for (const { connection, details } of visibleConnections(ctx, req.user)) {
        for (const ch of connection.channelDetails())
          if (channelName(details.name, ch.number) === req.params.name) return { status: 200, body: channelJson(details, ch, ctx) };
      }
      throw apiError(Errors.NOT_FOUND, `no channel '${req.params.name}'`);
    },
  },
  { method: 'GET', path: '/api/consumers', handler: (req, ctx) => listReply(req, consumerRows(visibleVhosts(ctx, req.user), ctx)) },
  { method: 'GET', path: '/api/consumers/:vhost', handler: (req, ctx) => listReply(req, consumerRows([vhostFor(ctx, req.user, req.params.vhost!)], ctx)) },
];
