/**
 * Work queue: a producer puts tasks on a durable queue as persistent messages and waits for the broker's
 * publisher confirms, so a task is safe once `waitForConfirms` returns. A worker takes one task at a time
 * (prefetch 1), does the work and only then acks it: a worker that dies mid-task leaves its task unacked,
 * and the broker hands it to the next worker. Every task is processed exactly once when all goes well.
 */
import amqp from 'amqplib';
import { pathToFileURL } from 'node:url';
import { sleep, withTimeout } from './support.js';

const QUEUE = 'examples.work-queue.tasks';
const TASKS = ['resize photo-1.jpg', 'resize photo-2.jpg', 'send welcome mail', 'rebuild search index', 'charge order 42', 'render invoice 42'];

export interface WorkQueueResult {
  sent: string[];
  processed: string[];
}

export async function run(url: string, log: (line: string) => void): Promise<WorkQueueResult> {
  const conn = await amqp.connect(url);
  try {
    // producer: durable queue, persistent messages, confirmed publishes
    const producer = await conn.createConfirmChannel();
    await producer.assertQueue(QUEUE, { durable: true });
    for (const task of TASKS) producer.sendToQueue(QUEUE, Buffer.from(task), { persistent: true });
    await withTimeout(producer.waitForConfirms(), 5_000, 'publisher confirms');
    log(`producer: ${TASKS.length} tasks confirmed by the broker`);

    // worker: one unacknowledged task at a time, ack after the work is done
    const worker = await conn.createChannel();
    await worker.prefetch(1);
    const processed: string[] = [];
    const allDone = new Promise<void>((resolve) => {
      void worker.consume(QUEUE, async (msg) => {
        if (msg === null) return;
        const task = msg.content.toString();
        await sleep(5); // the "work"
        processed.push(task);
        log(`worker: done "${task}"`);
        worker.ack(msg);
        if (processed.length === TASKS.length) resolve();
      });
    });
    await withTimeout(allDone, 10_000, 'every task to be processed');

    await worker.deleteQueue(QUEUE); // tidy up so the example can run again
    return { sent: [...TASKS], processed };
  } finally {
    await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  console.log(`processed ${result.processed.length} of ${result.sent.length} tasks`);
}
