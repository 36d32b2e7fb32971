/**
 * Binding routes, shaped like RabbitMQ's management API. `e` is an exchange, `q` a queue; `props` is a
 * binding's properties_key from a listing (routing key, and a hash of the arguments when there are any).
 *   GET    /api/bindings[/{vhost}]                                    every binding (default-exchange ones too)
 *   GET    /api/bindings/{vhost}/e/{source}/q/{queue}                 bindings between the two
 *   POST   /api/bindings/{vhost}/e/{source}/q/{queue}                 { routing_key?, arguments? } → 201 + Location
 *   GET    /api/bindings/{vhost}/e/{source}/q/{queue}/{props}         one binding
 *   DELETE /api/bindings/{vhost}/e/{source}/q/{queue}/{props}         → 204; 404 when missing
 * A queue's implicit binding from the default exchange (amq.default in paths) is listed and read like any
 * other; creating or deleting a binding of the default exchange is refused with 403, as RabbitMQ does.
 * and the same with e/{source}/e/{destination} for exchange-to-exchange bindings.
 */
import { argumentsKey, type Binding, type Destination, type Exchange } from '../core/exchange/exchange.js';
import type { VirtualHost } from '../core/vhost.js';
import { optionalJsonObject, requireAccess, stringField, visibleVhosts } from './access.js';
import { exchangeIn } from './exchanges.js';
import { listReply } from './listing.js';
import { jsonToFieldTable } from './message-json.js';
import { Errors } from '../errors/errors.js';
import { apiError, vhostFor, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';
import { bindingJson, DEFAULT_EXCHANGE_PATH_NAME, defaultBindingJson, propertiesKey, vhostBindings } from './shapes.js';
import type { Queue } from '../core/queue/queue.js';

type Kind = 'q' | 'e';

interface Ends {
  readonly vhost: VirtualHost;
  readonly source: Exchange;
  readonly destination: Destination;
}

function ends(req: ApiRequest, ctx: ManagementContext, kind: Kind): Ends {
  const vhost = vhostFor(ctx, req.user, req.params.vhost!);
  const source = exchangeIn(vhost, req.params.source!);
  const name = req.params.destination!;
  const destination = kind === 'q' ? vhost.queues.get(name) : vhost.exchanges.get(name === DEFAULT_EXCHANGE_PATH_NAME ? '' : name);
  if (destination === undefined) throw apiError(Errors.NOT_FOUND, `no ${kind === 'q' ? 'queue' : 'exchange'} '${name}' in vhost '${vhost.name}'`);
  return { vhost, source, destination };
}

/** Binding and unbinding need write on the destination and read on the source, as on AMQP. */
function requireBindAccess(req: ApiRequest, ctx: ManagementContext, kind: Kind, e: Ends): void {
  requireAccess(ctx, req.user, e.vhost, 'write', kind === 'q' ? 'queue' : 'exchange', e.destination.name);
  requireAccess(ctx, req.user, e.vhost, 'read', 'exchange', e.source.name);
}

function between(e: Ends): Binding[] {
  return e.source.bindings.filter((b) => b.destination === e.destination);
}

/** Every binding between the two ends as JSON: a queue's implicit one from the default exchange included, as in the listings. */
function betweenJson(e: Ends): Record<string, unknown>[] {
  if (isDefaultToQueue(e)) return [defaultBindingJson(e.destination as Queue)];
  return between(e).map((b) => bindingJson(e.vhost.name, b));
}

/** the default exchange and a queue: their one binding is implicit (routing key = the queue's name) */
function isDefaultToQueue(e: Ends): boolean {
  return e.source.name === '' && e.destination.kind === 'queue';
}

function notFound(req: ApiRequest, e: Ends): Error {
  return apiError(Errors.NOT_FOUND, `no binding '${req.params.props!}' from '${e.source.name}' to '${e.destination.name}' in vhost '${e.vhost.name}'`);
}

function one(req: ApiRequest, e: Ends): Binding {
  const props = req.params.props!;
  const found = between(e).find((b) => propertiesKey(b.routingKey, b.argumentsKey) === props);
  if (found === undefined) throw notFound(req, e);
  return found;
}

function oneJson(req: ApiRequest, e: Ends): Record<string, unknown> {
  if (!isDefaultToQueue(e)) return bindingJson(e.vhost.name, one(req, e));
  const implicit = defaultBindingJson(e.destination as Queue);
  if (implicit.properties_key !== req.params.props) throw notFound(req, e);
  return implicit;
}

/** RabbitMQ refuses binding to or unbinding from the default exchange with 403, whatever the user's rights */
function refuseDefaultExchange(e: Ends, what: string): void {
  if (e.source.name === '') throw apiError(Errors.ACCESS_REFUSED, `${what} the default exchange is not permitted: every queue is bound to it by its name`);
}

function create(req: ApiRequest, ctx: ManagementContext, kind: Kind): ApiReply {
  const e = ends(req, ctx, kind);
  requireBindAccess(req, ctx, kind, e);
  refuseDefaultExchange(e, 'binding to');
  const body = optionalJsonObject(req);
  const routingKey = stringField(body, 'routing_key', '');
  const args = jsonToFieldTable(body.arguments, 'arguments');
  if (kind === 'q') e.vhost.bindQueue(e.destination.name, e.source.name, routingKey, args, null);
  else e.vhost.bindExchange(e.destination.name, e.source.name, routingKey, args);
  const location = [
    'bindings',
    e.vhost.name,
    'e',
    e.source.name || DEFAULT_EXCHANGE_PATH_NAME,
    kind,
    e.destination.name,
    propertiesKey(routingKey, argumentsKey(args)),
  ]
    .map(encodeURIComponent)
    .join('/');
  return { status: 201, headers: { Location: location } };
}

function remove(req: ApiRequest, ctx: ManagementContext, kind: Kind): ApiReply {
  const e = ends(req, ctx, kind);
  requireBindAccess(req, ctx, kind, e);
  if (isDefaultToQueue(e)) oneJson(req, e); // 404 for a key that is not the implicit binding's
  refuseDefaultExchange(e, 'unbinding from');
  const b = one(req, e);
  if (kind === 'q') e.vhost.unbindQueue(e.destination.name, e.source.name, b.routingKey, b.arguments, null);
  else e.vhost.unbindExchange(e.destination.name, e.source.name, b.routingKey, b.arguments);
  return { status: 204 };
}

function routesFor(kind: Kind): Route[] {
  const base = `/api/bindings/:vhost/e/:source/${kind}/:destination`;
  return [
    {
      method: 'GET',
      path: base,
      handler: (req, ctx) => {
        const e = ends(req, ctx, kind);
        return { status: 200, body: betweenJson(e) };
      },
    },
    { method: 'POST', path: base, handler: (req, ctx) => create(req, ctx, kind) },
    {
      method: 'GET',
      path: `${base}/:props`,
      handler: (req, ctx) => {
        const e = ends(req, ctx, kind);
        return { status: 200, body: oneJson(req, e) };
      },
    },
    { method: 'DELETE', path: `${base}/:props`, handler: (req, ctx) => remove(req, ctx, kind) },
  ];
}

function* allBindings(vhosts: readonly VirtualHost[]): Generator<Record<string, unknown>> {
  for (const v of vhosts) yield* vhostBindings(v);
}

export const bindingRoutes: readonly Route[] = [
  { method: 'GET', path: '/api/bindings', handler: (req, ctx) => listReply(req, allBindings(visibleVhosts(ctx, req.user))) },
  { method: 'GET', path: '/api/bindings/:vhost', handler: (req, ctx) => listReply(req, vhostBindings(vhostFor(ctx, req.user, req.params.vhost!))) },
  ...routesFor('q'),
  ...routesFor('e'),
];
