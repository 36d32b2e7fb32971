import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { waitFor, type TestBroker } from '../helpers/broker.js';
import { closeAmqplib, collect, drainBodies, expectChannelClose, expectConnectionClose, openAmqplib, readyCount, text } from '../helpers/amqplib.js';

const bodies = (ms: readonly ConsumeMessage[]) => ms.map((m) => m.content.toString());

describe('amqplib: consuming and acknowledging', () => {
  let broker: TestBroker;
  let conn: ChannelModel;

  before(async () => ({ broker, conn } = await openAmqplib()));
  after(() => closeAmqplib(conn, broker));

  test('a consumer with an explicit tag gets consume-ok with that tag and deliveries carrying it', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.tag.explicit', { durable: false });
    const got = collect(ch, 'c.tag.explicit', 1, { consumerTag: 'my-tag', noAck: true });
    assert.equal(await got.consumerTag, 'my-tag');
    ch.sendToQueue('c.tag.explicit', text('x'));
    const [m] = await got.done;
    assert.equal(m!.fields.consumerTag, 'my-tag');
    assert.equal(m!.fields.redelivered, false);
    await ch.close();
  });

  test('a consumer without a tag gets a server-generated amq.ctag- tag', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.tag.server', { durable: false });
    const a = await ch.consume('c.tag.server', () => {});
    const b = await ch.consume('c.tag.server', () => {});
    assert.match(a.consumerTag, /^amq\.ctag-/);
    assert.notEqual(a.consumerTag, b.consumerTag);
    await ch.close();
  });

  test('reusing a consumer tag on one channel closes the connection with 530', async () => {
    const own = await amqp.connect(broker.url);
    const ch = await own.createChannel();
    ch.on('error', () => {});
    await ch.assertQueue('c.tag.dup', { durable: false });
    await ch.consume('c.tag.dup', () => {}, { consumerTag: 'dup' });
    const message = await expectConnectionClose(own, 530, () => ch.consume('c.tag.dup', () => {}, { consumerTag: 'dup' }));
    assert.match(message, /NOT.ALLOWED/);
    assert.match(message, /reuse consumer tag 'dup'/);
  });

  test('an exclusive consumer makes a second consumer fail with 403', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.exclusive', { durable: false });
    await ch.consume('c.exclusive', () => {}, { exclusive: true });
    const ch2 = await conn.createChannel();
    const message = await expectChannelClose(ch2, 403, () => ch2.consume('c.exclusive', () => {}));
    assert.match(message, /in exclusive use/);
    await ch.close();
  });

  test('an exclusive consume on a queue that has consumers fails with 403', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.exclusive.late', { durable: false });
    await ch.consume('c.exclusive.late', () => {});
    const ch2 = await conn.createChannel();
    await expectChannelClose(ch2, 403, () => ch2.consume('c.exclusive.late', () => {}, { exclusive: true }));
    await ch.close();
  });

  test('a cancelled consumer receives nothing more', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.cancel', { durable: false });
    const got = collect(ch, 'c.cancel', 1, { noAck: true });
    ch.sendToQueue('c.cancel', text('before'));
    await got.done;
    const ok = await ch.cancel(await got.consumerTag);
    assert.equal(ok.consumerTag, await got.consumerTag);
    ch.sendToQueue('c.cancel', text('after'));
    assert.equal(await readyCount(ch, 'c.cancel'), 1);
    assert.deepEqual(bodies(got.messages), ['before']);
    await ch.close();
  });

  test('deleting the queue cancels its consumers from the broker side', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.broker.cancel', { durable: false });
    const cancelled = new Promise<ConsumeMessage | null>((resolve) => {
      void ch.consume('c.broker.cancel', (m) => {
        if (m === null) resolve(m);
      });
    });
    const cancelEvent = new Promise<{ consumerTag: string }>((resolve) => ch.once('cancel', resolve));
    const admin = await conn.createChannel();
    await admin.deleteQueue('c.broker.cancel');
    assert.equal(await cancelled, null);
    assert.match((await cancelEvent).consumerTag, /^amq\.ctag-/);
    await ch.checkExchange('amq.direct'); // the channel stays open
    await ch.close();
    await admin.close();
  });

  test('a noAck consumer gets messages that need no acknowledgement', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.noack', { durable: false });
    for (let i = 0; i < 3; i++) ch.sendToQueue('c.noack', text(`m${i}`));
    const got = collect(ch, 'c.noack', 3, { noAck: true });
    assert.deepEqual(bodies(await got.done), ['m0', 'm1', 'm2']);
    await ch.close(); // nothing was unacked: nothing comes back
    const ch2 = await conn.createChannel();
    assert.equal(await readyCount(ch2, 'c.noack'), 0);
    await ch2.close();
  });

  test('basic.get returns a message with the remaining count, then get-empty', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.get', { durable: false });
    ch.sendToQueue('c.get', text('first'));
    ch.sendToQueue('c.get', text('second'));
    const a = await ch.get('c.get');
    assert.ok(a !== false);
    assert.equal(a.content.toString(), 'first');
    assert.equal(a.fields.messageCount, 1);
    assert.equal(a.fields.redelivered, false);
    const b = await ch.get('c.get', { noAck: true });
    assert.ok(b !== false);
    assert.equal(b.fields.messageCount, 0);
    assert.equal(await ch.get('c.get'), false);
    ch.ack(a);
    await ch.close();
  });

  test('acked messages are gone and unacked ones come back', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.ack', { durable: false });
    for (const b of ['a', 'b', 'c']) ch.sendToQueue('c.ack', text(b));
    const got = collect(ch, 'c.ack', 3);
    const [a, , c] = await got.done;
    ch.ack(a!);
    ch.ack(c!);
    await ch.close();
    const ch2 = await conn.createChannel();
    assert.deepEqual(await drainBodies(ch2, 'c.ack'), ['b']);
    await ch2.close();
  });

  test('ack with multiple acknowledges everything up to the tag', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.ack.multiple', { durable: false });
    for (let i = 0; i < 5; i++) ch.sendToQueue('c.ack.multiple', text(`m${i}`));
    const got = collect(ch, 'c.ack.multiple', 5);
    const ms = await got.done;
    ch.ack(ms[2]!, true);
    await ch.close();
    const ch2 = await conn.createChannel();
    assert.deepEqual(await drainBodies(ch2, 'c.ack.multiple'), ['m3', 'm4']);
    await ch2.close();
  });

  test('a nacked message with requeue comes back marked redelivered', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.nack.requeue', { durable: false });
    ch.sendToQueue('c.nack.requeue', text('again'));
    const first = await ch.get('c.nack.requeue');
    assert.ok(first !== false);
    assert.equal(first.fields.redelivered, false);
    ch.nack(first, false, true);
    const second = await ch.get('c.nack.requeue');
    assert.ok(second !== false);
    assert.equal(second.content.toString(), 'again');
    assert.equal(second.fields.redelivered, true);
    ch.ack(second);
    await ch.close();
  });

  test('nack multiple with requeue puts every earlier message back in order, redelivered', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.nack.multiple', { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue('c.nack.multiple', text(`m${i}`));
    const got = collect(ch, 'c.nack.multiple', 4);
    const ms = await got.done;
    await ch.cancel(await got.consumerTag);
    ch.nack(ms[2]!, true, true);
    const back = [];
    for (let i = 0; i < 4; i++) {
      const m = await ch.get('c.nack.multiple', { noAck: true });
      if (m === false) break;
      back.push([m.content.toString(), m.fields.redelivered]);
    }
    assert.deepEqual(back, [
      ['m0', true],
      ['m1', true],
      ['m2', true],
    ]);
    ch.ack(ms[3]!);
    await ch.close();
  });

  test('nack multiple without requeue drops every earlier message', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.nack.drop', { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue('c.nack.drop', text(`m${i}`));
    const got = collect(ch, 'c.nack.drop', 4);
    const ms = await got.done;
    ch.nack(ms[1]!, true, false);
    await ch.close();
    const ch2 = await conn.createChannel();
    assert.deepEqual(await drainBodies(ch2, 'c.nack.drop'), ['m2', 'm3']);
    await ch2.close();
  });

  test('reject without requeue drops the message, reject with requeue keeps it', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.reject', { durable: false });
    ch.sendToQueue('c.reject', text('dropped'));
    ch.sendToQueue('c.reject', text('kept'));
    const a = await ch.get('c.reject');
    const b = await ch.get('c.reject');
    assert.ok(a !== false && b !== false);
    ch.reject(a, false);
    ch.reject(b, true);
    assert.deepEqual(await drainBodies(ch, 'c.reject'), ['kept']);
    await ch.close();
  });

  test('acking the same delivery tag twice closes the channel with 406 unknown delivery tag', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.double.ack', { durable: false });
    ch.sendToQueue('c.double.ack', text('x'));
    const m = await ch.get('c.double.ack');
    assert.ok(m !== false);
    const message = await expectChannelClose(ch, 406, async () => {
      ch.ack(m);
      ch.ack(m);
      await ch.checkQueue('c.double.ack');
    });
    assert.match(message, /unknown delivery tag 1/);
  });

  test('acking a delivery tag that was never sent closes the channel with 406', async () => {
    const ch = await conn.createChannel();
    const message = await expectChannelClose(ch, 406, async () => {
      ch.ack({ fields: { deliveryTag: 42 } } as unknown as ConsumeMessage);
      await ch.checkExchange('amq.direct');
    });
    assert.match(message, /unknown delivery tag 42/);
  });

  test('with prefetch 2 and no acks only 2 messages arrive; each ack lets exactly one more in', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.prefetch', { durable: false });
    for (let i = 0; i < 6; i++) ch.sendToQueue('c.prefetch', text(`m${i}`));
    await ch.prefetch(2);
    const got = collect(ch, 'c.prefetch', 2);
    await got.done;
    // queue-side view, after a round-trip: 4 ready, nothing more was delivered
    assert.equal(await readyCount(ch, 'c.prefetch'), 4);
    assert.equal(got.messages.length, 2);
    ch.ack(got.messages[0]!);
    assert.equal(await readyCount(ch, 'c.prefetch'), 3);
    await waitForCount(got.messages, 3);
    assert.equal(got.messages.length, 3);
    ch.ack(got.messages[1]!);
    ch.ack(got.messages[2]!);
    assert.equal(await readyCount(ch, 'c.prefetch'), 1);
    await waitForCount(got.messages, 5);
    assert.deepEqual(bodies(got.messages), ['m0', 'm1', 'm2', 'm3', 'm4']);
    await ch.close();
  });

  test('prefetch applies to each consumer separately', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.prefetch.each', { durable: false });
    for (let i = 0; i < 10; i++) ch.sendToQueue('c.prefetch.each', text(`m${i}`));
    await ch.prefetch(2);
    const a = collect(ch, 'c.prefetch.each', 2);
    const b = collect(ch, 'c.prefetch.each', 2);
    await Promise.all([a.done, b.done]);
    assert.equal(await readyCount(ch, 'c.prefetch.each'), 6);
    await ch.close();
  });

  test('a global prefetch limits the whole channel across consumers', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.prefetch.global', { durable: false });
    for (let i = 0; i < 10; i++) ch.sendToQueue('c.prefetch.global', text(`m${i}`));
    await ch.prefetch(3, true);
    const delivered: ConsumeMessage[] = [];
    await ch.consume('c.prefetch.global', (m) => m && delivered.push(m));
    await ch.consume('c.prefetch.global', (m) => m && delivered.push(m));
    await waitForCount(delivered, 3);
    assert.equal(await readyCount(ch, 'c.prefetch.global'), 7);
    ch.ack(delivered[0]!);
    await waitForCount(delivered, 4);
    assert.equal(await readyCount(ch, 'c.prefetch.global'), 6);
    assert.equal(delivered.length, 4);
    await ch.close();
  });

  test('unacked messages of a closed channel come back marked redelivered in original order', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.close.requeue', { durable: false });
    for (let i = 0; i < 5; i++) ch.sendToQueue('c.close.requeue', text(`m${i}`));
    const got = collect(ch, 'c.close.requeue', 5);
    const ms = await got.done;
    ch.ack(ms[1]!);
    ch.ack(ms[3]!);
    await ch.close();
    const ch2 = await conn.createChannel();
    const back = collect(ch2, 'c.close.requeue', 3, { noAck: true });
    const again = await back.done;
    assert.deepEqual(bodies(again), ['m0', 'm2', 'm4']);
    assert.ok(again.every((m) => m.fields.redelivered));
    await ch2.close();
  });

  test('recover requeues every unacked message of the channel for redelivery', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.recover', { durable: false });
    ch.sendToQueue('c.recover', text('r0'));
    ch.sendToQueue('c.recover', text('r1'));
    const got = collect(ch, 'c.recover', 4);
    await waitForCount(got.messages, 2);
    await ch.recover();
    const all = await got.done;
    assert.deepEqual(bodies(all), ['r0', 'r1', 'r0', 'r1']);
    assert.deepEqual(
      all.map((m) => m.fields.redelivered),
      [false, false, true, true],
    );
    ch.ack(all[3]!, true); // the old tags were forgotten by recover; only the new ones are ackable
    assert.equal(await readyCount(ch, 'c.recover'), 0);
    await ch.close();
  });

  test('competing consumers get messages round-robin', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.roundrobin', { durable: false });
    const seen = new Map<string, string[]>();
    let total = 0;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    for (let i = 0; i < 3; i++) {
      const { consumerTag } = await ch.consume(
        'c.roundrobin',
        (m) => {
          if (m === null) return;
          seen.get(m.fields.consumerTag)!.push(m.content.toString());
          if (++total === 9) finish();
        },
        { noAck: true, consumerTag: `rr-${i}` },
      );
      seen.set(consumerTag, []);
    }
    for (let i = 0; i < 9; i++) ch.sendToQueue('c.roundrobin', text(`m${i}`));
    await done;
    const counts = [...seen.values()].map((v) => v.length);
    assert.deepEqual(counts, [3, 3, 3]);
    assert.deepEqual(seen.get('rr-0'), ['m0', 'm3', 'm6']);
    await ch.close();
  });

  test('messages reach consumers on other channels and connections', async () => {
    const other = await amqp.connect(broker.url);
    const pub = await conn.createChannel();
    const sub = await other.createChannel();
    await pub.assertQueue('c.cross', { durable: false });
    const got = collect(sub, 'c.cross', 2, { noAck: true });
    await got.consumerTag;
    pub.sendToQueue('c.cross', text('one'));
    pub.sendToQueue('c.cross', text('two'));
    assert.deepEqual(bodies(await got.done), ['one', 'two']);
    await other.close();
    await pub.close();
  });
  test('ackAll acknowledges every outstanding delivery of the channel', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.ackall', { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue('c.ackall', text(`m${i}`));
    await collect(ch, 'c.ackall', 4).done;
    ch.ackAll();
    await ch.close();
    const ch2 = await conn.createChannel();
    assert.equal(await readyCount(ch2, 'c.ackall'), 0);
    await ch2.close();
  });

  test('nackAll with requeue returns every outstanding delivery, in order', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.nackall', { durable: false });
    for (let i = 0; i < 4; i++) ch.sendToQueue('c.nackall', text(`m${i}`));
    const got = collect(ch, 'c.nackall', 4);
    await got.done;
    await ch.cancel(await got.consumerTag);
    ch.nackAll(true);
    assert.deepEqual(await drainBodies(ch, 'c.nackall'), ['m0', 'm1', 'm2', 'm3']);
    await ch.close();
  });

  test('cancelling an unknown consumer tag is answered with cancel-ok', async () => {
    const ch = await conn.createChannel();
    const ok = await ch.cancel('no-such-consumer');
    assert.equal(ok.consumerTag, 'no-such-consumer');
    await ch.checkExchange('amq.direct');
    await ch.close();
  });

  test('consuming from a missing queue closes the channel with 404', async () => {
    const ch = await conn.createChannel();
    await expectChannelClose(ch, 404, () => ch.consume('c.no-such-queue', () => {}));
  });

  test('a higher-priority consumer gets messages while it has credit', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('c.priority', { durable: false });
    const low: string[] = [];
    const high: ConsumeMessage[] = [];
    await ch.prefetch(2);
    await ch.consume('c.priority', (m) => m && low.push(m.content.toString()), { priority: 1 });
    await ch.consume('c.priority', (m) => m && high.push(m), { priority: 10 });
    for (let i = 0; i < 3; i++) ch.sendToQueue('c.priority', text(`m${i}`));
    await waitForCount(high, 2);
    await waitFor(() => low.length >= 1, 10_000, 'overflow to the low-priority consumer');
    assert.deepEqual(
      high.map((m) => m.content.toString()),
      ['m0', 'm1'],
    );
    assert.deepEqual(low, ['m2']);
    await ch.close();
  });
});

/** a guard while messages are in flight to the client (not a timing assertion) */
async function waitForCount(list: readonly unknown[], n: number): Promise<void> {
  await waitFor(() => list.length >= n, 10_000, `${n} deliveries`);
}
