/**
 * Queue routes, shaped like RabbitMQ's management API:
 *   GET    /api/queues[/{vhost}]                 list (filter, sort, columns, pagination: listing.ts)
 *   GET    /api/queues/{vhost}/{name}            one queue with its consumers
 *   PUT    /api/queues/{vhost}/{name}            { durable?, auto_delete?, arguments? } → 201 created, 204 exists
 *   DELETE /api/queues/{vhost}/{name}            ?if-unused=true&if-empty=true → 204; 404 when missing
 *   DELETE /api/queues/{vhost}/{name}/contents   purge the ready messages → 204
 *   POST   /api/queues/{vhost}/{name}/get        { count, ackmode, encoding?, truncate? } → messages
 *   GET    /api/queues/{vhost}/{name}/bindings   the queue's bindings (the default exchange's included)
 * Every route needs access to the vhost (management tag checked by the server).
 */
import type { Queue, RequeueEntry } from '../core/queue/queue.js';
import type { VirtualHost } from '../core/vhost.js';
import { POSITION_REDELIVERED } from '../util/position-ring.js';
import { boolField, MANAGEMENT_OWNER, optionalJsonObject, queryFlag, requireAccess, visibleVhosts } from './access.js';
import { listReply, mapRows } from './listing.js';
import { jsonToFieldTable, payloadToJson, propertiesToJson, type PayloadEncoding } from './message-json.js';
import { Errors } from '../errors/errors.js';
import { apiError, jsonObject, vhostFor, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';
import { bindingJson, defaultBindingJson, queueJson } from './shapes.js';

/** Most messages one get request takes; a guard against `count: 1e9` holding the event loop. */
export const MAX_GET_COUNT = 10_000;

const ACK_MODES = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'] as const;
type AckMode = (typeof ACK_MODES)[number];

function queueIn(vhost: VirtualHost, name: string): Queue {
  const q = vhost.queues.get(name);
  if (q === undefined) throw apiError(Errors.NOT_FOUND, `no queue '${name}' in vhost '${vhost.name}'`);
  return q;
}

function target(req: ApiRequest, ctx: ManagementContext): { vhost: VirtualHost; queue: Queue } {
  const vhost = vhostFor(ctx, req.user, req.params.vhost!);
  return { vhost, queue: queueIn(vhost, req.params.name!) };
}

function declare(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const vhost = vhostFor(ctx, req.user, req.params.vhost!);
  const body = optionalJsonObject(req);
  if (boolField(body, 'exclusive', false))
    throw apiError(Errors.INVALID_ARGUMENT, 'the management API cannot declare exclusive queues (they belong to a connection)');
  const name = req.params.name!;
  requireAccess(ctx, req.user, vhost, 'configure', 'queue', name);
  const existed = vhost.queues.has(name);
  vhost.declareQueue(
    {
      name,
      passive: false,
      durable: boolField(body, 'durable', true),
      exclusive: false,
      autoDelete: boolField(body, 'auto_delete', false),
      arguments: jsonToFieldTable(body.arguments, 'arguments'),
    },
    MANAGEMENT_OWNER,
  );
  if (!existed) ctx.logger.info(`queue '${name}' declared in vhost '${vhost.name}' by '${req.user.name}' (management API)`);
  return { status: existed ? 204 : 201 };
}

function remove(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const { vhost, queue } = target(req, ctx);
  requireAccess(ctx, req.user, vhost, 'configure', 'queue', queue.name);
  if (queryFlag(req, 'if-unused') && queue.consumers.length > 0)
    throw apiError(Errors.PRECONDITION_FAILED, `queue '${queue.name}' in vhost '${vhost.name}' in use`);
  if (queryFlag(req, 'if-empty') && queue.messageCount + queue.unackedCount > 0)
    throw apiError(Errors.PRECONDITION_FAILED, `queue '${queue.name}' in vhost '${vhost.name}' not empty`);
  // an exclusive queue may be deleted by an operator, as in RabbitMQ (its owner's consumers are cancelled)
  vhost.removeQueue(queue);
  ctx.logger.info(`queue '${queue.name}' deleted in vhost '${vhost.name}' by '${req.user.name}' (management API)`);
  return { status: 204 };
}

function purge(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const { vhost, queue } = target(req, ctx);
  requireAccess(ctx, req.user, vhost, 'read', 'queue', queue.name);
  const n = queue.purge();
  ctx.logger.info(`queue '${queue.name}' in vhost '${vhost.name}' purged of ${n} messages by '${req.user.name}' (management API)`);
  return { status: 204 };
}

interface GetRequest {
  readonly count: number;
  readonly ackmode: AckMode;
  readonly encoding: PayloadEncoding;
  readonly truncate: number | null;
}

function parseGet(req: ApiRequest): GetRequest {
  const body = jsonObject(req);
  const count = body.count;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_GET_COUNT) {
    throw apiError(Errors.INVALID_ARGUMENT, `'count' must be an integer 1..${MAX_GET_COUNT}`);
  }
  const ackmode = body.ackmode;
  if (typeof ackmode !== 'string' || !(ACK_MODES as readonly string[]).includes(ackmode))
    throw apiError(Errors.INVALID_ARGUMENT, `'ackmode' must be one of ${ACK_MODES.join(', ')}`);
  const encoding = body.encoding ?? 'auto';
  if (encoding !== 'auto' && encoding !== 'base64') throw apiError(Errors.INVALID_ARGUMENT, "'encoding' must be 'auto' or 'base64'");
  let truncate: number | null = null;
  if (body.truncate !== undefined && body.truncate !== null) {
    const t = typeof body.truncate === 'string' ? Number(body.truncate) : body.truncate;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) throw apiError(Errors.INVALID_ARGUMENT, "'truncate' must be a non-negative integer (bytes)");
    truncate = t;
  }
  return { count, ackmode: ackmode as AckMode, encoding, truncate };
}

/**
 * Take up to `count` messages. They are taken as a basic.get with acknowledgement would, then settled per
 * the ackmode: acked (ack_requeue_false), requeued as redelivered (ack/reject_requeue_true) or rejected,
 * which dead-letters (reject_requeue_false).
 */
async function getMessages(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  const { vhost, queue } = target(req, ctx);
  requireAccess(ctx, req.user, vhost, 'read', 'queue', queue.name);
  const g = parseGet(req);
  const out: Record<string, unknown>[] = [];
  const requeue: RequeueEntry[] = [];
  // messages published just before may wait for their durability round
  if (queue.hasPending) await new Promise<void>((resolve) => queue.afterPending(resolve));
  for (let i = 0; i < g.count; i++) {
    const taken = queue.take();
    if (taken === null) break;
    const { message, position: p } = taken;
    queue.trackUnacked(taken);
    const entry: RequeueEntry = {
      segment: p.segment,
      offset: p.offset,
      length: p.length,
      expiresAt: p.expiresAt,
      deliveries: p.deliveries,
      bodySize: p.bodySize,
      priority: message.priority,
    };
    try {
      out.push({
        payload_bytes: message.body.length,
        redelivered: (p.flags & POSITION_REDELIVERED) !== 0,
        exchange: message.exchange,
        routing_key: message.routingKey,
        message_count: queue.messageCount,
        properties: propertiesToJson(message.properties),
        ...payloadToJson(message.body, g.encoding, g.truncate),
      });
    } catch (err) {
      // never leave a taken message unacknowledged behind an error answer: it goes back to the queue
      requeue.push(entry);
      queue.requeue(requeue);
      throw err;
    }
    if (g.ackmode === 'ack_requeue_false') queue.settle(p.segment, p.offset, message.publishedAt);
    else if (g.ackmode === 'reject_requeue_false') queue.reject(entry);
    else requeue.push(entry);
  }
  if (requeue.length > 0) queue.requeue(requeue);
  return { status: 200, body: out };
}

function queueBindings(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const { vhost, queue } = target(req, ctx);
  const out = [defaultBindingJson(queue)];
  for (const e of vhost.exchanges.values()) for (const b of e.bindings) if (b.destination === queue) out.push(bindingJson(vhost.name, b));
  return { status: 200, body: out };
}

function* queuesOf(vhosts: readonly VirtualHost[]): Generator<Queue> {
  for (const v of vhosts) yield* v.queues.values();
}

export const queueRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/queues',
    handler: (req, ctx) =>
      listReply(
        req,
        mapRows(queuesOf(visibleVhosts(ctx, req.user)), (q) => queueJson(q, ctx, false)),
      ),
  },
  {
    method: 'GET',
    path: '/api/queues/:vhost',
    handler: (req, ctx) =>
      listReply(
        req,
        mapRows(vhostFor(ctx, req.user, req.params.vhost!).queues.values(), (q) => queueJson(q, ctx, false)),
      ),
  },
  { method: 'GET', path: '/api/queues/:vhost/:name', handler: (req, ctx) => ({ status: 200, body: queueJson(target(req, ctx).queue, ctx, true) }) },
  { method: 'PUT', path: '/api/queues/:vhost/:name', handler: declare },
  { method: 'DELETE', path: '/api/queues/:vhost/:name', handler: remove },
  { method: 'DELETE', path: '/api/queues/:vhost/:name/contents', handler: purge },
  { method: 'POST', path: '/api/queues/:vhost/:name/get', handler: getMessages },
  { method: 'GET', path: '/api/queues/:vhost/:name/bindings', handler: queueBindings },
];
