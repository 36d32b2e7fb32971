/**
 * Exchange routes, shaped like RabbitMQ's management API (the default exchange is `amq.default` in paths):
 *   GET    /api/exchanges[/{vhost}]                         list (filter, sort, columns, pagination)
 *   GET    /api/exchanges/{vhost}/{name}                    one exchange
 *   PUT    /api/exchanges/{vhost}/{name}                    { type, durable?, auto_delete?, internal?, arguments? }
 *                                                           → 201 created, 204 exists (equivalent), 400 inequivalent
 *   DELETE /api/exchanges/{vhost}/{name}                    ?if-unused=true → 204; 404 when missing
 *   POST   /api/exchanges/{vhost}/{name}/publish            { properties, routing_key, payload, payload_encoding }
 *                                                           → { routed: bool }
 *   GET    /api/exchanges/{vhost}/{name}/bindings/source    bindings from it
 *   GET    /api/exchanges/{vhost}/{name}/bindings/destination  bindings to it
 * A publish of a persistent message to a durable queue is answered after the fsync that covers it.
 */
import type { Exchange } from '../core/exchange/exchange.js';
import { PUBLISH_CONFIRM, PUBLISH_COUNT_REACH, publishOutcome, type VirtualHost } from '../core/vhost.js';
import { Message, parseExpiration } from '../core/message.js';
import { boolField, optionalJsonObject, queryFlag, requireAccess, stringField, visibleVhosts } from './access.js';
import { listReply } from './listing.js';
import { jsonToFieldTable, payloadFromJson, propertiesFromJson, propertiesToJson } from './message-json.js';
import { Errors } from '../errors/errors.js';
import { apiError, jsonObject, vhostFor, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';
import { bindingJson, DEFAULT_EXCHANGE_PATH_NAME, exchangeJson } from './shapes.js';

/** The exchange's real name for a path segment (`amq.default` is the default exchange, ''). */
export function exchangeName(segment: string): string {
  return segment === DEFAULT_EXCHANGE_PATH_NAME ? '' : segment;
}

export function exchangeIn(vhost: VirtualHost, segment: string): Exchange {
  const e = vhost.exchanges.get(exchangeName(segment));
  if (e === undefined) throw apiError(Errors.NOT_FOUND, `no exchange '${segment}' in vhost '${vhost.name}'`);
  return e;
}

function target(req: ApiRequest, ctx: ManagementContext): { vhost: VirtualHost; exchange: Exchange } {
  const vhost = vhostFor(ctx, req.user, req.params.vhost!);
  return { vhost, exchange: exchangeIn(vhost, req.params.name!) };
}

function declare(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const vhost = vhostFor(ctx, req.user, req.params.vhost!);
  const body = optionalJsonObject(req);
  const name = exchangeName(req.params.name!);
  requireAccess(ctx, req.user, vhost, 'configure', 'exchange', name);
  const existed = vhost.exchanges.has(name);
  vhost.declareExchange({
    name,
    type: stringField(body, 'type'),
    passive: false,
    durable: boolField(body, 'durable', true),
    autoDelete: boolField(body, 'auto_delete', false),
    internal: boolField(body, 'internal', false),
    arguments: jsonToFieldTable(body.arguments, 'arguments'),
  });
  if (!existed) ctx.logger.info(`exchange '${name}' declared in vhost '${vhost.name}' by '${req.user.name}' (management API)`);
  return { status: existed ? 204 : 201 };
}

function remove(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const { vhost, exchange } = target(req, ctx);
  requireAccess(ctx, req.user, vhost, 'configure', 'exchange', exchange.name);
  vhost.deleteExchange(exchange.name, queryFlag(req, 'if-unused'));
  ctx.logger.info(`exchange '${exchange.name}' deleted in vhost '${vhost.name}' by '${req.user.name}' (management API)`);
  return { status: 204 };
}

/**
 * Publish one message as a client would: routed through the exchange (a delayed exchange holds it), counted
 * in the broker's publish statistics. `routed` says whether any queue took it (or a delayed exchange
 * would route it now).
 */
async function publish(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  const { vhost, exchange } = target(req, ctx);
  requireAccess(ctx, req.user, vhost, 'write', 'exchange', exchange.name);
  const body = jsonObject(req);
  if (exchange.internal) throw apiError(Errors.ACCESS_REFUSED, `cannot publish to internal exchange '${exchange.name}' in vhost '${vhost.name}'`);
  const routingKey = stringField(body, 'routing_key');
  if (Buffer.byteLength(routingKey) > 255) throw apiError(Errors.INVALID_ARGUMENT, "'routing_key' is longer than 255 bytes");
  const properties = propertiesFromJson(body.properties);
  const payload = payloadFromJson(body.payload, body.payload_encoding);
  const props = propertiesToJson(properties);
  if (props.user_id !== undefined && props.user_id !== req.user.name) {
    throw apiError(Errors.PRECONDITION_FAILED, `user_id property set to '${String(props.user_id)}' but authenticated user was '${req.user.name}'`);
  }
  const failure = ctx.core.storageFailure;
  if (failure !== null) throw apiError(Errors.KAFKA_STORAGE_ERROR, `storage failed (${failure.message}): publishing is refused until writes succeed again`);
  // AMQP publishers are blocked and Kafka producers held while an alarm is on; an HTTP request cannot be
  // held open usefully, so it is refused and nothing is stored
  const alarm = ctx.core.alarm?.reason ?? null;
  if (alarm !== null) throw apiError(Errors.RESOURCE_ERROR, `resource alarm (${alarm}): publishing is blocked until it clears`);
  const message = new Message(exchange.name, routingKey, properties, payload, props.delivery_mode === 2);
  if (typeof props.priority === 'number') message.priority = props.priority;
  if (typeof props.expiration === 'string') {
    try {
      message.expirationMs = parseExpiration(props.expiration);
    } catch {
      throw apiError(Errors.PRECONDITION_FAILED, `invalid expiration '${props.expiration}'`);
    }
  }
  const out = vhost.publish(exchange, message, PUBLISH_CONFIRM | PUBLISH_COUNT_REACH, publishOutcome());
  if (out.round !== 0) {
    // a persistent copy is answered after its fsync; when the write failed the message was dropped from its
    // queues and will never be delivered
    await ctx.core.whenDurable(out.round).catch((error: Error) => {
      throw apiError(Errors.KAFKA_STORAGE_ERROR, `storage write failed (${error.message}): the message was not stored`);
    });
  }
  const routed = out.routed > 0;
  return { status: 200, body: { routed } };
}

function bindingsWhere(req: ApiRequest, ctx: ManagementContext, side: 'source' | 'destination'): ApiReply {
  const { vhost, exchange } = target(req, ctx);
  const out: Record<string, unknown>[] = [];
  if (side === 'source') for (const b of exchange.bindings) out.push(bindingJson(vhost.name, b));
  else for (const e of vhost.exchanges.values()) for (const b of e.bindings) if (b.destination === exchange) out.push(bindingJson(vhost.name, b));
  return { status: 200, body: out };
}

/** exchange rows, made lazily */
function* exchangeRows(vhosts: readonly VirtualHost[]): Generator<Record<string, unknown>> {
  for (const v of vhosts) for (const e of v.exchanges.values()) yield exchangeJson(e, v.name);
}

export const exchangeRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/exchanges',
    handler: (req, ctx) => listReply(req, exchangeRows(visibleVhosts(ctx, req.user))),
  },
  {
    method: 'GET',
    path: '/api/exchanges/:vhost',
    handler: (req, ctx) => {
      const v = vhostFor(ctx, req.user, req.params.vhost!);
      return listReply(req, exchangeRows([v]));
    },
  },
  {
    method: 'GET',
    path: '/api/exchanges/:vhost/:name',
    handler: (req, ctx) => {
      const { vhost, exchange } = target(req, ctx);
      return { status: 200, body: { ...exchangeJson(exchange, vhost.name), incoming: [], outgoing: [] } };
    },
  },
  { method: 'PUT', path: '/api/exchanges/:vhost/:name', handler: declare },
  { method: 'DELETE', path: '/api/exchanges/:vhost/:name', handler: remove },
  { method: 'POST', path: '/api/exchanges/:vhost/:name/publish', handler: publish },
  { method: 'GET', path: '/api/exchanges/:vhost/:name/bindings/source', handler: (req, ctx) => bindingsWhere(req, ctx, 'source') },
  { method: 'GET', path: '/api/exchanges/:vhost/:name/bindings/destination', handler: (req, ctx) => bindingsWhere(req, ctx, 'destination') },
];
