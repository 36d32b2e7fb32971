/**
 * Priority queue: a queue declared with `x-max-priority` keeps messages in priority order, highest first
 * and first-in first-out within one priority, so urgent work overtakes a backlog. The ordering only shows
 * when messages wait: here a backlog of routine jobs is queued, urgent ones arrive behind it, and a worker
 * that starts afterwards (prefetch 1) takes the urgent ones first.
 */
import amqp from 'amqplib';
import { pathToFileURL } from 'node:url';
import { withTimeout } from './support.js';

const QUEUE = 'examples.priority.jobs';
const JOBS = [
  { body: 'nightly report', priority: 1 },
  { body: 'thumbnail 1', priority: 1 },
  { body: 'password reset mail', priority: 9 },
  { body: 'thumbnail 2', priority: 1 },
  { body: 'fraud alert', priority: 9 },
  { body: 'thumbnail 3', priority: 1 },
  { body: 'order confirmation', priority: 5 },
];

export interface PriorityResult {
  published: Array<{ body: string; priority: number }>;
  /** in the order the worker received them */
  consumed: Array<{ body: string; priority: number }>;
}

export async function run(url: string, log: (line: string) => void): Promise<PriorityResult> {
  const conn = await amqp.connect(url);
  try {
    const producer = await conn.createConfirmChannel();
    await producer.assertQueue(QUEUE, { durable: true, arguments: { 'x-max-priority': 10 } });
    for (const { body, priority } of JOBS) producer.sendToQueue(QUEUE, Buffer.from(body), { persistent: true, priority });
    await withTimeout(producer.waitForConfirms(), 5_000, 'publisher confirms');
    log(`producer: queued ${JOBS.length} jobs in publish order: ${JOBS.map((j) => `${j.body} (${j.priority})`).join(', ')}`);

    const worker = await conn.createChannel();
    await worker.prefetch(1);
    const consumed: PriorityResult['consumed'] = [];
    const allDone = new Promise<void>((resolve) => {
      void worker.consume(QUEUE, (msg) => {
        if (msg === null) return;
        consumed.push({ body: msg.content.toString(), priority: msg.properties.priority as number });
        log(`worker: ${msg.content.toString()} (priority ${msg.properties.priority})`);
        worker.ack(msg);
        if (consumed.length === JOBS.length) resolve();
      });
    });
    await withTimeout(allDone, 10_000, 'every job to be consumed');

    await worker.deleteQueue(QUEUE);
    return { published: JOBS.map((j) => ({ ...j })), consumed };
  } finally {
    await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  console.log(`order: ${result.consumed.map((m) => m.priority).join(' ')}`);
}
