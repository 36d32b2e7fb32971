/**
 * A virtual host over each storage engine: publish routes through an exchange into a queue's store and to
 * its consumer, and an x-delayed-message exchange holds a message in a store of its own until it is due.
 * The vhost's context is what BrokerCore gives it (stores opened through the engine, the engine's rounds
 * behind the durability gates), so the same test body runs over the memory engine and the file engine.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../log/logger.js';
import { FileStorageEngine } from '../storage/file-engine.js';
import { MemoryStorageEngine } from '../storage/memory/engine.js';
import type { Durability, QueueRecoveryVisitor, QueueStore, StorageEngine } from '../storage/stores.js';
import type { Position } from '../util/position-ring.js';
import { Message } from './message.js';
import { editProperties } from './properties.js';
import { BrokerStats } from './stats.js';
import { QueueDurabilityGate } from './queue/durability-gate.js';
import type { Consumer, Queue } from './queue/queue.js';
import { PUBLISH_CONFIRM, publishOutcome, VirtualHost, type VhostContext } from './vhost.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** How long a test waits for a delivery before it fails, ms. */
const WAIT_LIMIT_MS = 10_000;
/** The hold of the delayed message, ms: long enough to see it held, short enough for a fast test. */
const DELAY_MS = 50;

/** BrokerCore's side of a vhost, over `engine` (definitions are not kept: nothing here restarts). */
class EngineContext implements VhostContext {
  readonly stats = new BrokerStats();
  /** the strict mode: a confirmed publish is delivered once its round completed (what these tests check) */
  readonly deliverAfterFsync = true;
  readonly stores: QueueStore[] = [];
  readonly lost: string[] = [];
  private readonly durableGate: QueueDurabilityGate;
  private readonly transientGate: QueueDurabilityGate;
  private counter = 0;

  constructor(readonly engine: StorageEngine) {
    this.durableGate = new QueueDurabilityGate(engine.durable);
    this.transientGate = new QueueDurabilityGate(engine.transient);
  }

  get scheduler(): Durability {
    return this.engine.durable;
  }

  openQueueStore(_vhost: string, _name: string, durable: boolean): { store: QueueStore; storage: string } {
    const storage = `queue-${++this.counter}`;
    const store = this.engine.openQueueStore({ kind: 'queue', name: storage, durable, restore: false });
    this.stores.push(store);
    return { store, storage };
  }

  openDelayedStore(_vhost: string, _exchange: string, durable: boolean, restore: boolean, onRecovered: QueueRecoveryVisitor): QueueStore {
    const store = this.engine.openQueueStore({ kind: 'delayed', name: `delayed-${++this.counter}`, durable, restore, onRecovered });
    this.stores.push(store);
    return store;
  }

  checkQueueLimit(): void {}
  definitionsChanged(): void {}

  queueAppended(queue: Queue): number {
    return (queue.durable ? this.durableGate : this.transientGate).appended(queue);
  }

  queueAppendedUnawaited(queue: Queue): number {
    return (queue.durable ? this.durableGate : this.transientGate).appendedUnawaited(queue);
  }

  requestDurabilityRound(): number {
    return this.engine.durable.requestRound();
  }

  undecodableMessageDropped(): void {}

  delayedMessageLost(_vhost: string, _exchange: string, reason: string): void {
    this.lost.push(reason);
  }
}

class CollectingConsumer implements Consumer {
  readonly tag = 'collector';
  readonly noAck = false;
  readonly exclusive = false;
  readonly owner = {};
  readonly priority = 0;
  readonly received: Array<{ body: string; segment: number; offset: number }> = [];

  hasCredit(): boolean {
    return true;
  }

  deliver(_queue: Queue, message: Message, p: Readonly<Position>): void {
    this.received.push({ body: message.body.toString(), segment: p.segment, offset: p.offset });
  }

  cancelledByBroker(): void {}
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function liveRecords(stores: readonly QueueStore[]): number {
  return stores.reduce((sum, store) => sum + store.liveRecords, 0);
}

function vhostOverEngines(engineName: string, makeEngine: () => StorageEngine): void {
  describe(`a vhost over the ${engineName} engine`, () => {
    test('a confirmed persistent publish is routed into a durable queue, covered by a round, delivered, and freed by its ack', async () => {
      const context = new EngineContext(makeEngine());
      const vhost = new VirtualHost('/', context);
      const exchange = vhost.declareExchange({
        name: 'orders',
        type: 'direct',
        passive: false,
        durable: true,
        autoDelete: false,
        internal: false,
        arguments: {},
      });
      const { queue } = vhost.declareQueue({ name: 'orders.eu', passive: false, durable: true, exclusive: false, autoDelete: false, arguments: {} }, {});
      vhost.bindQueue('orders.eu', 'orders', 'eu', {}, null);
      const outcome = vhost.publish(
        exchange,
        new Message('orders', 'eu', Buffer.from([0, 0]), Buffer.from('order 1'), true),
        PUBLISH_CONFIRM,
        publishOutcome(),
      );
      assert.equal(outcome.routed, 1);
      assert.ok(outcome.round > 0, 'a confirm waits for a round');
      assert.equal(liveRecords(context.stores), 1);
      const consumer = new CollectingConsumer();
      queue.addConsumer(consumer);
      await waitFor('the delivery', () => consumer.received.length === 1);
      assert.ok(context.engine.durable.completedRound >= outcome.round, 'delivered once its round completed');
      assert.equal(consumer.received[0]!.body, 'order 1');
      queue.settle(consumer.received[0]!.segment, consumer.received[0]!.offset);
      assert.equal(liveRecords(context.stores), 0);
      vhost.destroy();
      await context.engine.close();
    });

    test('a delayed exchange holds a message in its own store until due, then routes it and frees the held record', async () => {
      const context = new EngineContext(makeEngine());
      const vhost = new VirtualHost('/', context);
      const exchange = vhost.declareExchange({
        name: 'later',
        type: 'x-delayed-message',
        passive: false,
        durable: true,
        autoDelete: false,
        internal: false,
        arguments: { 'x-delayed-type': 'direct' },
      });
      const { queue } = vhost.declareQueue({ name: 'later.q', passive: false, durable: true, exclusive: false, autoDelete: false, arguments: {} }, {});
      vhost.bindQueue('later.q', 'later', 'k', {}, null);
      const properties = editProperties(Buffer.alloc(2), { 'x-delay': DELAY_MS }, false);
      const outcome = vhost.publish(exchange, new Message('later', 'k', properties, Buffer.from('held'), true), PUBLISH_CONFIRM, publishOutcome());
      assert.equal(outcome.routed, 1);
      assert.equal(exchange.delayed!.pending, 1);
      assert.equal(queue.messageCount, 0, 'held by the exchange, not in the queue yet');
      assert.equal(liveRecords(context.stores), 1, 'the held message is a record of the delayed store');
      const consumer = new CollectingConsumer();
      queue.addConsumer(consumer);
      await waitFor('the delivery when due', () => consumer.received.length === 1);
      assert.equal(consumer.received[0]!.body, 'held');
      assert.equal(exchange.delayed!.pending, 0);
      // the held record is acked once the round covering the queue's copy completed
      await waitFor('the held record acked', () => liveRecords(context.stores) === 1);
      queue.settle(consumer.received[0]!.segment, consumer.received[0]!.offset);
      assert.equal(liveRecords(context.stores), 0);
      assert.deepEqual(context.lost, []);
      vhost.destroy();
      await context.engine.close();
    });
  });
}

vhostOverEngines('memory', () => new MemoryStorageEngine());
vhostOverEngines('file', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-vhost-engines-'));
  createdDirs.push(dataDir);
  const engine = new FileStorageEngine({ fsync: 'always', logger: createLogger('silent'), dataDir });
  engine.dropTransientQueueStores();
  return engine;
});
