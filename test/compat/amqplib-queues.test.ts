import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { waitFor, type TestBroker } from '../helpers/broker.js';
import { closeAmqplib, collect, drainBodies, expectChannelClose, openAmqplib, readyCount, text } from '../helpers/amqplib.js';

describe('amqplib: queues', () => {
  let broker: TestBroker;
  let conn: ChannelModel;

  before(async () => ({ broker, conn } = await openAmqplib()));
  after(() => closeAmqplib(conn, broker));

  const vhost = () => broker.core.vhosts.get('/')!;

  test('durable, exclusive and auto-delete queues can be declared and redeclared identically', async () => {
    const ch = await conn.createChannel();
    const variants = [
      { name: 'q.decl.durable', options: { durable: true } },
      { name: 'q.decl.transient', options: { durable: false } },
      { name: 'q.decl.exclusive', options: { durable: false, exclusive: true } },
      { name: 'q.decl.autodelete', options: { durable: false, autoDelete: true } },
    ];
    for (const { name, options } of variants) {
      const ok = await ch.assertQueue(name, options);
      assert.deepEqual(ok, { queue: name, messageCount: 0, consumerCount: 0 });
      assert.deepEqual(await ch.assertQueue(name, options), ok);
    }
    assert.equal(vhost().queues.get('q.decl.durable')!.durable, true);
    assert.equal(vhost().queues.get('q.decl.transient')!.durable, false);
    assert.equal(vhost().queues.get('q.decl.autodelete')!.autoDelete, true);
    await ch.deleteQueue('q.decl.durable');
    await ch.close();
  });

  test('a queue declared with an empty name gets a server-generated amq.gen- name', async () => {
    const ch = await conn.createChannel();
    const a = await ch.assertQueue('', { exclusive: true });
    const b = await ch.assertQueue('', { exclusive: true });
    assert.match(a.queue, /^amq\.gen-[A-Za-z0-9_-]+$/);
    assert.notEqual(a.queue, b.queue);
    ch.sendToQueue(a.queue, text('to-generated'));
    assert.deepEqual(await drainBodies(ch, a.queue), ['to-generated']);
    await ch.close();
  });

  test('declare-ok reports the ready message count and the consumer count', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.counts', { durable: false });
    for (let i = 0; i < 3; i++) ch.sendToQueue('q.counts', text(`m${i}`));
    assert.deepEqual(await ch.checkQueue('q.counts'), { queue: 'q.counts', messageCount: 3, consumerCount: 0 });
    const other = await conn.createChannel();
    await other.prefetch(1);
    const first = collect(other, 'q.counts', 1);
    await first.done;
    const second = collect(other, 'q.counts', 1);
    await second.done;
    const ok = await ch.assertQueue('q.counts', { durable: false });
    assert.equal(ok.messageCount, 1); // each consumer holds one unacked message (prefetch 1)
    assert.equal(ok.consumerCount, 2);
    await other.cancel(await second.consumerTag);
    assert.equal((await ch.checkQueue('q.counts')).consumerCount, 1);
    await other.close();
    await ch.deleteQueue('q.counts');
    await ch.close();
  });

  test('a passive declare of a missing queue closes the channel with 404', async () => {
    const ch = await conn.createChannel();
    const message = await expectChannelClose(ch, 404, () => ch.checkQueue('q.missing'));
    assert.match(message, /no queue 'q.missing'/);
  });

  test('redeclaring a queue with a different durability closes the channel with 406', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.inequivalent', { durable: false });
    const message = await expectChannelClose(ch, 406, () => ch.assertQueue('q.inequivalent', { durable: true }));
    assert.match(message, /inequivalent arg 'durable'/);
  });

  test('redeclaring a queue with a different x-message-ttl closes the channel with 406', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.inequivalent.ttl', { durable: false, messageTtl: 60_000 });
    await expectChannelClose(ch, 406, () => ch.assertQueue('q.inequivalent.ttl', { durable: false, messageTtl: 30_000 }));
  });

  test('declaring a queue with the reserved amq. prefix closes the channel with 403', async () => {
    const ch = await conn.createChannel();
    await expectChannelClose(ch, 403, () => ch.assertQueue('amq.mine', { durable: false }));
  });

  test('an exclusive queue used from another connection fails with 405 RESOURCE_LOCKED', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.exclusive.locked', { exclusive: true });
    const other = await amqp.connect(broker.url);
    try {
      for (const op of [
        (c: Channel) => c.assertQueue('q.exclusive.locked', { exclusive: true }),
        (c: Channel) => c.checkQueue('q.exclusive.locked'),
        (c: Channel) => c.consume('q.exclusive.locked', () => {}),
        (c: Channel) => c.purgeQueue('q.exclusive.locked'),
        (c: Channel) => c.deleteQueue('q.exclusive.locked'),
        (c: Channel) => c.get('q.exclusive.locked'),
      ]) {
        const c = await other.createChannel();
        const message = await expectChannelClose(c, 405, () => op(c));
        assert.match(message, /RESOURCE.LOCKED/);
      }
    } finally {
      await other.close();
    }
    await ch.checkQueue('q.exclusive.locked');
    await ch.close();
  });

  test('an exclusive queue is deleted when its connection closes', async () => {
    const owner = await amqp.connect(broker.url);
    const ch = await owner.createChannel();
    await ch.assertQueue('q.exclusive.gone', { exclusive: true });
    assert.ok(vhost().queues.has('q.exclusive.gone'));
    await owner.close();
    await waitFor(() => !vhost().queues.has('q.exclusive.gone'), 10_000, 'exclusive queue deletion');
    const check = await conn.createChannel();
    await expectChannelClose(check, 404, () => check.checkQueue('q.exclusive.gone'));
  });

  test('an exclusive queue survives its declaring channel closing', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.exclusive.channel', { exclusive: true });
    await ch.close();
    const ch2 = await conn.createChannel();
    assert.equal((await ch2.checkQueue('q.exclusive.channel')).queue, 'q.exclusive.channel');
    await ch2.deleteQueue('q.exclusive.channel');
    await ch2.close();
  });

  test('an auto-delete queue is deleted when its last consumer cancels', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.autodelete', { durable: false, autoDelete: true });
    const a = await ch.consume('q.autodelete', () => {});
    const b = await ch.consume('q.autodelete', () => {});
    await ch.cancel(a.consumerTag);
    assert.equal((await ch.checkQueue('q.autodelete')).consumerCount, 1);
    await ch.cancel(b.consumerTag);
    await expectChannelClose(ch, 404, () => ch.checkQueue('q.autodelete'));
  });

  test('an auto-delete queue is deleted when the channel of its last consumer closes', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.autodelete.close', { durable: false, autoDelete: true });
    await ch.consume('q.autodelete.close', () => {});
    await ch.close();
    const check = await conn.createChannel();
    await expectChannelClose(check, 404, () => check.checkQueue('q.autodelete.close'));
  });

  test('an auto-delete queue that never had a consumer is kept', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.autodelete.idle', { durable: false, autoDelete: true });
    ch.sendToQueue('q.autodelete.idle', text('x'));
    assert.equal(await readyCount(ch, 'q.autodelete.idle'), 1);
    await ch.deleteQueue('q.autodelete.idle');
    await ch.close();
  });

  test('purge removes ready messages and returns how many', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.purge', { durable: false });
    for (let i = 0; i < 5; i++) ch.sendToQueue('q.purge', text(`m${i}`));
    assert.deepEqual(await ch.purgeQueue('q.purge'), { messageCount: 5 });
    assert.equal(await readyCount(ch, 'q.purge'), 0);
    assert.deepEqual(await ch.purgeQueue('q.purge'), { messageCount: 0 });
    ch.sendToQueue('q.purge', text('after'));
    assert.deepEqual(await drainBodies(ch, 'q.purge'), ['after']);
    await ch.close();
  });

  test('purge does not remove messages delivered but not yet acked', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.purge.unacked', { durable: false });
    ch.sendToQueue('q.purge.unacked', text('held'));
    ch.sendToQueue('q.purge.unacked', text('ready'));
    const held = await ch.get('q.purge.unacked');
    assert.ok(held !== false);
    assert.deepEqual(await ch.purgeQueue('q.purge.unacked'), { messageCount: 1 });
    ch.nack(held, false, true);
    assert.deepEqual(await drainBodies(ch, 'q.purge.unacked'), ['held']);
    await ch.close();
  });

  test('deleting a non-empty queue with ifEmpty closes the channel with 406', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.ifempty', { durable: false });
    ch.sendToQueue('q.ifempty', text('x'));
    await expectChannelClose(ch, 406, () => ch.deleteQueue('q.ifempty', { ifEmpty: true }));
    const ch2 = await conn.createChannel();
    assert.equal(await readyCount(ch2, 'q.ifempty'), 1);
    await ch2.purgeQueue('q.ifempty');
    assert.deepEqual(await ch2.deleteQueue('q.ifempty', { ifEmpty: true }), { messageCount: 0 });
    await ch2.close();
  });

  test('deleting a queue that has consumers with ifUnused closes the channel with 406', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.ifunused', { durable: false });
    const consumer = await conn.createChannel();
    await consumer.consume('q.ifunused', () => {});
    await expectChannelClose(ch, 406, () => ch.deleteQueue('q.ifunused', { ifUnused: true }));
    await consumer.close();
    const ch2 = await conn.createChannel();
    await ch2.deleteQueue('q.ifunused', { ifUnused: true });
    await expectChannelClose(ch2, 404, () => ch2.checkQueue('q.ifunused'));
  });

  test('deleting a queue returns its ready message count', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.delete.count', { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue('q.delete.count', text(`m${i}`));
    assert.deepEqual(await ch.deleteQueue('q.delete.count'), { messageCount: 4 });
    assert.deepEqual(await ch.deleteQueue('q.delete.count'), { messageCount: 0 }); // missing: ok
    await ch.close();
  });

  test('a deleted queue is unbound from its exchanges', async () => {
    const ch = await conn.createChannel();
    await ch.assertExchange('x.q.deleted', 'fanout', { durable: false });
    await ch.assertQueue('q.deleted.bound', { durable: false });
    await ch.bindQueue('q.deleted.bound', 'x.q.deleted', '');
    await ch.deleteQueue('q.deleted.bound');
    await ch.assertQueue('q.deleted.bound', { durable: false });
    ch.publish('x.q.deleted', '', text('not-for-new-queue'));
    assert.equal(await readyCount(ch, 'q.deleted.bound'), 0);
    await ch.close();
  });

  test('unbinding a queue stops routing to it', async () => {
    const ch = await conn.createChannel();
    await ch.assertExchange('x.unbind', 'direct', { durable: false });
    await ch.assertQueue('q.unbind', { durable: false });
    await ch.bindQueue('q.unbind', 'x.unbind', 'k');
    ch.publish('x.unbind', 'k', text('bound'));
    await ch.unbindQueue('q.unbind', 'x.unbind', 'k');
    ch.publish('x.unbind', 'k', text('unbound'));
    assert.deepEqual(await drainBodies(ch, 'q.unbind'), ['bound']);
    await ch.unbindQueue('q.unbind', 'x.unbind', 'never-bound'); // unbinding a missing binding is ok
    await ch.close();
  });

  test('binding a missing queue closes the channel with 404', async () => {
    const ch = await conn.createChannel();
    await expectChannelClose(ch, 404, () => ch.bindQueue('q.never', 'amq.direct', 'k'));
  });

  test('messages are delivered in publish order (FIFO)', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('q.fifo', { durable: false });
    const bodies = Array.from({ length: 200 }, (_, i) => `m${i}`);
    for (const b of bodies) ch.sendToQueue('q.fifo', text(b));
    const got = collect(ch, 'q.fifo', bodies.length, { noAck: true });
    assert.deepEqual(
      (await got.done).map((m) => m.content.toString()),
      bodies,
    );
    await ch.close();
  });
});
