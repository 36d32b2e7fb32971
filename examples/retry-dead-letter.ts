/**
 * Retry with a dead-letter queue. A failing message is rejected (requeue=false) and dead-lettered to a
 * retry queue whose `x-message-ttl` holds it for a while and then dead-letters it back to the work queue.
 * Each trip adds to the `x-death` header, so the worker knows how often the message failed; after
 * MAX_RETRIES it parks the message in a dead-letter queue for a human instead of retrying forever.
 * The second variant gets bounded, spaced retries from Postbox alone: `x-retry-backoff` delays every
 * requeued message, and `x-delivery-limit` dead-letters it (reason `delivery_limit`) once it is used up.
 */
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { pathToFileURL } from 'node:url';
import { withTimeout } from './support.js';

const WORK = 'examples.retry.work';
const WAIT = 'examples.retry.wait';
const PARKED = 'examples.retry.parked';
const NATIVE = 'examples.retry.native';
const NATIVE_DLQ = 'examples.retry.native.dead';
const MAX_RETRIES = 3;
const RETRY_DELAY_MS = 50;
const DELIVERY_LIMIT = 3;

type Death = { queue: string; reason: string; count: number };

export interface RetryResult {
  /** attempts: deliveries of the poison message (the first attempt plus its retries) */
  retryQueue: { succeeded: string[]; attempts: number; parked: { body: string; deaths: Death[] } };
  /** deliveryCounts: x-delivery-count of each delivery (absent on the first); gapsMs: time between deliveries */
  nativeBackoff: { deliveryCounts: Array<number | undefined>; gapsMs: number[]; dead: { body: string; deaths: Death[] } };
}

const deathsOf = (msg: ConsumeMessage): Death[] =>
  ((msg.properties.headers?.['x-death'] ?? []) as Death[]).map(({ queue, reason, count }) => ({ queue, reason, count: Number(count) }));

/** handle an order; "poison" always fails */
function handle(body: string): void {
  if (body.includes('poison')) throw new Error(`cannot handle ${body}`);
}

async function retryQueue(conn: ChannelModel, log: (line: string) => void): Promise<RetryResult['retryQueue']> {
  const ch = await conn.createChannel();
  // rejected from WORK → WAIT; expired from WAIT → back to WORK (both through the default exchange)
  await ch.assertQueue(WORK, { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': WAIT } });
  await ch.assertQueue(WAIT, {
    durable: true,
    arguments: { 'x-message-ttl': RETRY_DELAY_MS, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': WORK },
  });
  await ch.assertQueue(PARKED, { durable: true });

  const succeeded: string[] = [];
  let attempts = 0;
  const parked = new Promise<ConsumeMessage>((resolve) => void ch.consume(PARKED, (msg) => msg && resolve(msg), { noAck: true }));
  await ch.consume(WORK, (msg) => {
    if (msg === null) return;
    const body = msg.content.toString();
    const retries = deathsOf(msg).find((d) => d.queue === WORK && d.reason === 'rejected')?.count ?? 0;
    if (body.includes('poison')) attempts++;
    try {
      handle(body);
      succeeded.push(body);
      log(`worker: handled ${body}`);
      ch.ack(msg);
    } catch (err) {
      if (retries < MAX_RETRIES) {
        log(`worker: ${(err as Error).message} (retry ${retries + 1} of ${MAX_RETRIES} in ${RETRY_DELAY_MS} ms)`);
        ch.nack(msg, false, false); // dead-letter to the retry queue
      } else {
        log(`worker: ${(err as Error).message}, giving up after ${retries} retries: parking it`);
        ch.sendToQueue(PARKED, msg.content, { persistent: true, headers: msg.properties.headers });
        ch.ack(msg);
      }
    }
  });

  for (const order of ['order 1', 'order 2 (poison)', 'order 3']) ch.sendToQueue(WORK, Buffer.from(order), { persistent: true });
  const dead = await withTimeout(parked, 10_000, 'the poison message to be parked');
  for (const q of [WORK, WAIT, PARKED]) await ch.deleteQueue(q);
  await ch.close();
  return { succeeded, attempts, parked: { body: dead.content.toString(), deaths: deathsOf(dead) } };
}

async function nativeBackoff(conn: ChannelModel, log: (line: string) => void): Promise<RetryResult['nativeBackoff']> {
  const ch = await conn.createChannel();
  await ch.assertQueue(NATIVE_DLQ, { durable: true });
  await ch.assertQueue(NATIVE, {
    durable: true,
    arguments: {
      'x-retry-backoff': RETRY_DELAY_MS, // requeued messages wait 50, 100, 200 … ms (a Postbox extension)
      'x-delivery-limit': DELIVERY_LIMIT, // returns allowed before the message is dead-lettered
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': NATIVE_DLQ,
    },
  });

  const deliveryCounts: Array<number | undefined> = [];
  const times: number[] = [];
  const dead = new Promise<ConsumeMessage>((resolve) => void ch.consume(NATIVE_DLQ, (msg) => msg && resolve(msg), { noAck: true }));
  await ch.consume(NATIVE, (msg) => {
    if (msg === null) return;
    times.push(Date.now());
    deliveryCounts.push(msg.properties.headers?.['x-delivery-count'] as number | undefined);
    try {
      handle(msg.content.toString());
      ch.ack(msg);
    } catch (err) {
      log(`worker: ${(err as Error).message} (delivery ${deliveryCounts.length}), requeueing`);
      ch.nack(msg, false, true); // back to the queue; the broker spaces and counts the retries
    }
  });

  ch.sendToQueue(NATIVE, Buffer.from('order 4 (poison)'), { persistent: true });
  const msg = await withTimeout(dead, 10_000, 'the poison message to reach the dead-letter queue');
  log(`dead-letter queue: ${msg.content.toString()}, reason ${msg.properties.headers?.['x-first-death-reason']}`);
  for (const q of [NATIVE, NATIVE_DLQ]) await ch.deleteQueue(q);
  await ch.close();
  const gapsMs = times.slice(1).map((t, i) => t - times[i]!);
  return { deliveryCounts, gapsMs, dead: { body: msg.content.toString(), deaths: deathsOf(msg) } };
}

export async function run(url: string, log: (line: string) => void): Promise<RetryResult> {
  const conn = await amqp.connect(url);
  try {
    return { retryQueue: await retryQueue(conn, log), nativeBackoff: await nativeBackoff(conn, log) };
  } finally {
    await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  console.log(`retry queue: ${result.retryQueue.attempts} attempts, parked with x-death ${JSON.stringify(result.retryQueue.parked.deaths)}`);
  console.log(`native backoff: ${result.nativeBackoff.deliveryCounts.length} deliveries, gaps ${result.nativeBackoff.gapsMs.join('/')} ms`);
}
