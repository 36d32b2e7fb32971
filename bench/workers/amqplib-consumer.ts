/**
 * Consumer worker over amqplib: basic.qos(prefetch), manual acks, ack with multiple=true every `ackEvery`
 * deliveries (and once more for the last delivery). Reports done after `count` deliveries, then deletes the
 * queue. In latency mode it reads the send time stamped in each body and records now − sent − skew.
 */
import amqp from 'amqplib';
import type { ConsumeMessage } from 'amqplib';
import { nowMs, summarize } from '../lib/common.js';
import { BODY_SEQ_OFFSET, BODY_TIME_OFFSET, finish, fail, reportProgress, runWorker, type WorkerConfig } from './ipc.js';

runWorker('consumer', async (config: WorkerConfig) => {
  const connection = await amqp.connect(config.url, { noDelay: true });
  connection.on('error', (err: Error) => fail(new Error(`amqplib connection error: ${err.message}`)));
  const channel = await connection.createChannel();
  channel.on('error', (err: Error) => fail(new Error(`amqplib channel error: ${err.message}`)));
  await channel.assertQueue(config.queue, { durable: config.durable, autoDelete: false });
  await channel.prefetch(config.prefetch);
  const props = connection.connection.serverProperties as unknown as Record<string, unknown>;
  const server = `${String(props['product'])} ${String(props['version'])}`;

  let received = 0;
  let firstAt = 0;
  let unacked = 0;
  const latencies = new Float64Array(config.latency ? config.count : 0);
  let samples = 0;
  const stopProgress = reportProgress(() => received);

  const onMessage = (msg: ConsumeMessage | null): void => {
    if (msg === null) {
      // deleting the queue at the end cancels this consumer (RabbitMQ says so with basic.cancel)
      if (received === config.count) return;
      fail(new Error('the broker cancelled the consumer'));
      return;
    }
    const at = nowMs();
    if (received === 0) firstAt = at;
    received++;
    if (config.latency && msg.content.readUInt32LE(BODY_SEQ_OFFSET) >= config.warmupCount) {
      latencies[samples++] = at - msg.content.readDoubleLE(BODY_TIME_OFFSET) + config.skewMs;
    }
    if (++unacked >= config.ackEvery || received === config.count) {
      channel.ack(msg, true);
      unacked = 0;
    }
    if (received === config.count) {
      stopProgress();
      const result = { count: received, firstAt, lastAt: at, latency: config.latency ? summarize(latencies, samples) : undefined };
      channel
        .deleteQueue(config.queue)
        .then(() => channel.close())
        .then(() => connection.close())
        .then(() => finish(result), fail);
    }
  };

  // consume before saying ready, so the consumer exists before the first publish
  await channel.consume(config.queue, onMessage, { noAck: false });
  return { server, run: () => {} };
});
