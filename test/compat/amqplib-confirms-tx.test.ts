import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChannelModel } from 'amqplib';
import type { TestBroker } from '../helpers/broker.js';
import { closeAmqplib, collect, drainBodies, expectChannelClose, openAmqplib, readyCount, text } from '../helpers/amqplib.js';

describe('amqplib: publisher confirms and transactions', () => {
  let broker: TestBroker;
  let conn: ChannelModel;

  before(async () => ({ broker, conn } = await openAmqplib()));
  after(() => closeAmqplib(conn, broker));

  test('1000 persistent messages to a durable queue are all acked and waitForConfirms resolves', async () => {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('t.confirm.durable', { durable: true });
    const outcomes: Array<'ack' | 'nack' | undefined> = new Array(1000);
    let nacks = 0;
    ch.on('nack', () => nacks++);
    for (let i = 0; i < 1000; i++) {
      ch.sendToQueue('t.confirm.durable', text(`m${i}`), { persistent: true }, (err) => {
        outcomes[i] = err ? 'nack' : 'ack';
      });
    }
    await ch.waitForConfirms();
    assert.equal(nacks, 0);
    assert.equal(outcomes.filter((o) => o === 'ack').length, 1000);
    assert.equal(await readyCount(ch, 't.confirm.durable'), 1000);
    await ch.deleteQueue('t.confirm.durable');
    await ch.close();
  });

  test('confirms of transient messages and to several queues arrive too', async () => {
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('t.confirm.fan', 'fanout', { durable: false });
    for (const q of ['t.confirm.fan.1', 't.confirm.fan.2']) {
      await ch.assertQueue(q, { durable: q.endsWith('1') });
      await ch.bindQueue(q, 't.confirm.fan', '');
    }
    const acked: number[] = [];
    for (let i = 0; i < 50; i++) {
      ch.publish('t.confirm.fan', '', text(`m${i}`), { persistent: i % 2 === 0 }, (err) => {
        if (err === null) acked.push(i);
      });
    }
    await ch.waitForConfirms();
    assert.equal(acked.length, 50);
    assert.deepEqual(
      acked,
      [...acked].sort((a, b) => a - b),
    );
    await ch.deleteQueue('t.confirm.fan.1');
    await ch.close();
  });

  test('unroutable messages on a confirm channel are confirmed with an ack', async () => {
    const ch = await conn.createConfirmChannel();
    const results: unknown[] = [];
    for (let i = 0; i < 10; i++) {
      ch.publish('amq.direct', 'nobody-home', text(`u${i}`), {}, (err) => results.push(err));
    }
    await ch.waitForConfirms();
    assert.deepEqual(results, new Array(10).fill(null));
    await ch.close();
  });

  test('a confirm channel cannot switch to tx mode: 406', async () => {
    const ch = await conn.createConfirmChannel();
    const raw = ch as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> };
    // tx.select = class 90, method 10 -> id (90 << 16) | 10; tx.select-ok = (90 << 16) | 11
    await expectChannelClose(ch, 406, () => raw.rpc((90 << 16) | 10, {}, (90 << 16) | 11));
  });

  test('published messages in a rolled-back transaction are never delivered', async () => {
    const ch = await conn.createChannel();
    const tx = txOf(ch);
    await ch.assertQueue('t.tx.rollback', { durable: false });
    await tx.select();
    ch.sendToQueue('t.tx.rollback', text('discarded-1'));
    ch.sendToQueue('t.tx.rollback', text('discarded-2'));
    assert.equal(await readyCount(ch, 't.tx.rollback'), 0);
    await tx.rollback();
    assert.equal(await readyCount(ch, 't.tx.rollback'), 0);
    ch.sendToQueue('t.tx.rollback', text('committed'));
    await tx.commit();
    assert.deepEqual(await drainBodies(ch, 't.tx.rollback'), ['committed']);
    await ch.close();
  });

  test('published messages in a transaction are delivered on commit, in order', async () => {
    const ch = await conn.createChannel();
    const tx = txOf(ch);
    await ch.assertQueue('t.tx.commit', { durable: false });
    const consumer = await conn.createChannel();
    const got = collect(consumer, 't.tx.commit', 3, { noAck: true });
    await got.consumerTag;
    await tx.select();
    for (const b of ['a', 'b', 'c']) ch.sendToQueue('t.tx.commit', text(b));
    await ch.checkQueue('t.tx.commit');
    assert.equal(got.messages.length, 0);
    await tx.commit();
    assert.deepEqual(
      (await got.done).map((m) => m.content.toString()),
      ['a', 'b', 'c'],
    );
    await consumer.close();
    await ch.close();
  });

  test('an ack inside a transaction only takes effect on commit', async () => {
    const ch = await conn.createChannel();
    const tx = txOf(ch);
    await ch.assertQueue('t.tx.ack', { durable: false });
    ch.sendToQueue('t.tx.ack', text('one'));
    ch.sendToQueue('t.tx.ack', text('two'));
    const one = await ch.get('t.tx.ack');
    const two = await ch.get('t.tx.ack');
    assert.ok(one !== false && two !== false);
    await tx.select();
    ch.ack(one);
    await tx.rollback(); // the ack of 'one' is forgotten: it is still unacked
    ch.ack(two);
    await tx.commit(); // only 'two' is acked
    await ch.close(); // 'one' was never acked, so it comes back
    const ch2 = await conn.createChannel();
    assert.deepEqual(await drainBodies(ch2, 't.tx.ack'), ['one']);
    await ch2.close();
  });

  test('a nack with requeue inside a transaction requeues on commit', async () => {
    const ch = await conn.createChannel();
    const tx = txOf(ch);
    await ch.assertQueue('t.tx.nack', { durable: false });
    ch.sendToQueue('t.tx.nack', text('n'));
    const m = await ch.get('t.tx.nack');
    assert.ok(m !== false);
    await tx.select();
    ch.nack(m, false, true);
    assert.equal(await readyCount(ch, 't.tx.nack'), 0);
    await tx.commit();
    const again = await ch.get('t.tx.nack', { noAck: true });
    assert.ok(again !== false);
    assert.equal(again.fields.redelivered, true);
    await ch.close();
  });

  test('an unroutable mandatory message in a transaction is returned on commit, not before', async () => {
    const ch = await conn.createChannel();
    const tx = txOf(ch);
    let returned = 0;
    ch.on('return', () => returned++);
    await tx.select();
    ch.publish('amq.direct', 'nobody-home', text('bounce'), { mandatory: true });
    await ch.checkExchange('amq.direct');
    assert.equal(returned, 0);
    await tx.commit(); // the return is sent before commit-ok
    assert.equal(returned, 1);
    await ch.close();
  });

  test('tx.commit without tx.select closes the channel with 406', async () => {
    const ch = await conn.createChannel();
    await expectChannelClose(ch, 406, () => txOf(ch).commit());
  });
});

/** amqplib has no public tx API; its channel's rpc sends any method (ids are class << 16 | method). */
function txOf(ch: object): { select(): Promise<unknown>; commit(): Promise<unknown>; rollback(): Promise<unknown> } {
  const raw = ch as { rpc(method: number, fields: object, expect: number): Promise<unknown> };
  const TX = 90 << 16;
  return {
    select: () => raw.rpc(TX | 10, {}, TX | 11),
    commit: () => raw.rpc(TX | 20, {}, TX | 21),
    rollback: () => raw.rpc(TX | 30, {}, TX | 31),
  };
}
