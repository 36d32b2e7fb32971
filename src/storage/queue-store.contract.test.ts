/**
 * One test body for every queue store engine (ARCHITECTURE.md habit 6): `queueStoreContract` runs the same
 * tests over the file engine (a SegmentLog in a temporary data directory) and the memory engine. Tests
 * of what only an engine that persists can do (reopening, recovery) are the file engine's, named so.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../log/logger.js';
import { FileStorageEngine } from './file-engine.js';
import { MemoryStorageEngine } from './memory/engine.js';
import { whenDurable, type Durability, type QueueStore, type QueueStoreOptions, type StorageEngine } from './stores.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-queue-store-'));
  createdDirs.push(dir);
  return dir;
}

/** a file engine with small segments (several segments after a few hundred records) */
function fileEngine(dataDir = temporaryDir()): FileStorageEngine {
  const engine = new FileStorageEngine({ fsync: 'always', logger: createLogger('silent'), dataDir, queueSegmentBytes: 4096 });
  engine.dropTransientQueueStores();
  return engine;
}

function options(name: string, extra: Partial<QueueStoreOptions> = {}): QueueStoreOptions {
  return { kind: 'queue', name, durable: true, restore: false, ...extra };
}

/** A deterministic payload of `length` bytes for record `n`. */
function payloadFor(n: number, length = 10 + (n % 97)): Buffer {
  const payload = Buffer.alloc(length);
  for (let i = 0; i < length; i++) payload[i] = (n * 31 + i * 7) & 0xff;
  payload.writeUInt32BE(n, 0);
  return payload;
}

interface Appended {
  segment: number;
  offset: number;
  payload: Buffer;
}

/** appends `payload` in three parts, as a queue appends header, properties and body */
function append(store: QueueStore, payload: Buffer): Appended {
  const a = Math.floor(payload.length / 3);
  const b = Math.floor((payload.length * 2) / 3);
  const offset = store.append([payload.subarray(0, a), payload.subarray(a, b), payload.subarray(b)], payload.length);
  return { segment: store.lastSegment, offset, payload };
}

function appendMany(store: QueueStore, count: number, first = 0): Appended[] {
  const out: Appended[] = [];
  for (let n = first; n < first + count; n++) out.push(append(store, payloadFor(n)));
  return out;
}

function before(a: Appended, b: Appended): boolean {
  return a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset);
}

/** resolves once a round requested now completed (rejects if it failed) */
function roundCompleted(durability: Durability): Promise<void> {
  return whenDurable(durability, durability.requestRound());
}

function queueStoreContract(engineName: string, makeEngine: () => StorageEngine): void {
  describe(`queue store contract: ${engineName} engine`, () => {
    test('records read back as appended, from their parts, at positions that grow in append order', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('order'));
      const records = appendMany(store, 300);
      for (let i = 1; i < records.length; i++) assert.ok(before(records[i - 1]!, records[i]!), `record ${i} comes after record ${i - 1}`);
      for (const r of records) {
        assert.deepEqual(store.read(r.segment, r.offset, r.payload.length), r.payload);
        assert.deepEqual(store.readAt(r.segment, r.offset), r.payload);
        assert.ok(store.holds(r.segment, r.offset));
      }
      store.close();
      await engine.close();
    });

    test('a record has bytes of its own: changing the appended buffers afterwards changes nothing read', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('copy'));
      const source = payloadFor(7, 64);
      const kept = Buffer.from(source);
      const r = append(store, source);
      const whole = payloadFor(8, 64);
      const wholeKept = Buffer.from(whole);
      const offset = store.append([whole], 64); // one part, as a delayed store's or a small record's may be
      const w = { segment: store.lastSegment, offset };
      source.fill(0xee);
      whole.fill(0xee);
      assert.deepEqual(store.read(r.segment, r.offset, 64), kept);
      assert.deepEqual(store.read(w.segment, w.offset, 64), wholeKept);
      const readOnce = store.read(r.segment, r.offset, 64);
      appendMany(store, 50, 100); // later appends never change a buffer handed out
      assert.deepEqual(readOnce, kept);
      store.close();
      await engine.close();
    });

    test('liveRecords and liveBytes count what is not acked; an ack of an acked or unknown position is refused', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('counts'));
      assert.equal(store.liveRecords, 0);
      assert.equal(store.liveBytes, 0);
      const records = appendMany(store, 10);
      const total = records.reduce((sum, r) => sum + r.payload.length, 0);
      assert.equal(store.liveRecords, 10);
      assert.equal(store.liveBytes, total);
      assert.equal(store.ack(records[3]!.segment, records[3]!.offset), true);
      assert.equal(store.ack(records[3]!.segment, records[3]!.offset), false, 'acked twice');
      assert.equal(store.ack(records[9]!.segment + 1000, 0), false, 'no such segment');
      assert.equal(store.liveRecords, 9);
      assert.equal(store.liveBytes, total - records[3]!.payload.length);
      // the others still read back
      for (const r of records) if (r !== records[3]) assert.deepEqual(store.read(r.segment, r.offset, r.payload.length), r.payload);
      store.close();
      await engine.close();
    });

    test('acking every record across many segments leaves nothing live, and appends go on', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('many'));
      // more than one file segment (4 KiB) and more than one memory block (4096 records)
      const records = appendMany(store, 5000);
      assert.ok(records[records.length - 1]!.segment > records[0]!.segment, 'the records span several segments');
      for (const r of records) assert.equal(store.ack(r.segment, r.offset), true);
      assert.equal(store.liveRecords, 0);
      assert.equal(store.liveBytes, 0);
      // the first segment is freed: its positions are gone
      assert.equal(store.holds(records[0]!.segment, records[0]!.offset), false);
      assert.throws(() => store.read(records[0]!.segment, records[0]!.offset, records[0]!.payload.length), RangeError);
      const next = append(store, payloadFor(9999));
      assert.ok(before(records[records.length - 1]!, next));
      assert.deepEqual(store.read(next.segment, next.offset, next.payload.length), next.payload);
      assert.equal(store.liveRecords, 1);
      store.close();
      await engine.close();
    });

    test('reading a position that holds no record, or with the wrong length, throws a RangeError', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('misses'));
      const r = append(store, payloadFor(1, 40));
      assert.throws(() => store.read(r.segment, r.offset, 41), RangeError);
      assert.throws(() => store.read(r.segment + 7, 0, 40), RangeError);
      assert.throws(() => store.readAt(r.segment + 7, 0), RangeError);
      assert.equal(store.holds(r.segment + 7, 0), false);
      store.close();
      await engine.close();
    });

    test('a payload of 0 bytes, or parts that do not add up to payloadLength, is refused with a RangeError', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('bounds'));
      assert.throws(() => store.append([], 0), RangeError);
      assert.throws(() => store.append([Buffer.from('abc')], 4), RangeError);
      assert.throws(() => store.append([Buffer.from('abcde')], 4), RangeError);
      assert.equal(store.liveRecords, 0);
      store.close();
      await engine.close();
    });

    test('delivered markers change no count, and the records stay readable', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('markers'));
      const records = appendMany(store, 5);
      const bytes = store.liveBytes;
      for (const r of records) store.markDelivered(r.segment, r.offset);
      assert.equal(store.liveRecords, 5);
      assert.equal(store.liveBytes, bytes);
      for (const r of records) assert.deepEqual(store.read(r.segment, r.offset, r.payload.length), r.payload);
      store.close();
      await engine.close();
    });

    test('records appended before a round was requested are readable once it completes, in durable and transient stores', async () => {
      const engine = makeEngine();
      const durable = engine.openQueueStore(options('round-durable'));
      const transient = engine.openQueueStore(options('round-transient', { durable: false }));
      const a = appendMany(durable, 20);
      const b = appendMany(transient, 20);
      await Promise.all([roundCompleted(engine.durable), roundCompleted(engine.transient)]);
      assert.equal(durable.writeFailing, false);
      assert.equal(transient.writeFailing, false);
      for (const r of a) assert.deepEqual(durable.read(r.segment, r.offset, r.payload.length), r.payload);
      for (const r of b) assert.deepEqual(transient.read(r.segment, r.offset, r.payload.length), r.payload);
      durable.close();
      transient.close();
      await engine.close();
    });

    test('a destroyed store holds nothing and refuses appends', async () => {
      const engine = makeEngine();
      const store = engine.openQueueStore(options('destroyed'));
      appendMany(store, 30);
      store.destroy();
      assert.equal(store.liveRecords, 0);
      assert.equal(store.liveBytes, 0);
      assert.throws(() => store.append([Buffer.from('x')], 1));
      await engine.close();
    });

    test('a new store under the name of a closed one starts empty (restore: false)', async () => {
      const engine = makeEngine();
      const first = engine.openQueueStore(options('reused'));
      appendMany(first, 12);
      await roundCompleted(engine.durable);
      first.close();
      const second = engine.openQueueStore(options('reused'));
      assert.equal(second.liveRecords, 0);
      assert.equal(second.liveBytes, 0);
      const r = append(second, payloadFor(3));
      assert.deepEqual(second.read(r.segment, r.offset, r.payload.length), r.payload);
      second.close();
      await engine.close();
    });

    test('a delayed store and a queue store of the same name are separate', async () => {
      const engine = makeEngine();
      const queue = engine.openQueueStore(options('same'));
      const delayed = engine.openQueueStore(options('same', { kind: 'delayed' }));
      appendMany(queue, 3);
      appendMany(delayed, 5);
      assert.equal(queue.liveRecords, 3);
      assert.equal(delayed.liveRecords, 5);
      queue.close();
      delayed.close();
      await engine.close();
    });
  });
}

queueStoreContract('file', () => fileEngine());
queueStoreContract('memory', () => new MemoryStorageEngine());

/** reopens `name` (restore) and collects what recovery hands over */
function reopen(
  engine: StorageEngine,
  name: string,
  extra: Partial<QueueStoreOptions> = {},
): { store: QueueStore; seen: Array<{ segment: number; offset: number; payload: Buffer; deliveries: number }> } {
  const seen: Array<{ segment: number; offset: number; payload: Buffer; deliveries: number }> = [];
  const store = engine.openQueueStore(
    options(name, {
      restore: true,
      onRecovered: (segment, offset, _length, payload, deliveries) => seen.push({ segment, offset, payload: Buffer.from(payload), deliveries }),
      ...extra,
    }),
  );
  return { store, seen };
}

describe('queue store: file engine only (it persists)', () => {
  test('file engine: a reopened store hands over every live record in append order, with its delivered markers', async () => {
    const dataDir = temporaryDir();
    let engine = fileEngine(dataDir);
    const store = engine.openQueueStore(options('recovered'));
    const records = appendMany(store, 400);
    for (let i = 0; i < records.length; i += 3) store.ack(records[i]!.segment, records[i]!.offset);
    store.markDelivered(records[1]!.segment, records[1]!.offset);
    store.markDelivered(records[1]!.segment, records[1]!.offset);
    store.markDelivered(records[2]!.segment, records[2]!.offset);
    await roundCompleted(engine.durable);
    const liveRecords = store.liveRecords;
    const liveBytes = store.liveBytes;
    store.close();
    await engine.close();

    engine = fileEngine(dataDir);
    const { store: again, seen } = reopen(engine, 'recovered');
    const live = records.filter((_, i) => i % 3 !== 0);
    assert.equal(seen.length, live.length);
    assert.deepEqual(
      seen.map((r) => [r.segment, r.offset, r.payload]),
      live.map((r) => [r.segment, r.offset, r.payload]),
    );
    assert.equal(seen[0]!.deliveries, 2);
    assert.equal(seen[1]!.deliveries, 1);
    assert.equal(seen[2]!.deliveries, 0);
    assert.equal(again.liveRecords, liveRecords);
    assert.equal(again.liveBytes, liveBytes);
    // the recovered positions read, ack and append as before
    assert.deepEqual(again.read(live[5]!.segment, live[5]!.offset, live[5]!.payload.length), live[5]!.payload);
    assert.equal(again.ack(live[5]!.segment, live[5]!.offset), true);
    const next = append(again, payloadFor(5000));
    assert.ok(before(live[live.length - 1]!, next));
    again.close();
    await engine.close();
  });

  test('file engine: an error thrown by the recovery visitor stops the open, and describe() names the segment file', async () => {
    const dataDir = temporaryDir();
    let engine = fileEngine(dataDir);
    const store = engine.openQueueStore(options('refused'));
    const r = append(store, payloadFor(1));
    await roundCompleted(engine.durable);
    store.close();
    await engine.close();
    engine = fileEngine(dataDir);
    assert.throws(
      () =>
        engine.openQueueStore(
          options('refused', {
            restore: true,
            onRecovered: (segment, offset, _length, _payload, _deliveries, opening) => {
              throw new Error(`refused: ${opening.describe(segment, offset)}`);
            },
          }),
        ),
      (error: Error) => error.message.includes(path.join(dataDir, 'queues', 'refused', '00000001.seg')) && error.message.includes(`offset ${r.offset}`),
    );
    await engine.close();
  });

  test('file engine: transient stores are dropped at startup, durable ones not named to keep are dropped on request', async () => {
    const dataDir = temporaryDir();
    let engine = fileEngine(dataDir);
    const stores = [
      engine.openQueueStore(options('kept', { kind: 'delayed' })),
      engine.openQueueStore(options('leftover', { kind: 'delayed' })),
      engine.openQueueStore(options('queue-a')),
      engine.openQueueStore(options('short-lived', { durable: false })),
    ];
    for (const store of stores) appendMany(store, 4);
    await Promise.all([roundCompleted(engine.durable), roundCompleted(engine.transient)]);
    for (const store of stores) store.close();
    await engine.close();

    engine = fileEngine(dataDir); // drops the transient stores
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'transient')), []);
    engine.dropQueueStoresExcept('delayed', new Set(['kept']));
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'delayed')), ['kept']);
    const kept = reopen(engine, 'kept', { kind: 'delayed' });
    assert.equal(kept.seen.length, 4);
    const queue = reopen(engine, 'queue-a');
    assert.equal(queue.seen.length, 4, 'queue stores are not touched by a delayed drop');
    kept.store.close();
    queue.store.close();
    await engine.close();
  });
});
