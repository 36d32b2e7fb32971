import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import type { TestBroker } from '../helpers/broker.js';
import { closeAmqplib, drainBodies, expectChannelClose, expectConnectionClose, openAmqplib, readyCount, text } from '../helpers/amqplib.js';

describe('amqplib: exchanges', () => {
  let broker: TestBroker;
  let conn: ChannelModel;

  before(async () => ({ broker, conn } = await openAmqplib()));
  after(() => closeAmqplib(conn, broker));

  async function channel(): Promise<Channel> {
    return conn.createChannel();
  }

  test('exchanges of every built-in type can be declared, and redeclared identically', async () => {
    const ch = await channel();
    for (const type of ['direct', 'fanout', 'topic', 'headers']) {
      const ok = await ch.assertExchange(`ex.types.${type}`, type, { durable: false });
      assert.equal(ok.exchange, `ex.types.${type}`);
      await ch.assertExchange(`ex.types.${type}`, type, { durable: false });
      await ch.checkExchange(`ex.types.${type}`);
    }
    await ch.close();
  });

  test('the predeclared amq.* exchanges exist', async () => {
    const ch = await channel();
    for (const name of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) await ch.checkExchange(name);
    await ch.close();
  });

  test('a passive declare of a missing exchange closes the channel with 404', async () => {
    const ch = await channel();
    const message = await expectChannelClose(ch, 404, () => ch.checkExchange('ex.missing'));
    assert.match(message, /NOT.FOUND/);
  });

  test('redeclaring an exchange with a different type closes the channel with 406', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.retype', 'direct', { durable: false });
    const message = await expectChannelClose(ch, 406, () => ch.assertExchange('ex.retype', 'fanout', { durable: false }));
    assert.match(message, /PRECONDITION.FAILED/);
    assert.match(message, /inequivalent arg 'type'/);
  });

  test('redeclaring an exchange with a different durability closes the channel with 406', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.redurable', 'direct', { durable: false });
    await expectChannelClose(ch, 406, () => ch.assertExchange('ex.redurable', 'direct', { durable: true }));
  });

  test('declaring an exchange with the reserved amq. prefix closes the channel with 403', async () => {
    const ch = await channel();
    const message = await expectChannelClose(ch, 403, () => ch.assertExchange('amq.mine', 'direct'));
    assert.match(message, /ACCESS.REFUSED/);
  });

  test('declaring an exchange of an unknown type closes the connection with 503', async () => {
    const own = await amqp.connect(broker.url);
    const ch = await own.createChannel();
    ch.on('error', () => {});
    const message = await expectConnectionClose(own, 503, () => ch.assertExchange('ex.badtype', 'no-such-type'));
    assert.match(message, /COMMAND.INVALID/);
    const check = await channel();
    await expectChannelClose(check, 404, () => check.checkExchange('ex.badtype'));
  });

  test('deleting a bound exchange with ifUnused closes the channel with 406 and keeps it', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.inuse', 'direct', { durable: false });
    await ch.assertQueue('q.ex.inuse', { durable: false });
    await ch.bindQueue('q.ex.inuse', 'ex.inuse', 'k');
    await expectChannelClose(ch, 406, () => ch.deleteExchange('ex.inuse', { ifUnused: true }));
    const ch2 = await channel();
    await ch2.checkExchange('ex.inuse');
    await ch2.deleteExchange('ex.inuse');
    await expectChannelClose(ch2, 404, () => ch2.checkExchange('ex.inuse'));
  });

  test('deleting an unbound exchange with ifUnused succeeds', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.unused', 'fanout', { durable: false });
    await ch.deleteExchange('ex.unused', { ifUnused: true });
    await expectChannelClose(ch, 404, () => ch.checkExchange('ex.unused'));
  });

  test('deleting a missing exchange succeeds', async () => {
    const ch = await channel();
    await ch.deleteExchange('ex.never-declared');
    await ch.checkExchange('amq.direct'); // the channel is still open
    await ch.close();
  });

  test('a message published to a missing exchange closes the channel with 404', async () => {
    const ch = await channel();
    const message = await expectChannelClose(ch, 404, async () => {
      ch.publish('ex.nowhere', 'k', text('lost'));
      await ch.checkExchange('amq.direct');
    });
    assert.match(message, /no exchange 'ex.nowhere'/);
  });

  test('publishing to an internal exchange closes the channel with 403', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.internal', 'fanout', { durable: false, internal: true });
    await expectChannelClose(ch, 403, async () => {
      ch.publish('ex.internal', '', text('x'));
      await ch.checkExchange('amq.direct');
    });
  });

  test('an internal exchange still receives messages through an exchange-to-exchange binding', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.int.front', 'fanout', { durable: false });
    await ch.assertExchange('ex.int.back', 'fanout', { durable: false, internal: true });
    await ch.assertQueue('q.int.back', { durable: false });
    await ch.bindExchange('ex.int.back', 'ex.int.front', '');
    await ch.bindQueue('q.int.back', 'ex.int.back', '');
    ch.publish('ex.int.front', '', text('via-front'));
    assert.deepEqual(await drainBodies(ch, 'q.int.back'), ['via-front']);
    await ch.close();
  });

  test('an exchange-to-exchange binding routes through, and unbinding stops it', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.e2e.src', 'topic', { durable: false });
    await ch.assertExchange('ex.e2e.dst', 'direct', { durable: false });
    await ch.assertQueue('q.e2e', { durable: false });
    await ch.bindExchange('ex.e2e.dst', 'ex.e2e.src', 'orders.*');
    await ch.bindQueue('q.e2e', 'ex.e2e.dst', 'orders.eu');
    ch.publish('ex.e2e.src', 'orders.eu', text('one'));
    ch.publish('ex.e2e.src', 'orders.us', text('filtered-by-direct'));
    ch.publish('ex.e2e.src', 'invoices.eu', text('filtered-by-topic'));
    assert.deepEqual(await drainBodies(ch, 'q.e2e'), ['one']);
    await ch.unbindExchange('ex.e2e.dst', 'ex.e2e.src', 'orders.*');
    ch.publish('ex.e2e.src', 'orders.eu', text('two'));
    assert.equal(await readyCount(ch, 'q.e2e'), 0);
    await ch.close();
  });

  test('an exchange-to-exchange cycle delivers each message once to each queue', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.cycle.1', 'fanout', { durable: false });
    await ch.assertExchange('ex.cycle.2', 'fanout', { durable: false });
    await ch.bindExchange('ex.cycle.2', 'ex.cycle.1', '');
    await ch.bindExchange('ex.cycle.1', 'ex.cycle.2', '');
    await ch.assertQueue('q.cycle.1', { durable: false });
    await ch.assertQueue('q.cycle.2', { durable: false });
    await ch.bindQueue('q.cycle.1', 'ex.cycle.1', '');
    await ch.bindQueue('q.cycle.2', 'ex.cycle.2', '');
    ch.publish('ex.cycle.1', '', text('from-1'));
    ch.publish('ex.cycle.2', '', text('from-2'));
    assert.deepEqual(await drainBodies(ch, 'q.cycle.1'), ['from-1', 'from-2']);
    assert.deepEqual(await drainBodies(ch, 'q.cycle.2'), ['from-1', 'from-2']);
    await ch.close();
  });

  test('an alternate exchange receives messages the main exchange cannot route', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.ae.spill', 'fanout', { durable: false });
    await ch.assertExchange('ex.ae.main', 'direct', { durable: false, alternateExchange: 'ex.ae.spill' });
    await ch.assertQueue('q.ae.main', { durable: false });
    await ch.assertQueue('q.ae.spill', { durable: false });
    await ch.bindQueue('q.ae.main', 'ex.ae.main', 'known');
    await ch.bindQueue('q.ae.spill', 'ex.ae.spill', '');
    ch.publish('ex.ae.main', 'known', text('routed'));
    ch.publish('ex.ae.main', 'unknown', text('spilled'));
    assert.deepEqual(await drainBodies(ch, 'q.ae.main'), ['routed']);
    assert.deepEqual(await drainBodies(ch, 'q.ae.spill'), ['spilled']);
    await ch.close();
  });

  test('a mandatory message taken by the alternate exchange is not returned', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.aem.spill', 'fanout', { durable: false });
    await ch.assertExchange('ex.aem.main', 'direct', { durable: false, alternateExchange: 'ex.aem.spill' });
    await ch.assertQueue('q.aem.spill', { durable: false });
    await ch.bindQueue('q.aem.spill', 'ex.aem.spill', '');
    const returned: string[] = [];
    ch.on('return', (m) => returned.push(m.content.toString()));
    ch.publish('ex.aem.main', 'nobody', text('kept'), { mandatory: true });
    assert.deepEqual(await drainBodies(ch, 'q.aem.spill'), ['kept']);
    assert.deepEqual(returned, []);
    await ch.close();
  });

  test('redeclaring an exchange with a different alternate exchange closes the channel with 406', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.ae.re', 'direct', { durable: false, alternateExchange: 'ex.ae.one' });
    await expectChannelClose(ch, 406, () => ch.assertExchange('ex.ae.re', 'direct', { durable: false, alternateExchange: 'ex.ae.two' }));
  });

  test('binding to a missing exchange closes the channel with 404', async () => {
    const ch = await channel();
    await ch.assertQueue('q.bind.missing', { durable: false });
    await expectChannelClose(ch, 404, () => ch.bindQueue('q.bind.missing', 'ex.bind.missing', 'k'));
  });

  test('deleting an exchange removes its bindings', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.del.bound', 'fanout', { durable: false });
    await ch.assertQueue('q.del.bound', { durable: false });
    await ch.bindQueue('q.del.bound', 'ex.del.bound', '');
    await ch.deleteExchange('ex.del.bound');
    await ch.assertExchange('ex.del.bound', 'fanout', { durable: false });
    ch.publish('ex.del.bound', '', text('after-recreate'));
    assert.equal(await readyCount(ch, 'q.del.bound'), 0);
    await ch.close();
  });

  test('an auto-delete exchange is deleted when its last binding goes', async () => {
    const ch = await channel();
    await ch.assertExchange('ex.autodel', 'fanout', { durable: false, autoDelete: true });
    await ch.assertQueue('q.autodel.ex', { durable: false });
    await ch.bindQueue('q.autodel.ex', 'ex.autodel', '');
    await ch.unbindQueue('q.autodel.ex', 'ex.autodel', '');
    await expectChannelClose(ch, 404, () => ch.checkExchange('ex.autodel'));
  });
});
