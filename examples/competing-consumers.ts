/**
 * Competing consumers: several consumers read the same queue, and the broker gives each message to exactly
 * one of them, so adding consumers adds throughput. With a prefetch of 1 a consumer holds one unacked
 * message at a time, so a busy consumer is skipped and an idle one gets the next job: load follows speed
 * instead of a strict round-robin. Here the consumers run on separate connections, as separate processes would.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { pathToFileURL } from 'node:url';
import { sleep, withTimeout } from './support.js';

const QUEUE = 'examples.competing-consumers.jobs';
const JOB_COUNT = 20;
const CONSUMERS = [
  { name: 'fast', workMs: 5 },
  { name: 'slow', workMs: 15 },
];

export interface CompetingConsumersResult {
  jobs: string[];
  /** consumer name → the jobs it processed */
  byConsumer: Record<string, string[]>;
}

export async function run(url: string, log: (line: string) => void): Promise<CompetingConsumersResult> {
  const connections: ChannelModel[] = [];
  try {
    const jobs = Array.from({ length: JOB_COUNT }, (_, i) => `job-${i + 1}`);
    const byConsumer: Record<string, string[]> = {};
    let processed = 0;
    let allDone!: () => void;
    const finished = new Promise<void>((resolve) => (allDone = resolve));

    for (const { name, workMs } of CONSUMERS) {
      const conn = await amqp.connect(url);
      connections.push(conn);
      const ch = await conn.createChannel();
      await ch.assertQueue(QUEUE, { durable: true });
      await ch.prefetch(1);
      const mine: string[] = (byConsumer[name] = []);
      await ch.consume(QUEUE, async (msg) => {
        if (msg === null) return;
        await sleep(workMs); // the "work"
        mine.push(msg.content.toString());
        log(`${name}: ${msg.content.toString()}`);
        ch.ack(msg);
        if (++processed === JOB_COUNT) allDone();
      });
    }

    const producerConn = await amqp.connect(url);
    connections.push(producerConn);
    const producer = await producerConn.createConfirmChannel();
    for (const job of jobs) producer.sendToQueue(QUEUE, Buffer.from(job), { persistent: true });
    await withTimeout(producer.waitForConfirms(), 5_000, 'publisher confirms');

    await withTimeout(finished, 10_000, 'every job to be processed');
    await producer.deleteQueue(QUEUE);
    return { jobs, byConsumer };
  } finally {
    for (const conn of connections) await conn.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const result = await run(process.argv[2] ?? 'amqp://localhost', (line) => console.log(line));
  for (const [name, got] of Object.entries(result.byConsumer)) console.log(`${name} processed ${got.length} of ${result.jobs.length} jobs`);
}
