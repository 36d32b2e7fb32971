/**
 * Lean consumer worker: the project's AMQP client (src/client/amqp) with a frame handler, no amqplib. basic.qos(prefetch), basic.consume with manual acks, and
 * a pre-encoded basic.ack with multiple=true every `ackEvery` deliveries (and for the last one). A delivery
 * counts once its last body frame arrives. Reports done after `count` deliveries, then deletes the queue.
 * In latency mode it reads the send time stamped at the start of each body.
 */
import { contentBodySize, deliverTagOf } from '../../src/client/amqp/index.js';
import {
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  M_BASIC_CONSUME,
  M_BASIC_CONSUME_OK,
  M_BASIC_DELIVER,
  M_BASIC_QOS,
  M_BASIC_QOS_OK,
  M_QUEUE_DECLARE,
  M_QUEUE_DECLARE_OK,
  M_QUEUE_DELETE,
  M_QUEUE_DELETE_OK,
} from '../../src/protocol/amqp/generated/spec.js';
import { nowMs, summarize } from '../lib/common.js';
import { LEAN_CHANNEL, openLean, serverProduct } from '../lib/lean.js';
import { BODY_SEQ_OFFSET, BODY_TIME_OFFSET, finish, fail, reportProgress, runWorker, type WorkerConfig } from './ipc.js';

runWorker('consumer', async (config: WorkerConfig) => {
  const c = await openLean(config.url, fail);
  const declare = {
    ticket: 0,
    queue: config.queue,
    passive: false,
    durable: config.durable,
    exclusive: false,
    autoDelete: false,
    nowait: false,
    arguments: {},
  };
  await c.call(LEAN_CHANNEL, { id: M_QUEUE_DECLARE, args: declare }, M_QUEUE_DECLARE_OK);
  await c.call(LEAN_CHANNEL, { id: M_BASIC_QOS, args: { prefetchSize: 0, prefetchCount: config.prefetch, global: false } }, M_BASIC_QOS_OK);

  let received = 0;
  let firstAt = 0;
  let unacked = 0;
  let tag = 0;
  /** body bytes still expected for the delivery in progress */
  let bodyLeft = 0;
  let bodyStarted = false;
  const latencies = new Float64Array(config.latency ? config.count : 0);
  let samples = 0;
  const stopProgress = reportProgress(() => received);

  const delivered = (firstBodyFrame: Buffer): void => {
    const at = nowMs();
    if (received === 0) firstAt = at;
    received++;
    if (config.latency && firstBodyFrame.readUInt32LE(BODY_SEQ_OFFSET) >= config.warmupCount) {
      latencies[samples++] = at - firstBodyFrame.readDoubleLE(BODY_TIME_OFFSET) + config.skewMs;
    }
    if (++unacked >= config.ackEvery || received === config.count) {
      c.ack(LEAN_CHANNEL, tag, true);
      unacked = 0;
    }
    if (received === config.count) {
      stopProgress();
      const result = { count: received, firstAt, lastAt: at, latency: config.latency ? summarize(latencies, samples) : undefined };
      c.handler = null;
      c.call(LEAN_CHANNEL, { id: M_QUEUE_DELETE, args: { ticket: 0, queue: config.queue, ifUnused: false, ifEmpty: false, nowait: false } }, M_QUEUE_DELETE_OK)
        .then(() => c.close().catch(() => c.destroy()))
        .then(() => finish(result), fail);
    }
  };

  let firstBody: Buffer | undefined;
  c.handler = (type, _channel, payload) => {
    if (type === FRAME_BODY) {
      if (!bodyStarted) {
        firstBody = payload;
        bodyStarted = true;
      }
      bodyLeft -= payload.length;
      if (bodyLeft <= 0) {
        bodyStarted = false;
        delivered(firstBody!);
      }
    } else if (type === FRAME_HEADER) {
      bodyLeft = contentBodySize(payload);
      bodyStarted = false;
      if (bodyLeft === 0) delivered(Buffer.alloc(12));
    } else if (type === FRAME_METHOD && payload.readUInt32BE(0) === M_BASIC_DELIVER) {
      tag = deliverTagOf(payload);
    } else {
      return false;
    }
    return true;
  };
  // the handler is installed; consume-ok comes to the waiting call past the first deliveries
  await c.call(
    LEAN_CHANNEL,
    {
      id: M_BASIC_CONSUME,
      args: { ticket: 0, queue: config.queue, consumerTag: '', noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {} },
    },
    M_BASIC_CONSUME_OK,
  );
  return { server: serverProduct(c), run: () => {} };
});
