/**
 * Fault fuzz: storage faults injected at random points while amqplib publishes with confirms (and a second
 * publisher without), then
 * kill -9, damage to the files, restart, and a count. A bounded run for CI (a few iterations, seconds);
 * FUZZ_ITERATIONS=200 runs longer, FUZZ_SEED=<n> replays a run (the seed is printed).
 *
 * Each iteration: a `postbox serve` child with POSTBOX_FAULTS (storage/faults.ts: ENOSPC, EIO, torn and
 * short writes, failed fsyncs, random rates from the seed, small segments so rolls happen). Messages go
 * through a fanout exchange to two durable queues: `audit` (not consumed until the end) and `live` (a
 * consumer acks as they come). At a random moment the broker is killed with SIGKILL; then, in some
 * iterations, one byte of a random record is flipped and/or a segment file is truncated at a random
 * point. The broker restarts without faults and both queues are read out.
 *
 * Asserted, every iteration:
 *   - every confirmed (acked) message is in `audit` exactly once, unless it is DAMAGED: a byte of its own
 *     record was flipped, or its record was (partly) in a truncated tail (lost with the bytes, as any
 *     broker would lose them); the records after a flipped one in the same segment file are NOT
 *     exempt (recovery resynchronises past a damaged record and keeps them);
 *   - no nacked message comes out of either queue after the restart;
 *   - with --deliver-after-fsync (even iterations) no nacked message reaches the live consumer while
 *     publishing either; by default (odd iterations) a confirm-mode message is delivered before its fsync,
 *     as RabbitMQ's classic queues do, so a nacked one may have reached it, at most once;
 *   - nothing comes out that was not published, and no message comes out of `audit` twice;
 *   - messages whose confirm was still outstanding at the kill may or may not be there (at most once);
 *   - messages of the second publisher, NOT in confirm mode (nobody waits for them, so they are delivered
 *     before their fsync, queue.ts), may be lost to a failure's rollback, but come out of `audit` at most
 *     once, reach the live consumer at most once while the broker runs, and crash nothing (the broker is
 *     still running at the kill).
 * Counts (confirmed, nacked, outstanding, damaged, faults injected) are printed per iteration.
 *
 * A second test does the same over Kafka (kafkajs, acks=-1, no retries, one partition, no file damage):
 * every acknowledged record is at its acknowledged offset after the restart, exactly once; no record whose
 * produce failed (KAFKA_STORAGE_ERROR) is ever fetched, before or after the restart; every record a raw
 * fetcher saw below the high watermark while faults were injected is at the same offset after the
 * restart (the high watermark never passed a record whose write failed, and no offset a consumer saw is
 * reused); offsets are dense.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { seededRandom } from '../../src/util/seeded-random.js';
import { RawKafkaClient, decodeRecords } from '../helpers/kafka-raw.js';
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, readRecordLength } from '../../src/storage/format.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 3);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Small segments so that rolls, sealed segments and deletions happen within a short run. */
const SEGMENT_BYTES = 256 * 1024;
/** Ids of the non-confirm publisher's messages start here (the confirm publisher's count up from 0). */
const PLAIN_ID_BASE = 1_000_000_000;

const dirs: string[] = [];
const brokers: BrokerProcess[] = [];
after(() => {
  for (const b of brokers) if (b.child.exitCode === null) b.child.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function queueDir(data: string, name: string): string {
  const hash = createHash('sha256').update('/').update('\0').update(name).digest('hex').slice(0, 32);
  return path.join(data, 'queues', hash);
}

/** The message id in a record's bytes ("ID:<n>:" at the start of the body), or -1. */
function idIn(bytes: Buffer): number {
  const at = bytes.indexOf('ID:');
  if (at < 0) return -1;
  const end = bytes.indexOf(':', at + 3);
  return end < 0 ? -1 : Number(bytes.subarray(at + 3, end).toString());
}

/** Records of a segment file: [start, end) and the message id, as far as they parse. */
function recordsOf(file: Buffer): Array<{ start: number; end: number; id: number }> {
  const out: Array<{ start: number; end: number; id: number }> = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at + RECORD_HEADER_BYTES <= file.length) {
    const length = readRecordLength(file, at);
    const end = at + RECORD_HEADER_BYTES + length;
    if (length < 1 || end > file.length) break;
    out.push({ start: at, end, id: idIn(file.subarray(at + RECORD_HEADER_BYTES, end)) });
    at = end;
  }
  return out;
}

interface Damage {
  /** ids whose own bytes were flipped or cut off */
  damaged: Set<number>;
  /** ids after a flipped record in the same segment (lost until recovery resynchronises) */
  behind: Set<number>;
  notes: string[];
}

/** Flips one byte of a random record and/or truncates a random segment file of `dir`. */
function damage(dir: string, random: () => number): Damage {
  const result: Damage = { damaged: new Set(), behind: new Set(), notes: [] };
  let names: string[] = [];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.seg'))
      .sort();
  } catch {
    return result;
  }
  if (names.length === 0) return result;
  const flip = random() < 0.6;
  const truncate = random() < 0.4;
  if (flip) {
    const name = names[Math.floor(random() * names.length)]!;
    const file = path.join(dir, name);
    const bytes = fs.readFileSync(file);
    const records = recordsOf(bytes);
    if (records.length > 0) {
      const index = Math.floor(random() * records.length);
      const record = records[index]!;
      const at = record.start + Math.floor(random() * (record.end - record.start));
      bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
      fs.writeFileSync(file, bytes);
      result.damaged.add(record.id);
      for (let i = index + 1; i < records.length; i++) result.behind.add(records[i]!.id);
      result.notes.push(`flipped a bit at ${name}:${at} (message ${record.id}, ${records.length - index - 1} record(s) after it)`);
    }
  }
  if (truncate) {
    const name = names[Math.floor(random() * names.length)]!;
    const file = path.join(dir, name);
    const bytes = fs.readFileSync(file);
    if (bytes.length > SEGMENT_HEADER_BYTES) {
      const cut = SEGMENT_HEADER_BYTES + Math.floor(random() * (bytes.length - SEGMENT_HEADER_BYTES));
      for (const record of recordsOf(bytes)) if (record.end > cut) result.damaged.add(record.id);
      fs.truncateSync(file, cut);
      result.notes.push(`truncated ${name} at ${cut} of ${bytes.length}`);
    }
  }
  return result;
}

function faultPlan(random: () => number, seed: number): string {
  const rate = (max: number): string => (random() < 0.3 ? '0' : (random() * max).toFixed(4));
  // after=: the declarations at the start (definitions.json) are written before any fault
  return `seed=${seed},enospc=${rate(0.03)},eio=${rate(0.02)},torn=${rate(0.03)},short=${rate(0.05)},fsync=${rate(0.04)},after=65536`;
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function runIteration(iteration: number, seed: number, deliverAfterFsync: boolean, log: (line: string) => void): Promise<number> {
  const mode = deliverAfterFsync ? ['--deliver-after-fsync'] : [];
  const random = seededRandom(seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-fault-fuzz-'));
  dirs.push(dir);
  const data = path.join(dir, 'data');
  const plan = faultPlan(random, seed);
  process.env.POSTBOX_FAULTS = plan; // inherited by the child only (each test file runs in its own process)
  let broker: BrokerProcess;
  try {
    broker = await spawnBroker(data, [...mode, '--segment-size', String(SEGMENT_BYTES), ...(process.env.FUZZ_DEBUG ? ['--log-level', 'debug'] : [])]);
  } finally {
    delete process.env.POSTBOX_FAULTS;
  }
  brokers.push(broker);
  const url = `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`;
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  await ch.assertExchange('fan', 'fanout', { durable: true });
  for (const q of ['audit', 'live']) {
    await ch.assertQueue(q, { durable: true });
    await ch.bindQueue(q, 'fan', '');
  }
  const acked = new Set<number>();
  const nacked = new Set<number>();
  const outstanding = new Set<number>();
  const liveDelivered = new Set<number>();
  const liveTwice: number[] = [];
  // a second publisher, not in confirm mode: nobody waits for its messages, so they go to consumers before
  // their fsync and may be lost when a failure rolls their bytes back, but never duplicated
  const plainConn = await amqp.connect(url);
  plainConn.on('error', () => {});
  const pch = await plainConn.createChannel();
  pch.on('error', () => {});
  const plainIds = new Set<number>();
  let plainId = PLAIN_ID_BASE;
  const consumerConn = await amqp.connect(url);
  consumerConn.on('error', () => {});
  const cch = await consumerConn.createChannel();
  cch.on('error', () => {});
  await cch.prefetch(200);
  await cch.consume('live', (m) => {
    if (m === null) return;
    const n = idIn(m.content);
    if (liveDelivered.has(n)) liveTwice.push(n);
    liveDelivered.add(n);
    cch.ack(m);
  });

  const killAfterMs = 200 + Math.floor(random() * 1300);
  const started = Date.now();
  let id = 0;
  while (Date.now() - started < killAfterMs) {
    for (let i = 0; i < 8; i++) {
      const n = id++;
      // mostly small, sometimes larger than the 256 KiB write buffer (written straight to the file)
      const size = random() < 0.02 ? 300_000 : 16 + Math.floor(random() * 4000);
      const body = Buffer.alloc(size, 0x61 + (n % 26));
      body.write(`ID:${n}:`, 0);
      outstanding.add(n);
      ch.publish('fan', '', body, { persistent: true }, (err) => {
        if (err === null || err === undefined) acked.add(n);
        else if (err.message === 'message nacked') nacked.add(n);
        else return; // the channel closed (the kill): neither confirmed nor refused, stays unsettled
        outstanding.delete(n);
      });
    }
    for (let i = 0; i < 3; i++) {
      const n = plainId++;
      const body = Buffer.alloc(16 + Math.floor(random() * 2000), 0x41 + (n % 26));
      body.write(`ID:${n}:`, 0);
      plainIds.add(n);
      pch.publish('fan', '', body, { persistent: true });
    }
    await new Promise((resolve) => setTimeout(resolve, 1 + Math.floor(random() * 5)));
  }
  const crashed = broker.child.exitCode;
  broker.child.kill('SIGKILL');
  await broker.exited;
  await new Promise((resolve) => setTimeout(resolve, 50)); // confirms already on the wire are read
  const faults = /POSTBOX_FAULTS is set/.test(broker.output()) ? plan : 'none';
  const failures = (broker.output().match(/storage write\/fsync failed/g) ?? []).length;
  const unsettled = new Set(outstanding);
  const deliveredWhileRunning = new Set(liveDelivered);

  const hurt = random() < 0.5 ? damage(queueDir(data, 'audit'), random) : { damaged: new Set<number>(), behind: new Set<number>(), notes: [] };

  const restarted = await spawnBroker(data, [...mode, '--segment-size', String(SEGMENT_BYTES)]);
  brokers.push(restarted);
  const url2 = `amqp://guest:guest@127.0.0.1:${restarted.amqpPort}`;
  const reader = await amqp.connect(url2);
  const rch = await reader.createChannel();
  const audit = new Map<number, number>();
  const liveAfter = new Set<number>();
  const expected = (await rch.checkQueue('audit')).messageCount;
  const expectedLive = (await rch.checkQueue('live')).messageCount;
  await rch.prefetch(1000);
  await rch.consume('audit', (m) => {
    if (m === null) return;
    const n = idIn(m.content);
    audit.set(n, (audit.get(n) ?? 0) + 1);
    rch.ack(m);
  });
  await rch.consume('live', (m) => {
    if (m === null) return;
    liveAfter.add(idIn(m.content));
    rch.ack(m);
  });
  let auditCount = 0;
  let liveCount = 0;
  await until(() => {
    auditCount = [...audit.values()].reduce((a, b) => a + b, 0);
    liveCount = liveAfter.size;
    return auditCount >= expected && liveCount >= expectedLive;
  }, 'the queues to be read out');
  await reader.close().catch(() => {});
  await conn.close().catch(() => {});
  await consumerConn.close().catch(() => {});
  await plainConn.close().catch(() => {});
  restarted.child.kill('SIGKILL');
  await restarted.exited;

  const recoveryLines = restarted
    .output()
    .split('\n')
    .filter((l) => /dropped [1-9]|moved aside|corrupt/.test(l));
  log(
    `iteration ${iteration} seed ${seed}${deliverAfterFsync ? ' --deliver-after-fsync' : ''}: ${id} published, ${acked.size} confirmed, ${nacked.size} nacked, ${unsettled.size} unsettled at kill; ` +
      `faults ${faults}; ${failures} storage failure line(s); damage: ${hurt.notes.join('; ') || 'none'}; ` +
      `audit ${auditCount} after restart, live ${deliveredWhileRunning.size} delivered while running + ${liveAfter.size} after` +
      (recoveryLines.length > 0 ? `; recovery: ${recoveryLines.length} line(s)` : '') +
      `; non-confirm: ${plainIds.size} published, ${[...liveDelivered].filter((n) => plainIds.has(n)).length} delivered live, ` +
      `${[...audit.keys()].filter((n) => plainIds.has(n)).length} in audit after restart`,
  );

  const context = `(iteration ${iteration}, seed ${seed}, replay with FUZZ_SEED=${SEED})`;
  assert.equal(crashed, null, `the broker exited (${crashed}) before the kill ${context}:\n${broker.output().slice(-2000)}`);
  assert.deepEqual(liveTwice, [], `the live consumer got these messages twice while the broker ran ${context}`);
  let damagedLost = 0;
  for (const n of acked) {
    const count = audit.get(n) ?? 0;
    if (count === 1) continue;
    assert.ok(count < 2, `confirmed message ${n} came out of audit ${count} times ${context}`);
    if (hurt.damaged.has(n)) {
      damagedLost++;
      continue;
    }
    assert.fail(`confirmed message ${n} is missing from audit after the restart ${context}`);
  }
  if (process.env.FUZZ_DEBUG) {
    for (const n of nacked) {
      if (!audit.has(n)) continue;
      const adir = queueDir(data, 'audit');
      for (const name of fs.readdirSync(adir)) {
        const bytes = fs.readFileSync(path.join(adir, name));
        const at = bytes.indexOf(`ID:${n}:`);
        if (at >= 0) log(`nacked ${n} found in ${name} at ${at} (file ${bytes.length} bytes)`);
      }
    }
    fs.writeFileSync(path.join(os.tmpdir(), `fault-fuzz-${iteration}.log`), broker.output() + '\n---- restart\n' + restarted.output());
  }
  for (const n of nacked) {
    if (deliverAfterFsync) assert.ok(!deliveredWhileRunning.has(n), `nacked message ${n} was delivered to the live consumer ${context}`);
    assert.ok(!audit.has(n), `nacked message ${n} came out of audit after the restart ${context}`);
    assert.ok(!liveAfter.has(n), `nacked message ${n} came out of live after the restart ${context}`);
  }
  for (const [n, count] of audit) {
    assert.ok((n >= 0 && n < id) || plainIds.has(n), `audit held a message nobody published (${n}) ${context}`);
    assert.equal(count, 1, `message ${n} came out of audit ${count} times ${context}`);
  }
  if (damagedLost > 0)
    log(`  damaged: ${damagedLost} confirmed message(s) lost to damage of their own bytes (${hurt.behind.size} record(s) after the damage kept)`);
  return nacked.size;
}

const context = (): string => `(replay with FUZZ_SEED=${SEED})`;

test(`confirmed messages survive storage faults, kill -9 and file damage exactly once, and nacked ones never come back (nor, with --deliver-after-fsync, reach a consumer at all) (seed ${SEED})`, async (t) => {
  const random = seededRandom(SEED);
  const log = (line: string): void => t.diagnostic(line);
  log(`FUZZ_SEED=${SEED} FUZZ_ITERATIONS=${ITERATIONS}`);
  let nacks = 0;
  for (let i = 0; i < ITERATIONS; i++) nacks += await runIteration(i, Math.floor(random() * 2 ** 31), i % 2 === 0, log);
  // the faults were really injected and refused publishes (else this run proved nothing)
  assert.ok(nacks > 0, `no publish was nacked in ${ITERATIONS} iteration(s): were faults injected? ${context()}`);
});

const KAFKA_ITERATIONS = Number(process.env.FUZZ_KAFKA_ITERATIONS ?? 2);

async function runKafkaIteration(iteration: number, seed: number, log: (line: string) => void): Promise<number> {
  const random = seededRandom(seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-fault-fuzz-kafka-'));
  dirs.push(dir);
  const data = path.join(dir, 'data');
  const plan = faultPlan(random, seed);
  process.env.POSTBOX_FAULTS = plan;
  let broker: BrokerProcess;
  try {
    broker = await spawnBroker(data, ['--deliver-after-fsync']);
  } finally {
    delete process.env.POSTBOX_FAULTS;
  }
  brokers.push(broker);
  const kafka = new Kafka({ clientId: 'fault-fuzz', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'fuzz', numPartitions: 1 }] });
  await admin.disconnect().catch(() => {});
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false, retry: { retries: 0 } });
  await producer.connect();
  // a consumer fetching while the faults happen: what it sees below the high watermark must stay put
  const fetchedLive = new Map<string, bigint>();
  let fetching = true;
  const fetcher = (async () => {
    const raw = await RawKafkaClient.connect(broker.kafkaPort);
    let next = 0n;
    try {
      while (fetching) {
        const answer = await raw.fetch('fuzz', 0, next, 50);
        for (const record of await decodeRecords(answer.records)) {
          if (record.offset < next || record.offset >= answer.highWatermark) continue;
          const value = record.value ?? '';
          fetchedLive.set(value.slice(0, value.indexOf(':', 3) + 1), record.offset);
          next = record.offset + 1n;
        }
      }
    } catch {
      // the broker was killed under it
    } finally {
      raw.close();
    }
  })();
  /** acknowledged value -> its offset */
  const acked = new Map<string, bigint>();
  const failed = new Set<string>();
  const errorTypes = new Set<string>();
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  const killAfterMs = 300 + Math.floor(random() * 1200);
  const started = Date.now();
  while (Date.now() - started < killAfterMs) {
    while (inFlight.size < 8) {
      const values = Array.from({ length: 1 + Math.floor(random() * 5) }, () => `ID:${sent++}:` + 'k'.repeat(Math.floor(random() * 2000)));
      const p: Promise<void> = producer
        .send({ topic: 'fuzz', acks: -1, messages: values.map((value) => ({ value })) })
        .then(
          (meta) => {
            const base = BigInt(meta[0]!.baseOffset ?? '-1');
            values.forEach((value, i) => acked.set(value.slice(0, value.indexOf(':', 3) + 1), base + BigInt(i)));
          },
          (err: Error) => {
            // only a storage error from the broker means "not stored"; a dropped connection means "unknown"
            let type: string | undefined;
            for (let e: (Error & { type?: string; cause?: unknown }) | undefined = err; e !== undefined && type === undefined; e = e.cause as typeof e)
              type = e.type;
            if (process.env.FUZZ_DEBUG) errorTypes.add(`${err.name}/${type}`);
            if (type === 'KAFKA_STORAGE_ERROR') for (const value of values) failed.add(value.slice(0, value.indexOf(':', 3) + 1));
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.race(inFlight);
  }
  broker.child.kill('SIGKILL');
  await broker.exited;
  fetching = false;
  await fetcher;
  await Promise.allSettled([...inFlight]);
  await producer.disconnect().catch(() => {});
  const failures = (broker.output().match(/storage write\/fsync failed/g) ?? []).length;

  const restarted = await spawnBroker(data, ['--deliver-after-fsync']);
  brokers.push(restarted);
  const reader = new Kafka({ clientId: 'fault-fuzz-reader', brokers: [`127.0.0.1:${restarted.kafkaPort}`], logLevel: logLevel.NOTHING });
  const radmin = reader.admin();
  await radmin.connect();
  const [offsets] = await radmin.fetchTopicOffsets('fuzz');
  await radmin.disconnect();
  const end = BigInt(offsets!.high);
  const seen = new Map<string, bigint[]>();
  let last = -1n;
  let gaps = 0;
  const raw = await RawKafkaClient.connect(restarted.kafkaPort);
  try {
    let next = 0n;
    while (next < end) {
      const answer = await raw.fetch('fuzz', 0, next, 0);
      const records = await decodeRecords(answer.records);
      if (records.length === 0) break;
      for (const record of records) {
        if (record.offset < next) continue;
        if (record.offset !== last + 1n) gaps++;
        last = record.offset;
        const value = record.value ?? '';
        const id = value.slice(0, value.indexOf(':', 3) + 1);
        seen.set(id, [...(seen.get(id) ?? []), record.offset]);
        next = record.offset + 1n;
      }
    }
  } finally {
    raw.close();
  }
  restarted.child.kill('SIGKILL');
  await restarted.exited;
  log(
    `kafka iteration ${iteration} seed ${seed}: ${sent} produced, ${acked.size} acknowledged, ${failed.size} failed with KAFKA_STORAGE_ERROR; ` +
      `faults ${plan}; ${failures} storage failure line(s); ${fetchedLive.size} fetched while running; ${end} record(s) after restart` +
      (errorTypes.size > 0 ? `; errors ${[...errorTypes].join(', ')}` : ''),
  );
  const context = `(kafka iteration ${iteration}, seed ${seed}, replay with FUZZ_SEED=${SEED})`;
  assert.equal(gaps, 0, `offsets are dense from 0 to the high watermark ${context}`);
  for (const [id, offset] of acked) {
    const at = seen.get(id);
    assert.ok(at !== undefined, `acknowledged record ${id} is missing after the restart ${context}`);
    assert.deepEqual(at, [offset], `acknowledged record ${id} is at its acknowledged offset ${offset}, exactly once ${context}`);
  }
  for (const id of failed) assert.ok(!seen.has(id), `record ${id} whose produce failed was fetched after the restart ${context}`);
  for (const id of failed) assert.ok(!fetchedLive.has(id), `record ${id} whose produce failed was fetched while running ${context}`);
  for (const [id, offset] of fetchedLive) {
    assert.deepEqual(seen.get(id), [offset], `record ${id}, fetched at offset ${offset} while running, is there after the restart ${context}`);
  }
  for (const [id, at] of seen) assert.equal(at.length, 1, `record ${id} is stored ${at.length} times ${context}`);
  return failed.size;
}

test(`Kafka: acknowledged records survive storage faults and kill -9 at their offsets exactly once, and failed produces are never fetched (seed ${SEED})`, async (t) => {
  const random = seededRandom(SEED ^ 0x5bd1e995);
  const log = (line: string): void => t.diagnostic(line);
  let failed = 0;
  for (let i = 0; i < KAFKA_ITERATIONS; i++) failed += await runKafkaIteration(i, Math.floor(random() * 2 ** 31), log);
  log(`${failed} produce(s) failed with KAFKA_STORAGE_ERROR in all`);
});
