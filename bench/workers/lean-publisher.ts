/**
 * Lean publisher worker: the project's AMQP client (src/client/amqp) with a frame handler, no amqplib. Throughput mode writes batches
 * of pre-encoded publishes (method + header + body frames, copied PUBLISH_BATCH times into one buffer) and
 * waits for 'drain' whenever the socket's buffer is full; with confirms it keeps at most `confirmWindow`
 * publishes unconfirmed, counting basic.ack (single and multiple) from the broker. Latency mode paces at
 * `rate` msg/s, stamping send time and sequence into each copy's body.
 */
import { encodePublish } from '../../src/client/amqp/index.js';
import {
  M_BASIC_ACK,
  M_BASIC_NACK,
  M_BASIC_QOS,
  M_BASIC_QOS_OK,
  M_CONFIRM_SELECT,
  M_CONFIRM_SELECT_OK,
  M_QUEUE_DECLARE,
  M_QUEUE_DECLARE_OK,
  FRAME_METHOD,
  decodeMethod,
} from '../../src/protocol/amqp/generated/spec.js';
import { nowMs } from '../lib/common.js';
import { LEAN_CHANNEL, openLean, serverProduct } from '../lib/lean.js';
import { BODY_SEQ_OFFSET, BODY_TIME_OFFSET, finish, fail, makeBody, pace, reportProgress, runWorker, type WorkerConfig } from './ipc.js';

/** Publishes per pre-built batch buffer (~170 bytes each for 100-byte bodies: ~85 KB per write). */
const PUBLISH_BATCH = 512;
/** Latency mode: the pacing timer period, ms. */
const PACE_TICK_MS = 5;

runWorker('publisher', async (config: WorkerConfig) => {
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
  if (config.confirms) await c.call(LEAN_CHANNEL, { id: M_CONFIRM_SELECT, args: { nowait: false } }, M_CONFIRM_SELECT_OK);

  const one = encodePublish(LEAN_CHANNEL, '', config.queue, makeBody(config.bodySize), { deliveryMode: config.deliveryMode }, c.frameMax);
  const size = one.bytes.length;
  const batch = Buffer.allocUnsafe(size * PUBLISH_BATCH);
  for (let i = 0; i < PUBLISH_BATCH; i++) one.bytes.copy(batch, i * size);

  let sent = 0;
  let confirmed = 0;
  let nacked = 0;
  /** confirms that arrived out of order, above `confirmed` */
  const confirmedAhead = new Set<number>();
  let firstAt = 0;
  let lastAt = 0;
  let waitingForDrain = false;
  let finished = false;
  const stopProgress = reportProgress(() => sent);

  const confirm = (tag: number, multiple: boolean): void => {
    if (multiple) {
      if (tag > confirmed) confirmed = tag;
    } else if (tag === confirmed + 1) {
      confirmed = tag;
    } else if (tag > confirmed) {
      confirmedAhead.add(tag);
    }
    if (confirmedAhead.size > 0) {
      for (const t of confirmedAhead) if (t <= confirmed) confirmedAhead.delete(t);
      while (confirmedAhead.delete(confirmed + 1)) confirmed++;
    }
  };

  // confirms come one frame per broker fsync round (a multiple ack), not one per publish: decoded whole
  c.handler = (type, _channel, payload) => {
    if (type !== FRAME_METHOD) return false;
    const id = payload.readUInt32BE(0);
    if (id !== M_BASIC_ACK && id !== M_BASIC_NACK) return false;
    const m = decodeMethod(payload, 0, payload.length);
    if (m.id === M_BASIC_NACK) nacked++;
    if (m.id === M_BASIC_ACK || m.id === M_BASIC_NACK) confirm(m.args.deliveryTag, m.args.multiple);
    if (sent === config.count) {
      if (lastAt > 0 && confirmed >= sent) complete();
    } else if (!config.latency && !waitingForDrain) pump();
    return true;
  };

  const complete = (): void => {
    if (finished) return;
    finished = true;
    const confirmedAt = config.confirms ? nowMs() : undefined;
    stopProgress();
    if (nacked > 0) fail(new Error(`${nacked} publishes were nacked by the broker`));
    c.close()
      .catch(() => c.destroy())
      .then(() => finish({ count: sent, firstAt, lastAt, confirmedAt }), fail);
  };

  /**
   * All publishes are written: a basic.qos round trip on the same channel tells us when the broker has read
   * them all (not queue.declare: the consumer may have deleted the queue by then); without confirms we are
   * then done.
   */
  const allWritten = (): void => {
    c.call(LEAN_CHANNEL, { id: M_BASIC_QOS, args: { prefetchSize: 0, prefetchCount: 0, global: false } }, M_BASIC_QOS_OK).then(() => {
      lastAt = nowMs();
      if (!config.confirms || confirmed >= sent) complete();
    }, fail);
  };

  /** Throughput mode: writes batches until the socket pushes back, the confirm window is full, or done. */
  const pump = (): void => {
    waitingForDrain = false;
    while (sent < config.count) {
      let n = Math.min(PUBLISH_BATCH, config.count - sent);
      if (config.confirms) n = Math.min(n, config.confirmWindow - (sent - confirmed));
      if (n <= 0) return; // the next basic.ack reopens the window and calls pump
      const ok = c.socket.write(n === PUBLISH_BATCH ? batch : batch.subarray(0, n * size));
      sent += n;
      if (!ok) {
        waitingForDrain = true;
        c.socket.once('drain', pump);
        return;
      }
    }
    allWritten();
  };

  /** Latency mode: `n` stamped copies of the template in one buffer, one write. */
  const sendBatch = (n: number, sentSoFar: number): void => {
    const out = Buffer.allocUnsafe(n * size);
    for (let i = 0; i < n; i++) {
      one.bytes.copy(out, i * size);
      const body = i * size + one.bodyOffset;
      out.writeDoubleLE(nowMs(), body + BODY_TIME_OFFSET);
      out.writeUInt32LE(sentSoFar + i, body + BODY_SEQ_OFFSET);
    }
    c.socket.write(out);
    sent += n;
  };

  return {
    server: serverProduct(c),
    run: () => {
      firstAt = nowMs();
      if (config.latency) pace(config.rate, config.count, PACE_TICK_MS, sendBatch, allWritten);
      else pump();
    },
  };
});
