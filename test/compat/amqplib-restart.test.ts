import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { drainBodies, expectChannelClose, text } from '../helpers/amqplib.js';

/** one data directory, used by a broker that is stopped and started again between steps */
describe('amqplib: state across a broker restart', () => {
  const dataDir = tempDataDir('postbox-compat-restart-');
  let broker: TestBroker | undefined;

  after(async () => {
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function restart(): Promise<void> {
    await broker?.stop();
    broker = await startTestBroker({ dataDir });
  }

  /** open a connection, run `body` with a channel, close the connection */
  async function withChannel<T>(body: (ch: Channel, conn: ChannelModel) => Promise<T>): Promise<T> {
    const conn = await amqp.connect(broker!.url);
    conn.on('error', () => {});
    try {
      return await body(await conn.createConfirmChannel(), conn);
    } finally {
      await conn.close().catch(() => {});
    }
  }

  test('a broker shutdown closes client connections with 320 CONNECTION_FORCED', async () => {
    await restart();
    const conn = await amqp.connect(broker!.url);
    // amqplib treats 320 as non-fatal: no 'error' event, the 'close' event carries the reason
    const closed = new Promise<(Error & { code?: number }) | undefined>((resolve) => conn.once('close', resolve));
    await restart();
    const err = await closed;
    assert.ok(err !== undefined, 'close without a reason');
    assert.equal(err.code, 320);
    assert.match(err.message, /CONNECTION.FORCED/);
  });

  test('durable exchanges, queues and bindings survive a restart; transient ones do not', async () => {
    await restart();
    await withChannel(async (ch) => {
      await ch.assertExchange('rs.durable.x', 'topic', { durable: true });
      await ch.assertExchange('rs.transient.x', 'topic', { durable: false });
      await ch.assertQueue('rs.durable.q', { durable: true });
      await ch.assertQueue('rs.transient.q', { durable: false });
      await ch.bindQueue('rs.durable.q', 'rs.durable.x', 'orders.#');
      await ch.bindQueue('rs.durable.q', 'amq.fanout', '');
      await ch.assertExchange('rs.durable.x2', 'fanout', { durable: true });
      await ch.bindExchange('rs.durable.x2', 'rs.durable.x', 'e2e.*');
      await ch.assertQueue('rs.durable.q2', { durable: true });
      await ch.bindQueue('rs.durable.q2', 'rs.durable.x2', '');
    });
    await restart();
    await withChannel(async (ch) => {
      await ch.checkExchange('rs.durable.x');
      await ch.checkQueue('rs.durable.q');
      await ch.checkQueue('rs.durable.q2');
      ch.publish('rs.durable.x', 'orders.eu', text('via-topic-binding'));
      ch.publish('rs.durable.x', 'invoices.eu', text('unrouted'));
      ch.publish('amq.fanout', '', text('via-amq-fanout'));
      ch.publish('rs.durable.x', 'e2e.one', text('via-e2e'));
      assert.deepEqual(await drainBodies(ch, 'rs.durable.q'), ['via-topic-binding', 'via-amq-fanout']);
      assert.deepEqual(await drainBodies(ch, 'rs.durable.q2'), ['via-e2e']);
      assert.equal((await ch.assertExchange('rs.durable.x', 'topic', { durable: true })).exchange, 'rs.durable.x');
    });
    await withChannel(async (ch) => {
      await expectChannelClose(ch, 404, () => ch.checkExchange('rs.transient.x'));
    });
    await withChannel(async (ch) => {
      await expectChannelClose(ch, 404, () => ch.checkQueue('rs.transient.q'));
    });
  });

  test('exchange arguments and flags (alternate exchange, internal, auto-delete) survive a restart', async () => {
    await restart();
    await withChannel(async (ch) => {
      await ch.assertExchange('rs.ae.spill', 'fanout', { durable: true });
      await ch.assertExchange('rs.ae.main', 'direct', { durable: true, alternateExchange: 'rs.ae.spill' });
      await ch.assertExchange('rs.internal', 'fanout', { durable: true, internal: true });
      await ch.assertQueue('rs.ae.q', { durable: true });
      await ch.bindQueue('rs.ae.q', 'rs.ae.spill', '');
    });
    await restart();
    await withChannel(async (ch) => {
      ch.publish('rs.ae.main', 'unroutable', text('spilled'));
      assert.deepEqual(await drainBodies(ch, 'rs.ae.q'), ['spilled']);
      await ch.assertExchange('rs.internal', 'fanout', { durable: true, internal: true }); // equivalent
    });
    await withChannel(async (ch) => {
      await expectChannelClose(ch, 406, () => ch.assertExchange('rs.internal', 'fanout', { durable: true, internal: false }));
    });
  });

  test('a queue deleted before a restart stays deleted', async () => {
    await restart();
    await withChannel(async (ch) => {
      await ch.assertQueue('rs.deleted.q', { durable: true });
      await ch.assertExchange('rs.deleted.x', 'direct', { durable: true });
      await ch.deleteQueue('rs.deleted.q');
      await ch.deleteExchange('rs.deleted.x');
    });
    await restart();
    await withChannel(async (ch) => {
      await expectChannelClose(ch, 404, () => ch.checkQueue('rs.deleted.q'));
    });
    await withChannel(async (ch) => {
      await expectChannelClose(ch, 404, () => ch.checkExchange('rs.deleted.x'));
    });
  });

  test('confirmed persistent messages in a durable queue survive a restart; transient ones do not', async () => {
    await restart();
    await withChannel(async (ch) => {
      const confirm = ch as amqp.ConfirmChannel;
      await ch.assertQueue('rs.messages', { durable: true });
      for (let i = 0; i < 20; i++) {
        confirm.sendToQueue('rs.messages', text(i % 2 === 0 ? `persistent-${i}` : `transient-${i}`), { persistent: i % 2 === 0 });
      }
      await confirm.waitForConfirms();
      assert.equal((await ch.checkQueue('rs.messages')).messageCount, 20);
    });
    await restart();
    await withChannel(async (ch) => {
      const expected = Array.from({ length: 10 }, (_, k) => `persistent-${k * 2}`);
      assert.equal((await ch.checkQueue('rs.messages')).messageCount, 10);
      const m = await ch.get('rs.messages', { noAck: true });
      assert.ok(m !== false);
      assert.equal(m.content.toString(), expected[0]);
      assert.equal(m.properties.deliveryMode, 2);
      assert.deepEqual(await drainBodies(ch, 'rs.messages'), expected.slice(1));
    });
  });

  test('persistent messages in a non-durable queue do not survive a restart', async () => {
    await restart();
    await withChannel(async (ch) => {
      await ch.assertQueue('rs.transient.holder', { durable: false });
      ch.sendToQueue('rs.transient.holder', text('gone'), { persistent: true });
      await (ch as amqp.ConfirmChannel).waitForConfirms();
    });
    await restart();
    await withChannel(async (ch) => {
      await expectChannelClose(ch, 404, () => ch.checkQueue('rs.transient.holder'));
    });
  });

  test('acked messages stay acked after a restart, and unacked ones come back', async () => {
    await restart();
    await withChannel(async (ch) => {
      await ch.assertQueue('rs.acked', { durable: true });
      for (let i = 0; i < 6; i++) (ch as amqp.ConfirmChannel).sendToQueue('rs.acked', text(`m${i}`), { persistent: true });
      await (ch as amqp.ConfirmChannel).waitForConfirms();
      const taken = [];
      for (let i = 0; i < 4; i++) {
        const m = await ch.get('rs.acked');
        assert.ok(m !== false);
        taken.push(m);
      }
      ch.ack(taken[0]!);
      ch.ack(taken[2]!, false);
      ch.ack(taken[3]!, false);
      await ch.checkQueue('rs.acked'); // the acks are processed before this reply
      // taken[1] stays unacked when the connection closes
    });
    await restart();
    await withChannel(async (ch) => {
      assert.deepEqual(await drainBodies(ch, 'rs.acked'), ['m1', 'm4', 'm5']);
    });
    await restart();
    await withChannel(async (ch) => {
      assert.deepEqual(await drainBodies(ch, 'rs.acked'), []);
    });
  });

  test('purged and rejected messages stay gone after a restart', async () => {
    await restart();
    await withChannel(async (ch) => {
      const confirm = ch as amqp.ConfirmChannel;
      await ch.assertQueue('rs.purged', { durable: true });
      await ch.assertQueue('rs.rejected', { durable: true });
      for (let i = 0; i < 3; i++) confirm.sendToQueue('rs.purged', text(`p${i}`), { persistent: true });
      for (let i = 0; i < 3; i++) confirm.sendToQueue('rs.rejected', text(`r${i}`), { persistent: true });
      await confirm.waitForConfirms();
      assert.deepEqual(await ch.purgeQueue('rs.purged'), { messageCount: 3 });
      const m = await ch.get('rs.rejected');
      assert.ok(m !== false);
      ch.reject(m, false);
      await ch.checkQueue('rs.rejected');
    });
    await restart();
    await withChannel(async (ch) => {
      assert.equal((await ch.checkQueue('rs.purged')).messageCount, 0);
      assert.deepEqual(await drainBodies(ch, 'rs.rejected'), ['r1', 'r2']);
    });
  });

  test('a durable queue deleted and declared again starts empty after a restart', async () => {
    await restart();
    await withChannel(async (ch) => {
      const confirm = ch as amqp.ConfirmChannel;
      await ch.assertQueue('rs.redeclared', { durable: true });
      confirm.sendToQueue('rs.redeclared', text('old'), { persistent: true });
      await confirm.waitForConfirms();
      await ch.deleteQueue('rs.redeclared');
      await ch.assertQueue('rs.redeclared', { durable: true });
      confirm.sendToQueue('rs.redeclared', text('new'), { persistent: true });
      await confirm.waitForConfirms();
    });
    await restart();
    await withChannel(async (ch) => {
      assert.deepEqual(await drainBodies(ch, 'rs.redeclared'), ['new']);
    });
  });

  test('a durable exclusive queue does not survive its connection or a restart', async () => {
    await restart();
    await withChannel(async (ch) => {
      await ch.assertQueue('rs.exclusive', { durable: true, exclusive: true });
    });
    await restart();
    await withChannel(async (ch) => {
      await expectChannelClose(ch, 404, () => ch.checkQueue('rs.exclusive'));
    });
  });

  test('messages survive two restarts in a row and keep their properties', async () => {
    await restart();
    await withChannel(async (ch) => {
      await ch.assertQueue('rs.twice', { durable: true });
      (ch as amqp.ConfirmChannel).sendToQueue('rs.twice', text('kept'), {
        persistent: true,
        messageId: 'id-7',
        headers: { nested: { a: [1, 'b'] } },
        contentType: 'text/plain',
      });
      await (ch as amqp.ConfirmChannel).waitForConfirms();
    });
    await restart();
    await restart();
    await withChannel(async (ch) => {
      const m = await ch.get('rs.twice', { noAck: true });
      assert.ok(m !== false);
      assert.equal(m.content.toString(), 'kept');
      assert.equal(m.properties.messageId, 'id-7');
      assert.equal(m.properties.contentType, 'text/plain');
      assert.deepEqual(m.properties.headers, { nested: { a: [1, 'b'] } });
    });
  });
});
