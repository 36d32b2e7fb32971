/**
 * Request-reply (RPC): the client sends a request with `replyTo` (where to answer) and a fresh
 * `correlationId`; the server answers to that address and copies the correlation id, and the client matches
 * each reply to its pending call by that id, because replies may come back in any order. Two ways to
 * receive replies: a private exclusive reply queue per client, or RabbitMQ's direct reply-to
 * (`amq.rabbitmq.reply-to`), a pseudo-queue that needs no declaration and routes replies straight back to
 * the requesting channel.
 */
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { withTimeout } from './support.js';

const REQUESTS = 'examples.request-reply.square';
const NUMBERS = [3, 7, 12, 20];

export interface Call {
  request: number;
  correlationId: string;
  reply: number;
  replyCorrelationId: string;
}

export interface RequestReplyResult {
  replyQueue: Call[];
  directReplyTo: Call[];
}

/** the server: squares a number; smaller numbers take longer, so replies come back out of order */
async function startServer(conn: ChannelModel, log: (line: string) => void): Promise<void> {
  const ch = await conn.createChannel();
  await ch.assertQueue(REQUESTS, { durable: false });
  await ch.prefetch(10);
  await ch.consume(REQUESTS, (msg) => {
    if (msg === null) return;
    const n = Number(msg.content.toString());
    setTimeout(
      () => {
        log(`server: ${n}² = ${n * n} → ${msg.properties.replyTo}`);
        ch.sendToQueue(msg.properties.replyTo, Buffer.from(String(n * n)), { correlationId: msg.properties.correlationId });
        ch.ack(msg);
      },
      100 - 4 * n,
    );
  });
}

/** send every request at once, then wait for each reply, matched by correlation id */
async function callAll(ch: Channel, replyTo: string, numbers: number[]): Promise<Call[]> {
  const pending = new Map<string, (reply: { body: string; correlationId: string }) => void>();
  await ch.consume(
    replyTo,
    (msg) => {
      if (msg === null) return;
      const correlationId = msg.properties.correlationId as string;
      pending.get(correlationId)?.({ body: msg.content.toString(), correlationId }); // unknown ids: ignore
      pending.delete(correlationId);
    },
    { noAck: true },
  );
  const calls = numbers.map(async (request) => {
    const correlationId = randomUUID();
    const replied = new Promise<{ body: string; correlationId: string }>((resolve) => pending.set(correlationId, resolve));
    ch.sendToQueue(REQUESTS, Buffer.from(String(request)), { replyTo, correlationId });
    const reply = await withTimeout(replied, 5_000, `the reply to ${request}`);
    return { request, correlationId, reply: Number(reply.body), replyCorrelationId: reply.correlationId };
  });
  return Promise.all(calls);
}

export async function run(url: string, log: (line: string) => void): Promise<RequestReplyResult> {
  const conn = await amqp.connect(url);
  try {
    await startServer(conn, log);

    // 1. a private reply queue: exclusive and server-named, deleted when this client disconnects
    const client = await conn.createChannel();
    const { queue } = await client.assertQueue('', { exclusive: true });
    const replyQueue = await callAll(client, queue, NUMBERS);
    for (const c of replyQueue) log(`client (reply queue): ${c.request} → ${c.reply}`);

    // 2. direct reply-to: consume the pseudo-queue (no-ack) on the channel that publishes the requests
    const direct = await conn.createChannel();
    const directReplyTo = await callAll(direct, 'amq.rabbitmq.reply-to', NUMBERS);
    for (const c of directReplyTo) log(`client (direct reply-to): ${c.request} → ${c.reply}`);

    await client.deleteQueue(REQUESTS);
    return { replyQueue, directReplyTo };
  } finally {
    await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  const all = [...result.replyQueue, ...result.directReplyTo];
  console.log(`${all.filter((c) => c.reply === c.request ** 2 && c.replyCorrelationId === c.correlationId).length} of ${all.length} replies matched`);
}
