/**
 * Many durable queues and many Kafka partitions under a small open-file limit.
 *
 * Starts `postbox serve` as a child under `ulimit -n <limit>` (default 1024, the usual soft limit),
 * declares N durable queues over AMQP (amqplib, several channels in parallel), publishes one confirmed
 * persistent message to some of them, creates topics holding P partitions in all (kafkajs admin,
 * 10,000 partitions a topic), and watches the broker's open descriptors (/proc/PID/fd) all along. Then it
 * stops the broker (SIGTERM), starts it again on the same data directory, and measures the time to
 * "ready", the queues, messages and partitions found, and the descriptors held.
 *
 *   node dist/bench/many-durable.js --queues 100000 --partitions 100000 [--fd-limit 1024] [--json out.json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** Channels declaring queues at once: enough to keep the broker busy, not a flood. */
const DECLARE_CHANNELS = 16;
/** Partitions per CreateTopics topic (the broker's per-topic maximum). */
const PARTITIONS_PER_TOPIC = 10_000;
/** Queues that get one confirmed message (spread over the range). */
const QUEUES_WITH_MESSAGES = 1000;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

interface Running {
  child: ChildProcess;
  pid: number;
  amqpPort: number;
  httpPort: number;
  kafkaPort: number;
  readyMs: number;
  output: () => string;
  exited: Promise<number | string>;
}

async function start(dataDir: string, fdLimit: number): Promise<Running> {
  const started = performance.now();
  const command = `ulimit -n ${fdLimit} && exec "${process.execPath}" "${CLI}" serve --data-dir "${dataDir}" --host 127.0.0.1 --amqp-port 0 --http-port 0 --kafka-port 0 --kafka-max-partitions-per-request 10000 --log-level warn`;
  const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ports = await new Promise<number[]>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /ready: amqp on 127\.0\.0\.1:(\d+); http on port (\d+); kafka on port (\d+)/.exec(out);
      if (m) resolve([Number(m[1]), Number(m[2]), Number(m[3])]);
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    void exited.then((code) => reject(new Error(`broker exited (${code}) before ready:\n${out.slice(-4000)}`)));
  });
  return {
    child,
    pid: child.pid!,
    amqpPort: ports[0]!,
    httpPort: ports[1]!,
    kafkaPort: ports[2]!,
    readyMs: performance.now() - started,
    output: () => out,
    exited,
  };
}

function openFds(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Samples the broker's descriptors every 50 ms; returns a stop function giving the maximum seen. */
function watchFds(pid: number): () => number {
  let max = openFds(pid);
  const timer = setInterval(() => {
    max = Math.max(max, openFds(pid));
  }, 50);
  return () => {
    clearInterval(timer);
    return Math.max(max, openFds(pid));
  };
}

async function http(port: number, pathname: string): Promise<any> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
  if (!response.ok) throw new Error(`GET ${pathname}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function declareQueues(port: number, count: number): Promise<void> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: DECLARE_CHANNELS }, async () => {
      const ch = await conn.createChannel();
      for (;;) {
        const i = next++;
        if (i >= count) break;
        await ch.assertQueue(`many-${i}`, { durable: true });
      }
      await ch.close();
    }),
  );
  const ch = await conn.createConfirmChannel();
  const step = Math.max(1, Math.floor(count / QUEUES_WITH_MESSAGES));
  for (let i = 0; i < count; i += step) ch.sendToQueue(`many-${i}`, Buffer.from(`message ${i}`), { persistent: true });
  await ch.waitForConfirms();
  await conn.close();
}

async function createPartitions(port: number, total: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'many-durable', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, requestTimeout: 600_000 });
  const admin = kafka.admin();
  await admin.connect();
  for (let t = 0; t * PARTITIONS_PER_TOPIC < total; t++) {
    const partitions = Math.min(PARTITIONS_PER_TOPIC, total - t * PARTITIONS_PER_TOPIC);
    await admin.createTopics({ topics: [{ topic: `many-${t}`, numPartitions: partitions }], timeout: 600_000 });
  }
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  for (let t = 0; t * PARTITIONS_PER_TOPIC < total; t++) {
    await producer.send({
      topic: `many-${t}`,
      acks: -1,
      messages: [
        { partition: 0, value: 'first' },
        { partition: 1, value: 'second' },
      ],
    });
  }
  await producer.disconnect();
}

async function countPartitions(port: number, topics: number): Promise<number> {
  const kafka = new Kafka({ clientId: 'many-durable', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, requestTimeout: 600_000 });
  const admin = kafka.admin();
  await admin.connect();
  const names = Array.from({ length: topics }, (_, t) => `many-${t}`);
  const metadata = await admin.fetchTopicMetadata({ topics: names });
  await admin.disconnect();
  return metadata.topics.reduce((n, t) => n + t.partitions.length, 0);
}

async function stop(broker: Running): Promise<number> {
  const started = performance.now();
  broker.child.kill('SIGTERM');
  await broker.exited;
  return performance.now() - started;
}

async function main(): Promise<void> {
  const queues = Number(arg('queues', '10000'));
  const partitions = Number(arg('partitions', '10000'));
  const fdLimit = Number(arg('fd-limit', '1024'));
  const json = arg('json', '');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-many-'));
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    fdLimit,
    queues,
    partitions,
  };
  let broker: Running | null = null;
  try {
    broker = await start(dataDir, fdLimit);
    result.firstStartMs = Math.round(broker.readyMs);
    const maxFds = watchFds(broker.pid);
    let t = performance.now();
    await declareQueues(broker.amqpPort, queues);
    result.declareMs = Math.round(performance.now() - t);
    t = performance.now();
    if (partitions > 0) await createPartitions(broker.kafkaPort, partitions);
    result.createPartitionsMs = Math.round(performance.now() - t);
    result.maxFdsFirstRun = maxFds();
    result.rssMiBFirstRun = Math.round(Number(fs.readFileSync(`/proc/${broker.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) / 1024);
    result.stopMs = Math.round(await stop(broker));
    broker = await start(dataDir, fdLimit);
    result.restartMs = Math.round(broker.readyMs);
    const maxAfter = watchFds(broker.pid);
    const overview = await http(broker.httpPort, '/api/overview');
    result.queuesAfterRestart = overview.object_totals?.queues;
    result.messagesAfterRestart = overview.queue_totals?.messages;
    if (partitions > 0) result.partitionsAfterRestart = await countPartitions(broker.kafkaPort, Math.ceil(partitions / PARTITIONS_PER_TOPIC));
    result.fdsAfterRestart = maxAfter();
    result.rssMiBAfterRestart = Math.round(Number(fs.readFileSync(`/proc/${broker.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) / 1024);
    await stop(broker);
    broker = null;
  } finally {
    if (broker !== null) {
      broker.child.kill('SIGKILL');
      await broker.exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(result, null, 2));
  if (json !== '') fs.writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
}

await main();
