/**
 * Publish/subscribe: the publisher sends to a fanout exchange and does not know who listens. Each
 * subscriber declares its own exclusive, server-named queue and binds it to the exchange, so every
 * subscriber gets its own copy of every message. A subscriber that goes away takes its queue with it;
 * messages published while nobody is subscribed are simply dropped, which suits events like log lines.
 */
import amqp from 'amqplib';
import { pathToFileURL } from 'node:url';
import { withTimeout } from './support.js';

const EXCHANGE = 'examples.publish-subscribe.logs';
const SUBSCRIBERS = ['audit', 'metrics', 'console'];
const EVENTS = ['user 7 signed in', 'order 42 paid', 'disk 91% full', 'user 7 signed out'];

export interface PublishSubscribeResult {
  published: string[];
  /** subscriber name → the messages it received, in order */
  received: Record<string, string[]>;
}

export async function run(url: string, log: (line: string) => void): Promise<PublishSubscribeResult> {
  const conn = await amqp.connect(url);
  try {
    const received: Record<string, string[]> = {};
    const everyoneDone: Promise<void>[] = [];
    for (const name of SUBSCRIBERS) {
      const ch = await conn.createChannel();
      await ch.assertExchange(EXCHANGE, 'fanout', { durable: false });
      const { queue } = await ch.assertQueue('', { exclusive: true }); // the broker names it
      await ch.bindQueue(queue, EXCHANGE, '');
      const got: string[] = (received[name] = []);
      everyoneDone.push(
        new Promise<void>((resolve) => {
          void ch.consume(
            queue,
            (msg) => {
              if (msg === null) return;
              got.push(msg.content.toString());
              log(`${name}: ${msg.content.toString()}`);
              if (got.length === EVENTS.length) resolve();
            },
            { noAck: true },
          );
        }),
      );
    }

    // every subscriber is bound before the first publish, so none misses anything
    const publisher = await conn.createConfirmChannel();
    for (const event of EVENTS) publisher.publish(EXCHANGE, '', Buffer.from(event));
    await withTimeout(publisher.waitForConfirms(), 5_000, 'publisher confirms');
    log(`publisher: ${EVENTS.length} events published to ${EXCHANGE}`);

    await withTimeout(Promise.all(everyoneDone), 10_000, 'every subscriber to get every event');
    await publisher.deleteExchange(EXCHANGE);
    return { published: [...EVENTS], received };
  } finally {
    await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  for (const [name, got] of Object.entries(result.received)) console.log(`${name} received ${got.length} of ${result.published.length}`);
}
