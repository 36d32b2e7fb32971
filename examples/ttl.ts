/**
 * Time-to-live: a message that waits too long is worth nothing (a price quote, a one-time code). The queue
 * argument `x-message-ttl` bounds how long any message may wait; the `expiration` property (ms, a string)
 * bounds one message, and the lower of the two applies. An expired message is never delivered; with a
 * dead-letter exchange it is republished with an `x-death` header (reason `expired`, and the message's own
 * expiration kept as `original-expiration`), so nothing vanishes silently.
 */
import amqp, { type ConsumeMessage, type XDeath } from 'amqplib';
import { pathToFileURL } from 'node:url';
import { withTimeout } from './support.js';

const QUOTES = 'examples.ttl.quotes';
const EXPIRED = 'examples.ttl.expired';
const QUEUE_TTL_MS = 200;

export interface TtlResult {
  expired: Array<{ body: string; reason: string; queue: string; count: number; originalExpiration?: string }>;
  consumed: string[];
}

export async function run(url: string, log: (line: string) => void): Promise<TtlResult> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue(EXPIRED, { durable: true });
    await ch.assertQueue(QUOTES, {
      durable: true,
      arguments: { 'x-message-ttl': QUEUE_TTL_MS, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': EXPIRED },
    });

    // watch the dead-letter queue
    const expired: TtlResult['expired'] = [];
    const twoExpired = new Promise<void>((resolve) => {
      void ch.consume(
        EXPIRED,
        (msg: ConsumeMessage | null) => {
          if (msg === null) return;
          const death: XDeath = msg.properties.headers!['x-death']![0]!; // most recent first
          const entry = {
            body: msg.content.toString(),
            reason: death.reason,
            queue: death.queue,
            count: death.count,
            ...(death['original-expiration'] !== undefined && { originalExpiration: String(death['original-expiration']) }),
          };
          expired.push(entry);
          log(
            `expired: "${entry.body}" from ${entry.queue}, reason ${entry.reason}${entry.originalExpiration ? `, original-expiration ${entry.originalExpiration}` : ''}`,
          );
          if (expired.length === 2) resolve();
        },
        { noAck: true },
      );
    });

    // nobody consumes the quotes queue yet: both quotes go stale while they wait
    ch.sendToQueue(QUOTES, Buffer.from('EUR/USD 1.0812 (valid 50 ms)'), { expiration: '50' });
    ch.sendToQueue(QUOTES, Buffer.from(`EUR/USD 1.0815 (queue TTL ${QUEUE_TTL_MS} ms)`));
    await withTimeout(twoExpired, 5_000, 'both stale quotes to expire');

    // a consumer that is there when a fresh quote arrives gets it before it expires
    const consumed: string[] = [];
    const fresh = new Promise<void>((resolve) => {
      void ch.consume(QUOTES, (msg) => {
        if (msg === null) return;
        consumed.push(msg.content.toString());
        log(`consumed: "${msg.content.toString()}"`);
        ch.ack(msg);
        resolve();
      });
    });
    ch.sendToQueue(QUOTES, Buffer.from('EUR/USD 1.0820 (fresh)'));
    await withTimeout(fresh, 5_000, 'the fresh quote');

    for (const q of [QUOTES, EXPIRED]) await ch.deleteQueue(q);
    return { expired, consumed };
  } finally {
    await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  console.log(`${result.expired.length} quotes expired, ${result.consumed.length} consumed`);
}
