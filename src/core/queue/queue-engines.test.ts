/**
 * A real Queue (delivery, acks, requeue, dead-lettering, purge) over every queue store engine: the same
 * test body runs over the memory engine and the file engine, with the durability gates the core gives its
 * queues. The Queue reaches its records only through the QueueStore interface, so what passes here over
 * the memory engine is what a transient queue or a test gets from it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../log/logger.js';
import { FileStorageEngine } from '../../storage/file-engine.js';
import { MemoryStorageEngine } from '../../storage/memory/engine.js';
import type { QueueStore, StorageEngine } from '../../storage/stores.js';
import { POSITION_REDELIVERED, type Position } from '../../util/position-ring.js';
import type { FieldTable } from '../field-table.js';
import { Message } from '../message.js';
import { BrokerStats } from '../stats.js';
import type { DeathReason } from './dead-letter.js';
import { QueueDurabilityGate } from './durability-gate.js';
import { ENQUEUED, ENQUEUED_DURABLE, Queue, type Consumer, type QueueContext, type RequeueEntry } from './queue.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** How long a test waits for deliveries before it fails, ms (they come within a few turns). */
const WAIT_LIMIT_MS = 10_000;

interface Received {
  body: string;
  redelivered: boolean;
  entry: RequeueEntry;
}

class TestConsumer implements Consumer {
  readonly tag = 'test-consumer';
  readonly noAck = false;
  readonly exclusive = false;
  readonly owner = {};
  readonly priority = 0;
  readonly received: Received[] = [];

  constructor(private credit: number) {}

  hasCredit(): boolean {
    return this.credit > 0;
  }

  deliver(_queue: Queue, message: Message, p: Readonly<Position>): void {
    this.credit--;
    this.received.push({
      body: message.body.toString(),
      redelivered: (p.flags & POSITION_REDELIVERED) !== 0,
      entry: {
        segment: p.segment,
        offset: p.offset,
        length: p.length,
        expiresAt: p.expiresAt,
        deliveries: p.deliveries,
        bodySize: p.bodySize,
        priority: message.priority,
      },
    });
  }

  cancelledByBroker(_queue: Queue): void {}

  grant(credit: number): void {
    this.credit += credit;
  }
}

interface Harness {
  queue: Queue;
  store: QueueStore;
  deadLettered: Array<{ body: string; reason: DeathReason }>;
  close(): Promise<void>;
}

/** a queue as the core makes one: its store from the engine, appends covered by the engine's rounds */
function queueOver(engine: StorageEngine, name: string, durable: boolean, args: FieldTable = {}): Harness {
  const gates = { durable: new QueueDurabilityGate(engine.durable), transient: new QueueDurabilityGate(engine.transient) };
  const deadLettered: Harness['deadLettered'] = [];
  const context: QueueContext = {
    deadLetter: (_queue, message, reason) => void deadLettered.push({ body: message.body.toString(), reason }),
    expireQueue: () => {},
    undecodableMessageDropped: () => {},
    stats: new BrokerStats(),
    appended: (queue) => (queue.durable ? gates.durable : gates.transient).appended(queue),
    appendedUnawaited: (queue) => (queue.durable ? gates.durable : gates.transient).appendedUnawaited(queue),
  };
  const store = engine.openQueueStore({ kind: 'queue', name, durable, restore: false });
  const queue = new Queue({ name, vhost: '/', durable, exclusiveOwner: null, autoDelete: false, arguments: args }, context, store);
  return {
    queue,
    store,
    deadLettered,
    close: async () => {
      await engine.close();
      queue.close();
    },
  };
}

function message(body: string, persistent = true): Message {
  return new Message('', 'q', Buffer.from([0, 0]), Buffer.from(body), persistent);
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function queueOverEngines(engineName: string, makeEngine: () => StorageEngine): void {
  describe(`a queue over the ${engineName} engine`, () => {
    test('delivers what was published, in order, once its round completed; an ack frees the record', async () => {
      const h = queueOver(makeEngine(), 'ordered', true);
      const bodies = ['a', 'b', 'c', 'd', 'e'];
      for (const body of bodies) assert.equal(h.queue.enqueue(message(body), true), ENQUEUED_DURABLE);
      assert.equal(h.store.liveRecords, 5);
      const consumer = new TestConsumer(100);
      h.queue.addConsumer(consumer);
      await waitFor('five deliveries', () => consumer.received.length === 5);
      assert.deepEqual(
        consumer.received.map((r) => r.body),
        bodies,
      );
      for (const r of consumer.received) h.queue.settle(r.entry.segment, r.entry.offset);
      assert.equal(h.queue.unackedCount, 0);
      assert.equal(h.store.liveRecords, 0);
      assert.equal(h.store.liveBytes, 0);
      await h.close();
    });

    test('requeued messages come back redelivered, in their original order, and stay stored until acked', async () => {
      const h = queueOver(makeEngine(), 'requeued', false);
      for (const body of ['one', 'two', 'three']) assert.equal(h.queue.enqueue(message(body, false), false), ENQUEUED);
      const consumer = new TestConsumer(3);
      h.queue.addConsumer(consumer);
      await waitFor('three deliveries', () => consumer.received.length === 3);
      const [one, two, three] = consumer.received;
      h.queue.requeue([three!.entry, one!.entry, two!.entry]);
      assert.equal(h.store.liveRecords, 3);
      consumer.grant(3);
      await waitFor('three redeliveries', () => consumer.received.length === 6);
      const again = consumer.received.slice(3);
      assert.deepEqual(
        again.map((r) => [r.body, r.redelivered]),
        [
          ['one', true],
          ['two', true],
          ['three', true],
        ],
      );
      for (const r of again) h.queue.settle(r.entry.segment, r.entry.offset);
      assert.equal(h.store.liveRecords, 0);
      await h.close();
    });

    test('a rejected message is dead-lettered with its body read back from the store, and its record freed', async () => {
      const h = queueOver(makeEngine(), 'rejected', true, { 'x-dead-letter-exchange': 'dlx' });
      h.queue.enqueue(message('refused body'), false);
      const consumer = new TestConsumer(1);
      h.queue.addConsumer(consumer);
      await waitFor('a delivery', () => consumer.received.length === 1);
      h.queue.reject(consumer.received[0]!.entry);
      assert.deepEqual(h.deadLettered, [{ body: 'refused body', reason: 'rejected' }]);
      assert.equal(h.store.liveRecords, 0);
      await h.close();
    });

    test('a purge drops the ready messages and frees their records; unacked ones stay', async () => {
      const h = queueOver(makeEngine(), 'purged', true);
      const consumer = new TestConsumer(2);
      h.queue.addConsumer(consumer);
      for (let i = 0; i < 10; i++) h.queue.enqueue(message(`m${i}`), true);
      await waitFor('two deliveries', () => consumer.received.length === 2);
      await waitFor('the rest ready', () => !h.queue.hasPending);
      assert.equal(h.queue.purge(), 8);
      assert.equal(h.store.liveRecords, 2);
      for (const r of consumer.received) h.queue.settle(r.entry.segment, r.entry.offset);
      assert.equal(h.store.liveRecords, 0);
      await h.close();
    });
  });
}

queueOverEngines('memory', () => new MemoryStorageEngine());
queueOverEngines('file', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-queue-engines-'));
  createdDirs.push(dataDir);
  const engine = new FileStorageEngine({ fsync: 'always', logger: createLogger('silent'), dataDir });
  engine.dropTransientQueueStores();
  return engine;
});
