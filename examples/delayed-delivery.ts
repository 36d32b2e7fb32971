/**
 * Delayed delivery: publish now, deliver later (a reminder, a scheduled retry). An exchange of type
 * `x-delayed-message` (the interface of RabbitMQ's delayed-message plugin, built into Postbox) holds a
 * message carrying an `x-delay` header for that many milliseconds, then routes it by the rules of its
 * `x-delayed-type` (here `direct`). A message without the header is routed at once, so it overtakes a
 * delayed one published before it.
 */
import amqp from 'amqplib';
import { pathToFileURL } from 'node:url';
import { withTimeout } from './support.js';

const EXCHANGE = 'examples.delayed.notifications';
const QUEUE = 'examples.delayed.outbox';
const DELAY_MS = 300;

export interface DelayedResult {
  delayMs: number;
  /** in arrival order, with ms since that message was published */
  received: Array<{ body: string; afterMs: number }>;
}

export async function run(url: string, log: (line: string) => void): Promise<DelayedResult> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange(EXCHANGE, 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
    await ch.assertQueue(QUEUE, { durable: true });
    await ch.bindQueue(QUEUE, EXCHANGE, 'email');

    const publishedAt = new Map<string, number>();
    const received: DelayedResult['received'] = [];
    const both = new Promise<void>((resolve) => {
      void ch.consume(QUEUE, (msg) => {
        if (msg === null) return;
        const body = msg.content.toString();
        received.push({ body, afterMs: Date.now() - publishedAt.get(body)! });
        log(`received "${body}" ${received.at(-1)!.afterMs} ms after it was published`);
        ch.ack(msg);
        if (received.length === 2) resolve();
      });
    });

    const send = (body: string, headers: Record<string, unknown> = {}) => {
      publishedAt.set(body, Date.now());
      ch.publish(EXCHANGE, 'email', Buffer.from(body), { persistent: true, headers });
    };
    send('reminder: your trial ends tomorrow', { 'x-delay': DELAY_MS });
    send('welcome aboard');
    log(`published a message delayed by ${DELAY_MS} ms, then one without a delay`);
    await withTimeout(ch.waitForConfirms(), 5_000, 'publisher confirms');
    await withTimeout(both, DELAY_MS + 5_000, 'both messages');

    await ch.deleteQueue(QUEUE);
    await ch.deleteExchange(EXCHANGE);
    return { delayMs: DELAY_MS, received };
  } finally {
    await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  console.log(`arrival order: ${result.received.map((m) => `"${m.body}"`).join(', ')}`);
}
