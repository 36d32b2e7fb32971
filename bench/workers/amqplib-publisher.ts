/**
 * Publisher worker over amqplib (the client most Node.js users run). Throughput mode publishes `count`
 * messages as fast as amqplib accepts them, waiting for 'drain' whenever sendToQueue returns false; with
 * confirms it keeps at most `confirmWindow` publishes unconfirmed. Latency mode paces at `rate` msg/s and
 * stamps each body with its send time and sequence number.
 */
import amqp from 'amqplib';
import type { Channel, ConfirmChannel } from 'amqplib';
import { nowMs } from '../lib/common.js';
import { BODY_SEQ_OFFSET, BODY_TIME_OFFSET, finish, fail, makeBody, pace, reportProgress, runWorker, type WorkerConfig } from './ipc.js';

/** Latency mode: the pacing timer period, ms (coarse on purpose: a batch goes out per tick). */
const PACE_TICK_MS = 5;
/** Throughput mode: publishes per event-loop turn before yielding. */
const YIELD_EVERY = 2000;

runWorker('publisher', async (config: WorkerConfig) => {
  const connection = await amqp.connect(config.url, { noDelay: true });
  connection.on('error', (err: Error) => fail(new Error(`amqplib connection error: ${err.message}`)));
  const channel: Channel | ConfirmChannel = config.confirms ? await connection.createConfirmChannel() : await connection.createChannel();
  channel.on('error', (err: Error) => fail(new Error(`amqplib channel error: ${err.message}`)));
  await channel.assertQueue(config.queue, { durable: config.durable, autoDelete: false });
  const props = connection.connection.serverProperties as unknown as Record<string, unknown>;
  const server = `${String(props['product'])} ${String(props['version'])}`;
  const options = { deliveryMode: config.deliveryMode, persistent: config.deliveryMode === 2 };
  let sent = 0;
  let confirmed = 0;
  let firstAt = 0;
  let lastAt = 0;
  let nacked = 0;
  const stopProgress = reportProgress(() => sent);

  const complete = async (): Promise<void> => {
    // a synchronous round trip on the publishing channel: its reply means the broker has read every
    // publish before it (amqplib buffers publishes in the process, so the last sendToQueue says little);
    // basic.qos, not queue.declare, because the consumer may already have deleted the queue
    await channel.prefetch(0);
    lastAt = nowMs();
    let confirmedAt: number | undefined;
    if (config.confirms) {
      await (channel as ConfirmChannel).waitForConfirms();
      confirmedAt = nowMs();
      if (nacked > 0) fail(new Error(`${nacked} publishes were nacked by the broker`));
    }
    stopProgress();
    // close the channel first: amqplib sends connection.close ahead of frames still buffered per channel
    await channel.close();
    await connection.close();
    finish({ count: sent, firstAt, lastAt, confirmedAt });
  };

  const onConfirm = (err: unknown): void => {
    confirmed++;
    if (err) nacked++;
    if (waitingForWindow && sent - confirmed < config.confirmWindow) {
      waitingForWindow = false;
      setImmediate(pump);
    }
  };
  let waitingForWindow = false;

  const body = makeBody(config.bodySize);
  /** Throughput mode: publish until amqplib pushes back, the confirm window is full, or we are done. */
  const pump = (): void => {
    const yieldAt = sent + YIELD_EVERY;
    while (sent < config.count) {
      if (sent >= yieldAt) {
        setImmediate(pump); // let acks, confirms and progress reports in
        return;
      }
      if (config.confirms && sent - confirmed >= config.confirmWindow) {
        waitingForWindow = true;
        return;
      }
      const ok = config.confirms
        ? (channel as ConfirmChannel).sendToQueue(config.queue, body, options, onConfirm)
        : channel.sendToQueue(config.queue, body, options);
      sent++;
      if (!ok) {
        channel.once('drain', pump);
        return;
      }
    }
    complete().catch(fail);
  };

  /** Latency mode: `n` stamped messages now. amqplib encodes each body into its own frame, so one buffer per message. */
  const sendBatch = (n: number, sentSoFar: number): void => {
    for (let i = 0; i < n; i++) {
      const b = makeBody(config.bodySize);
      b.writeDoubleLE(nowMs(), BODY_TIME_OFFSET);
      b.writeUInt32LE(sentSoFar + i, BODY_SEQ_OFFSET);
      if (config.confirms) (channel as ConfirmChannel).sendToQueue(config.queue, b, options, onConfirm);
      else channel.sendToQueue(config.queue, b, options);
    }
    sent += n;
  };

  return {
    server,
    run: () => {
      firstAt = nowMs();
      if (config.latency) pace(config.rate, config.count, PACE_TICK_MS, sendBatch, () => complete().catch(fail));
      else pump();
    },
  };
});
