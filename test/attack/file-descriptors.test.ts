/**
 * Attack: exhausting the broker's file descriptors with durable declarations.
 *
 * Before the descriptor cache every durable queue held its active segment and its directory open, and every
 * Kafka partition the same: a few thousand declarations (or one CreateTopics) under the usual soft limit of
 * 1024 ended in an uncaught EMFILE, and the restart died the same way while recovering. Each broker here is
 * a real `postbox serve` child under `ulimit -n 1024`, its descriptors counted in /proc/PID/fd.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { startCanary } from '../helpers/canary.js';
import { tempDataDir } from '../helpers/broker.js';
import { CLI_PATH, serveArgs } from '../helpers/process.js';

/** The usual default soft limit of open files (ulimit -n). */
const FD_LIMIT = 1024;
/** Durable queues declared: three times what exhausted 1024 descriptors before (two per queue). */
const QUEUES = 3000;
/** Partitions in one CreateTopics: the same, for Kafka. */
const PARTITIONS = 3000;
/** Channels declaring at once. */
const DECLARE_CHANNELS = 8;

interface LimitedBroker {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly amqpUrl: string;
  readonly httpPort: number;
  readonly kafkaPort: number;
  readonly output: () => string;
  readonly exited: Promise<number | string>;
}

/** `postbox serve` under `ulimit -n <limit>` (bash execs node, so the pid is the broker's). */
async function spawnLimited(dataDir: string, limit: number, extra: string[] = []): Promise<LimitedBroker> {
  const args = ['serve', ...serveArgs(dataDir), ...extra];
  const quoted = [process.execPath, CLI_PATH, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('bash', ['-c', `ulimit -n ${limit} && exec ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ports = await new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never leave a broker behind
      reject(new Error(`broker not ready in 60 s:\n${out.slice(-3000)}`));
    }, 60_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /ready: amqp on 127\.0\.0\.1:(\d+); http on port (\d+); kafka on port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve([Number(m[1]), Number(m[2]), Number(m[3])]);
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (${code}) before ready:\n${out.slice(-3000)}`));
    });
  });
  return { child, pid: child.pid!, amqpUrl: `amqp://guest:guest@127.0.0.1:${ports[0]}`, httpPort: ports[1]!, kafkaPort: ports[2]!, output: () => out, exited };
}

async function stopGracefully(broker: LimitedBroker): Promise<void> {
  broker.child.kill('SIGTERM');
  assert.equal(await broker.exited, 0, broker.output().slice(-2000));
}

function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Samples the broker's open descriptors every 20 ms; the returned function stops and gives the most seen. */
function watchFds(pid: number): () => number {
  let most = openFds(pid);
  const timer = setInterval(() => {
    try {
      most = Math.max(most, openFds(pid));
    } catch {
      // exited: the test fails on that elsewhere
    }
  }, 20);
  return () => {
    clearInterval(timer);
    return most;
  };
}

async function overview(port: number): Promise<{ queues: number; messages: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/overview`, {
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
  });
  const body = (await response.json()) as { object_totals: { queues: number }; queue_totals: { messages: number } };
  return { queues: body.object_totals.queues, messages: body.queue_totals.messages };
}

// worst canary latency measured here: 435 and 737 ms with definitions group commit (the journal synced by the
// asynchronous group-commit rounds, declarations sharing them), against 571, 677, 410 and 772 ms (581 earlier)
// with one fdatasync of the journal on the event loop per declaration: the canary shares this test process
// (and 2 CPUs) with the 8 declaring channels, so its figure is mostly client-side and noisy; the broker's own
// event-loop delay during the same flood went from p99 39-69 ms, max 68-130 ms to p99 7 ms, max 38 ms
// (bench/results/2026-12-07-definitions-group-commit.md)
test('3000 durable queues under a 1024 open-file limit are declared, take confirmed messages and come back after a restart, the broker never near its limit', async () => {
  const dataDir = tempDataDir();
  let broker = await spawnLimited(dataDir, FD_LIMIT);
  try {
    const canary = await startCanary(broker.amqpUrl);
    const most = watchFds(broker.pid);
    const conn = await amqp.connect(broker.amqpUrl);
    let next = 0;
    await Promise.all(
      Array.from({ length: DECLARE_CHANNELS }, async () => {
        const ch = await conn.createChannel();
        for (let i = next++; i < QUEUES; i = next++) await ch.assertQueue(`flood-${i}`, { durable: true });
        await ch.close();
      }),
    );
    const confirm = await conn.createConfirmChannel();
    for (let i = 0; i < QUEUES; i += 10) confirm.sendToQueue(`flood-${i}`, Buffer.from(`m${i}`), { persistent: true });
    await confirm.waitForConfirms();
    await conn.close();
    await canary.check();
    const report = await canary.stop();
    const seen = most();
    assert.ok(seen < FD_LIMIT * 0.75, `the broker held ${seen} descriptors (limit ${FD_LIMIT})`);
    assert.deepEqual(await overview(broker.httpPort), { queues: QUEUES, messages: QUEUES / 10 });
    assert.ok(report.confirmed > 0);

    await stopGracefully(broker);
    broker = await spawnLimited(dataDir, FD_LIMIT);
    assert.deepEqual(await overview(broker.httpPort), { queues: QUEUES, messages: QUEUES / 10 });
    assert.ok(openFds(broker.pid) < FD_LIMIT * 0.75, `after the restart the broker holds ${openFds(broker.pid)} descriptors`);
    // every message is readable: the cache reopens the segments it closed
    const again = await amqp.connect(broker.amqpUrl);
    const ch = await again.createChannel();
    for (let i = 0; i < QUEUES; i += 500) {
      const got = await ch.get(`flood-${i}`, { noAck: true });
      assert.ok(got !== false, `flood-${i} lost its message`);
      assert.equal(got.content.toString(), `m${i}`);
    }
    await again.close();
    await stopGracefully(broker);
  } finally {
    broker.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

// worst canary latency measured here: 124 ms (one CreateTopics opening 3000 partitions in one turn)
test('one CreateTopics with 3000 partitions under a 1024 open-file limit is created, produced to and recovered, the broker never near its limit', async () => {
  const dataDir = tempDataDir();
  // one request may create at most 1000 partitions by default (--kafka-max-partitions-per-request): raised
  // here, since what is tested is the descriptors 3000 partitions cost, not that limit
  const wide = ['--kafka-max-partitions-per-request', String(PARTITIONS)];
  let broker = await spawnLimited(dataDir, FD_LIMIT, wide);
  try {
    const canary = await startCanary(broker.amqpUrl);
    const most = watchFds(broker.pid);
    const kafka = new Kafka({ clientId: 'fd-attack', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'wide', numPartitions: PARTITIONS }], timeout: 120_000 });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const messages = [];
    for (let p = 0; p < PARTITIONS; p += 100) messages.push({ partition: p, value: `v${p}` });
    await producer.send({ topic: 'wide', acks: -1, messages });
    await producer.disconnect();
    await canary.check();
    await canary.stop();
    const seen = most();
    assert.ok(seen < FD_LIMIT * 0.75, `the broker held ${seen} descriptors (limit ${FD_LIMIT})`);

    await stopGracefully(broker);
    broker = await spawnLimited(dataDir, FD_LIMIT, wide);
    assert.ok(openFds(broker.pid) < FD_LIMIT * 0.75, `after the restart the broker holds ${openFds(broker.pid)} descriptors`);
    const kafka2 = new Kafka({ clientId: 'fd-attack-2', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
    const admin2 = kafka2.admin();
    await admin2.connect();
    const offsets = await admin2.fetchTopicOffsets('wide');
    await admin2.disconnect();
    assert.equal(offsets.length, PARTITIONS);
    for (const o of offsets) assert.equal(o.high, o.partition % 100 === 0 ? '1' : '0', `partition ${o.partition}`);
    await stopGracefully(broker);
  } finally {
    broker.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

// worst canary latency measured here: 30 ms
test('connections past the descriptor limit on all three listeners are dropped and the broker keeps serving everyone else', async () => {
  const dataDir = tempDataDir();
  const limit = 128;
  const broker = await spawnLimited(dataDir, limit);
  try {
    const canary = await startCanary(broker.amqpUrl);
    await canary.check(); // an established client: its queue's file is open before the flood
    const ports = [Number(new URL(broker.amqpUrl).port), broker.httpPort, broker.kafkaPort];
    const sockets: net.Socket[] = [];
    for (let i = 0; i < limit * 3; i++) {
      const socket = net.connect(ports[i % 3]!, '127.0.0.1');
      socket.on('error', () => {});
      sockets.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await canary.check(); // served while every descriptor is taken
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await canary.check();
    await canary.stop();
    // the management listener serves a new connection again once the flood is gone
    assert.equal(typeof (await overview(broker.httpPort)).queues, 'number');
    await stopGracefully(broker);
  } finally {
    broker.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

// worst canary latency measured here: 5164 ms. The canary's confirm waits for the fsync round that covers
// the fanout, and that round fdatasyncs 2000 new segment files and fsyncs their 2000 new directories (the
// first message of a queue creates them) through libuv's 4 threads on a shared disk; nothing is stalled
// on the event loop for that long, but confirms queue behind the round.
test('one persistent message fanned out to 2000 durable queues under a 1024 open-file limit reaches every queue and survives a restart', async () => {
  const dataDir = tempDataDir();
  const queues = 2000;
  let broker = await spawnLimited(dataDir, FD_LIMIT);
  try {
    const canary = await startCanary(broker.amqpUrl);
    const most = watchFds(broker.pid);
    const conn = await amqp.connect(broker.amqpUrl);
    const setup = await conn.createChannel();
    await setup.assertExchange('wide-fanout', 'fanout', { durable: true });
    let next = 0;
    await Promise.all(
      Array.from({ length: DECLARE_CHANNELS }, async () => {
        const ch = await conn.createChannel();
        for (let i = next++; i < queues; i = next++) {
          await ch.assertQueue(`fan-${i}`, { durable: true });
          await ch.bindQueue(`fan-${i}`, 'wide-fanout', '');
        }
        await ch.close();
      }),
    );
    const confirm = await conn.createConfirmChannel();
    for (let m = 0; m < 3; m++) confirm.publish('wide-fanout', '', Buffer.from(`fan ${m}`), { persistent: true });
    await confirm.waitForConfirms();
    await conn.close();
    await canary.check();
    const report = await canary.stop();
    const seen = most();
    assert.ok(seen < FD_LIMIT * 0.75, `the broker held ${seen} descriptors (limit ${FD_LIMIT})`);
    assert.ok(report.confirmed > 0);
    assert.equal((await overview(broker.httpPort)).messages, queues * 3);

    await stopGracefully(broker);
    broker = await spawnLimited(dataDir, FD_LIMIT);
    assert.equal((await overview(broker.httpPort)).messages, queues * 3);
    await stopGracefully(broker);
  } finally {
    broker.child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
