/**
 * Disk full, for real: the broker's data directory on a small tmpfs (needs root for mount; skipped with a
 * message otherwise), a `postbox serve` child process and amqplib publishers in confirm mode.
 *
 * The canary. A full disk legitimately blocks publishers (connection.blocked) or nacks them, so the
 * standard canary (test/helpers/canary.ts, which fails on a nack) runs only once space is back, and must
 * then be served as usual. During the attack a tolerant canary publishes on its own connection and counts
 * acks and nacks: every one of its publishes must be settled (acked or nacked) once space is back, none
 * may hang forever. Worst tolerant-canary latency measured (2 CPUs shared with other work): 1.5 s while
 * blocked by the alarm (the 2-second timer clears it once space is freed), 0.4 s on the really full disk;
 * the standard canary afterwards: 1 ms.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { startCanary, startTolerantCanary, type TolerantCanary } from '../helpers/canary.js';
import { startTestBroker } from '../helpers/broker.js';
import { installFaults, parseFaultPlan } from '../../src/storage/faults.js';

const TMPFS_BYTES = 64 * 1024 * 1024;
const BODY_BYTES = 64 * 1024;
const mounts: string[] = [];
const brokers: BrokerProcess[] = [];

after(() => {
  for (const b of brokers) if (b.child.exitCode === null) b.child.kill('SIGKILL');
  for (const dir of mounts) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // already unmounted
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A fresh tmpfs of TMPFS_BYTES, or null (and the test skipped) when mounting is refused. */
function mountTmpfs(t: TestContext): string | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-diskfull-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs (needs root): ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
  mounts.push(dir);
  return dir;
}

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

async function http(broker: BrokerProcess, method: string, urlPath: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${broker.httpPort}${urlPath}`, {
    method,
    headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') },
  });
  return { status: res.status, text: await res.text() };
}

async function metric(broker: BrokerProcess, name: string): Promise<number> {
  const { text } = await http(broker, 'GET', '/metrics');
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  assert.ok(line !== undefined, `metric ${name} present`);
  return Number(line.split(' ')[1]);
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The end of an attack: every tolerant-canary publish has been acked or nacked (none hangs), and a standard
 * canary on a new connection is confirmed as usual; both worst latencies are reported.
 */
async function settleCanaries(t: TestContext, canary: TolerantCanary, url: string): Promise<void> {
  await until(() => canary.settled().open === 0, 'every tolerant-canary publish to be settled');
  const c = canary.settled();
  await canary.stop();
  const standard = await startCanary(url);
  await standard.check();
  const report = await standard.stop();
  t.diagnostic(`tolerant canary: ${c.acked} acked, ${c.nacked} nacked, worst ${c.worstMs} ms; canary after: worst ${report.worstLatencyMs} ms`);
}

test('a publisher at full speed is blocked by the disk alarm well before the disk fills, and unblocked once space is freed', async (t) => {
  const dir = mountTmpfs(t);
  if (dir === null) return;
  const limit = 16 * 1024 * 1024;
  const broker = await spawnBroker(path.join(dir, 'data'), ['--disk-free-limit', String(limit)]);
  brokers.push(broker);
  t.after(() => {
    if (process.env.DEBUG_DISK_FULL) console.log(broker.output());
  });
  const url = `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`;
  const canary = await startTolerantCanary(url, 'tolerant-canary');
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('fill', { durable: true });
  let blockedAt = -1;
  const blocked = new Promise<void>((resolve) =>
    conn.on('blocked', () => {
      if (blockedAt < 0) blockedAt = freeBytes(dir);
      resolve();
    }),
  );
  const body = Buffer.alloc(BODY_BYTES, 7);
  const started = performance.now();
  let sent = 0;
  // as fast as the socket takes them; stop once blocked (the broker stops reading) or 3 disks' worth sent
  while (blockedAt < 0 && sent * BODY_BYTES < 3 * TMPFS_BYTES) {
    // a blocked connection is not read from: its socket stops draining
    if (!ch.sendToQueue('fill', body, { persistent: true })) await Promise.race([new Promise((r) => ch.once('drain', r)), blocked]);
    sent++;
  }
  const seconds = (performance.now() - started) / 1000;
  assert.ok(blockedAt >= 0, 'the publisher was blocked');
  await until(async () => (await http(broker, 'GET', '/api/health/checks/alarms')).status === 503, 'the alarms health check to fail');
  assert.equal(await metric(broker, 'rabbitmq_alarms_free_disk_space_watermark'), 1);
  const lowest = freeBytes(dir);
  t.diagnostic(
    `${((sent * BODY_BYTES) / 1e6).toFixed(0)} MB sent at ${((sent * BODY_BYTES) / 1e6 / seconds).toFixed(0)} MB/s; blocked with ${(blockedAt / 1e6).toFixed(1)} MB free (limit ${(limit / 1e6).toFixed(1)} MB), lowest ${(lowest / 1e6).toFixed(1)} MB`,
  );
  assert.ok(lowest > 0, 'the disk never filled');
  assert.equal(await metric(broker, 'postbox_storage_failures_total'), 0, 'no write failed: the alarm came first');

  // free space: the queue goes, the alarm clears, the publisher is unblocked and its messages confirmed
  const unblocked = new Promise<void>((resolve) => conn.once('unblocked', () => resolve()));
  const deleted = await http(broker, 'DELETE', '/api/queues/%2F/fill');
  assert.equal(deleted.status, 204);
  await unblocked;
  await ch.assertQueue('fill', { durable: true });
  ch.sendToQueue('fill', Buffer.from('after'), { persistent: true });
  await ch.waitForConfirms();
  assert.equal((await http(broker, 'GET', '/api/health/checks/alarms')).status, 200);
  await settleCanaries(t, canary, url);
  await conn.close();
  broker.child.kill('SIGTERM');
  await broker.exited;
});

test('when the disk really fills, publishers get nacks, health reports it, nothing nacked is ever delivered, and publishing works again without a restart', async (t) => {
  const dir = mountTmpfs(t);
  if (dir === null) return;
  // ballast the test removes to free space; no disk alarm, so the disk really fills
  const ballast = path.join(dir, 'ballast');
  fs.writeFileSync(ballast, Buffer.alloc(24 * 1024 * 1024, 1));
  const data = path.join(dir, 'data');
  let broker = await spawnBroker(data, ['--deliver-after-fsync', '--disk-free-limit', '0']);
  brokers.push(broker);
  let url = `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`;
  const canary = await startTolerantCanary(url, 'tolerant-canary');
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('full', { durable: true });
  const acked = new Set<number>();
  const nacked = new Set<number>();
  let outstanding = 0;
  let id = 0;
  const publish = (): void => {
    const n = id++;
    const body = Buffer.alloc(BODY_BYTES, n & 0xff);
    body.writeUInt32BE(n, 0);
    outstanding++;
    ch.sendToQueue('full', body, { persistent: true, messageId: String(n) }, (err) => {
      outstanding--;
      if (err === null || err === undefined) acked.add(n);
      else if (err.message === 'message nacked') nacked.add(n);
      else throw err; // the channel closed: not expected here
    });
  };
  let healthFailed = false;
  let gaugeSet = false;
  const deadline = Date.now() + 60_000;
  while (nacked.size < 50 && Date.now() < deadline) {
    for (let i = 0; i < 16; i++) publish();
    await new Promise((r) => setTimeout(r, 2));
    if (nacked.size > 0 && !healthFailed) {
      healthFailed = (await http(broker, 'GET', '/api/health/checks/alarms')).status === 503;
      gaugeSet = (await metric(broker, 'postbox_storage_failed')) === 1;
    }
  }
  await until(() => outstanding === 0, 'every publish to be acked or nacked');
  t.diagnostic(`${acked.size} acked, ${nacked.size} nacked, free ${freeBytes(dir)} bytes`);
  assert.ok(nacked.size >= 50, 'a full disk nacks publishes');
  assert.ok(healthFailed, 'the alarms health check answered 503 while writes failed');
  assert.ok(gaugeSet, 'postbox_storage_failed read 1 while writes failed');
  assert.equal((await http(broker, 'GET', '/api/health/checks/virtual-hosts')).status, 503);
  assert.ok((await metric(broker, 'postbox_storage_failures_total')) >= 1);

  // space is back: publishing works again, without a restart
  fs.rmSync(ballast);
  const afterIds: number[] = [];
  for (let i = 0; i < 20; i++) {
    afterIds.push(id);
    publish();
  }
  await until(() => outstanding === 0, 'the publishes after freeing space to be settled');
  for (const n of afterIds) assert.ok(acked.has(n), `message ${n} published after space was freed is confirmed`);
  // HTTP publish (503 while storage had failed) works again too
  const viaHttp = await fetch(`http://127.0.0.1:${broker.httpPort}/api/exchanges/%2F/amq.default/publish`, {
    method: 'POST',
    headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64'), 'content-type': 'application/json' },
    body: JSON.stringify({ routing_key: 'http-after', properties: {}, payload: 'x', payload_encoding: 'string' }),
  });
  assert.equal(viaHttp.status, 200, await viaHttp.text());
  await settleCanaries(t, canary, url);
  await conn.close();

  // kill -9 and restart: every confirmed message is there exactly once, no nacked one ever comes out
  broker.child.kill('SIGKILL');
  await broker.exited;
  broker = await spawnBroker(data, ['--deliver-after-fsync', '--disk-free-limit', '0']);
  brokers.push(broker);
  url = `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`;
  const reader = await amqp.connect(url);
  const rch = await reader.createChannel();
  const seen = new Map<number, number>();
  const expected = acked.size;
  await rch.prefetch(500);
  await rch.consume('full', (m) => {
    if (m === null) return;
    const n = m.content.readUInt32BE(0);
    seen.set(n, (seen.get(n) ?? 0) + 1);
    rch.ack(m);
  });
  await until(() => [...acked].every((n) => seen.has(n)), 'every confirmed message to be delivered', 30_000);
  await new Promise((r) => setTimeout(r, 200)); // anything else would arrive by now
  for (const n of acked) assert.equal(seen.get(n), 1, `confirmed message ${n} delivered exactly once`);
  for (const n of nacked) assert.equal(seen.has(n), false, `nacked message ${n} is never delivered`);
  t.diagnostic(`after restart: ${seen.size} delivered, ${expected} were confirmed`);
  await reader.close();
  broker.child.kill('SIGTERM');
  await broker.exited;
});

// A queue's segment file is created by its first write (FdCache slice), so what a declaration writes first
// is its definitions journal record: on a full disk that refuses it with 541 INTERNAL_ERROR ("the change was
// not made"); one whose storage cannot be opened (ENOSPC, EIO) gets 506 RESOURCE_ERROR. Either way it
// is a connection error for that one connection.
test('a durable queue declared while every storage write fails is refused (541 or 506) on that connection only, and the broker keeps serving', async () => {
  const broker = await startTestBroker();
  const bystander = await amqp.connect(broker.url);
  const conn = await amqp.connect(broker.url);
  let connectionError = '';
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  try {
    conn.on('error', (err: Error) => (connectionError = err.message));
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    installFaults(parseFaultPlan('every=1,enospc=1'));
    try {
      await assert.rejects(ch.assertQueue('declared-on-a-full-disk', { durable: true }));
    } finally {
      installFaults(null);
    }
    // 541 and 506 are connection errors in AMQP 0-9-1: that connection closes
    await closed;
    assert.match(connectionError, /(541 \(INTERNAL-ERROR\)|506 \(RESOURCE-ERROR\)).*ENOSPC/);
    const again = await bystander.createChannel();
    await again.assertQueue('declared-on-a-full-disk', { durable: true });
    again.sendToQueue('declared-on-a-full-disk', Buffer.from('ok'));
    await until(async () => (await again.checkQueue('declared-on-a-full-disk')).messageCount === 1, 'the message');
  } finally {
    installFaults(null);
    await conn.close().catch(() => {});
    await bystander.close().catch(() => {});
    await broker.stop();
  }
});
