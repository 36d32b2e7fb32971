import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { TestBroker } from '../helpers/broker.js';
import { closeAmqplib, collect, drainBodies, expectChannelClose, openAmqplibChannel, readyCount, text } from '../helpers/amqplib.js';

describe('length limits, priorities, delivery limits, retry backoff, single active consumer, queue types', () => {
  let broker: TestBroker;
  let conn: ChannelModel;
  let ch: Channel;

  before(async () => ({ broker, conn, ch } = await openAmqplibChannel()));
  after(() => closeAmqplib(conn, broker));

  test('x-max-length with drop-head keeps the newest messages and dead-letters the dropped ones with maxlen', async () => {
    await ch.assertExchange('dlx.maxlen', 'fanout');
    await ch.assertQueue('dead.maxlen');
    await ch.bindQueue('dead.maxlen', 'dlx.maxlen', '');
    await ch.assertQueue('limit.len', { arguments: { 'x-max-length': 3, 'x-dead-letter-exchange': 'dlx.maxlen' } });
    for (let i = 1; i <= 5; i++) ch.sendToQueue('limit.len', text(`m${i}`));
    assert.equal(await readyCount(ch, 'limit.len'), 3);
    assert.deepEqual(await drainBodies(ch, 'limit.len'), ['m3', 'm4', 'm5']);
    const dead = await drainBodies(ch, 'dead.maxlen');
    assert.deepEqual(dead, ['m1', 'm2']);
  });

  test('x-max-length-bytes counts body bytes', async () => {
    await ch.assertQueue('limit.bytes', { arguments: { 'x-max-length-bytes': 10 } });
    for (let i = 0; i < 4; i++) ch.sendToQueue('limit.bytes', text(`abcd${i}`)); // 5 bytes each
    assert.deepEqual(await drainBodies(ch, 'limit.bytes'), ['abcd2', 'abcd3']);
  });

  test('reject-publish nacks publishes over the limit and keeps the queue as it was', async () => {
    await ch.assertQueue('limit.reject', { arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    const cc = await conn.createConfirmChannel();
    const results: Array<string> = [];
    await new Promise<void>((resolve) => {
      for (let i = 1; i <= 4; i++) {
        cc.sendToQueue('limit.reject', text(`r${i}`), {}, (err) => {
          results.push(err ? `nack${i}` : `ack${i}`);
          if (results.length === 4) resolve();
        });
      }
    });
    assert.deepEqual(results.sort(), ['ack1', 'ack2', 'nack3', 'nack4']);
    assert.deepEqual(await drainBodies(ch, 'limit.reject'), ['r1', 'r2']);
    await cc.close();
  });

  test('reject-publish-dlx nacks what it refuses and dead-letters it with reason maxlen', async () => {
    await ch.assertExchange('dlx.rpd', 'fanout');
    await ch.assertQueue('dead.rpd');
    await ch.bindQueue('dead.rpd', 'dlx.rpd', '');
    await ch.assertQueue('limit.rpd', { arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': 'dlx.rpd' } });
    const cc = await conn.createConfirmChannel();
    const outcome = (body: string) => new Promise<string>((resolve) => cc.sendToQueue('limit.rpd', text(body), {}, (err) => resolve(err ? 'nack' : 'ack')));
    assert.deepEqual(await Promise.all([outcome('kept'), outcome('refused')]), ['ack', 'nack']);
    assert.deepEqual(await drainBodies(ch, 'limit.rpd'), ['kept']);
    const dead = await ch.get('dead.rpd', { noAck: true });
    assert.ok(dead !== false);
    assert.equal(dead.content.toString(), 'refused');
    assert.equal((dead.properties.headers as any)['x-death'][0].reason, 'maxlen');
    await cc.close();
  });

  test('reject-publish checks the limit before a waiting consumer could take the message: x-max-length 0 refuses everything', async () => {
    await ch.assertQueue('limit.zero', { arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    const consumer = await conn.createChannel();
    const got: string[] = [];
    await consumer.consume('limit.zero', (m) => m && got.push(m.content.toString()), { noAck: true });
    const cc = await conn.createConfirmChannel();
    const result = await new Promise<string>((resolve) => cc.sendToQueue('limit.zero', text('never'), {}, (err) => resolve(err ? 'nack' : 'ack')));
    assert.equal(result, 'nack');
    // a delivery would have been written to this same connection before the nack
    assert.deepEqual(got, []);
    assert.equal(await readyCount(ch, 'limit.zero'), 0);
    await consumer.close();
    await cc.close();
  });

  test('a priority queue delivers the highest priority first and keeps FIFO within a priority', async () => {
    await ch.assertQueue('prio.q', { arguments: { 'x-max-priority': 10 } });
    const sends: Array<[string, number | undefined]> = [
      ['low1', 1],
      ['none', undefined],
      ['high1', 9],
      ['low2', 1],
      ['high2', 9],
      ['over', 200],
    ];
    for (const [body, priority] of sends) ch.sendToQueue('prio.q', text(body), priority === undefined ? {} : { priority });
    // 200 is above the maximum: it counts as the maximum (10), as RabbitMQ does
    assert.deepEqual(await drainBodies(ch, 'prio.q'), ['over', 'high1', 'high2', 'low1', 'low2', 'none']);
  });

  test('x-max-priority outside 0..255 is refused with 406', async () => {
    const bad = await conn.createChannel();
    await expectChannelClose(bad, 406, () => bad.assertQueue('prio.bad', { arguments: { 'x-max-priority': 300 } }));
  });

  test('x-delivery-limit dead-letters a message after too many returns, and redeliveries carry x-delivery-count', async () => {
    await ch.assertExchange('dlx.poison', 'fanout');
    await ch.assertQueue('dead.poison');
    await ch.bindQueue('dead.poison', 'dlx.poison', '');
    await ch.assertQueue('poison.q', { arguments: { 'x-delivery-limit': 2, 'x-dead-letter-exchange': 'dlx.poison' } });
    ch.sendToQueue('poison.q', text('poison'));
    const worker = await conn.createChannel();
    const counts: Array<number | undefined> = [];
    const dead = new Promise<ConsumeMessage>((resolve) => {
      void ch.consume('dead.poison', (m) => m && resolve(m), { noAck: true });
    });
    await worker.consume('poison.q', (m) => {
      if (m === null) return;
      counts.push(m.properties.headers?.['x-delivery-count']);
      worker.nack(m, false, true);
    });
    const m = await dead;
    assert.equal(m.content.toString(), 'poison');
    assert.equal((m.properties.headers as any)['x-death'][0].reason, 'delivery_limit');
    assert.deepEqual(counts, [undefined, 1, 2]);
    await worker.close();
  });

  test('x-retry-backoff makes a nacked message wait before it comes back instead of hot-looping', async () => {
    await ch.assertQueue('retry.backoff', { arguments: { 'x-retry-backoff': 40, 'x-retry-backoff-max': 200 } });
    ch.sendToQueue('retry.backoff', text('try'));
    const worker = await conn.createChannel();
    const times: number[] = [];
    await new Promise<void>((resolve) => {
      void worker.consume('retry.backoff', (m) => {
        if (m === null) return;
        times.push(Date.now());
        if (times.length < 4) worker.nack(m, false, true);
        else {
          worker.ack(m);
          resolve();
        }
      });
    });
    // waits of at least 40, 80, 160 ms (lower bounds only)
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(gaps[0]! >= 35 && gaps[1]! >= 75 && gaps[2]! >= 150, `gaps ${gaps.join(', ')}`);
    await worker.close();
  });

  test('a single active consumer gets everything, and the next consumer takes over when it goes', async () => {
    await ch.assertQueue('sac.q', { arguments: { 'x-single-active-consumer': true } });
    const first = await conn.createChannel();
    const second = await conn.createChannel();
    const got: string[] = [];
    const firstTag = (await first.consume('sac.q', (m) => m && got.push(`first:${m.content}`), { noAck: true })).consumerTag;
    const secondDone = collect(second, 'sac.q', 2, { noAck: true });
    for (const b of ['a', 'b']) ch.sendToQueue('sac.q', text(b));
    await readyCount(ch, 'sac.q');
    while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, ['first:a', 'first:b']);
    await first.cancel(firstTag);
    for (const b of ['c', 'd']) ch.sendToQueue('sac.q', text(b));
    const taken = await secondDone.done;
    assert.deepEqual(
      taken.map((m) => m.content.toString()),
      ['c', 'd'],
    );
    await first.close();
    await second.close();
  });

  test('a single active consumer whose connection goes away hands its unacked messages, redelivered, and the rest to the next consumer', async () => {
    await ch.assertQueue('sac.failover', { arguments: { 'x-single-active-consumer': true } });
    const activeConn = await amqp.connect(broker.url);
    const active = await activeConn.createChannel();
    const firstTwo = collect(active, 'sac.failover', 2);
    const standby = await conn.createChannel();
    const taken = collect(standby, 'sac.failover', 4, { noAck: true });
    for (const b of ['a', 'b']) ch.sendToQueue('sac.failover', text(b));
    assert.deepEqual(
      (await firstTwo.done).map((m) => m.content.toString()),
      ['a', 'b'],
    );
    assert.equal(taken.messages.length, 0, 'the standby got nothing while the first consumer was active');
    await activeConn.close(); // without acking a or b
    for (const b of ['c', 'd']) ch.sendToQueue('sac.failover', text(b));
    const after = await taken.done;
    assert.deepEqual(
      after.map((m) => [m.content.toString(), m.fields.redelivered]),
      [
        ['a', true],
        ['b', true],
        ['c', false],
        ['d', false],
      ],
    );
    await standby.close();
  });

  test('x-cancel-on-ha-failover is accepted, and ignored, on basic.consume as RabbitMQ clients send it', async () => {
    await ch.assertQueue('ha.consume');
    const consumer = await conn.createChannel();
    const got: string[] = [];
    await consumer.consume('ha.consume', (m) => m && got.push(m.content.toString()), { noAck: true, arguments: { 'x-cancel-on-ha-failover': true } });
    ch.sendToQueue('ha.consume', text('x'));
    while (got.length < 1) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, ['x']);
    await consumer.close();
  });

  test('a quorum queue must be durable, not exclusive and not auto-delete, refused with 406 in RabbitMQ words', async () => {
    for (const [options, property] of [
      [{ durable: false }, 'non-durable'],
      [{ durable: true, exclusive: true }, 'exclusive-owner'],
      [{ durable: true, autoDelete: true }, 'auto-delete'],
    ] as const) {
      const bad = await conn.createChannel();
      const reply = await expectChannelClose(bad, 406, () => bad.assertQueue('quorum.bad', { ...options, arguments: { 'x-queue-type': 'quorum' } }));
      assert.match(reply, new RegExp(`invalid property '${property}' for queue 'quorum.bad'`));
    }
    await ch.assertQueue('quorum.bad', { durable: false }); // the name was never taken
    await ch.deleteQueue('quorum.bad');
  });

  test('a single active consumer keeps the queue when a consumer with a higher x-priority arrives; that one takes over only when it goes', async () => {
    await ch.assertQueue('sac.prio', { arguments: { 'x-single-active-consumer': true } });
    const first = await conn.createChannel();
    await first.prefetch(10);
    const second = await conn.createChannel();
    const got: string[] = [];
    const firstTag = (await first.consume('sac.prio', (m) => m && got.push(`first:${m.content}`), { noAck: false })).consumerTag;
    for (const b of ['a', 'b']) ch.sendToQueue('sac.prio', text(b));
    while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    await second.consume('sac.prio', (m) => m && got.push(`second:${m.content}`), { noAck: true, priority: 10 });
    for (const b of ['c', 'd']) ch.sendToQueue('sac.prio', text(b));
    while (got.length < 4) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, ['first:a', 'first:b', 'first:c', 'first:d'], 'never two active consumers');
    await first.cancel(firstTag);
    await first.close(); // its four unacked messages go back, to the consumer that takes over
    while (got.length < 8) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got.slice(4).sort(), ['second:a', 'second:b', 'second:c', 'second:d']);
    await second.close();
  });

  test('x-queue-type classic and quorum are accepted; an unknown type is refused with 406', async () => {
    await ch.assertQueue('type.classic', { arguments: { 'x-queue-type': 'classic' } });
    await ch.assertQueue('type.quorum', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-cancel-on-ha-failover': true } });
    const bad = await conn.createChannel();
    const text406 = await expectChannelClose(bad, 406, () => bad.assertQueue('type.stream', { arguments: { 'x-queue-type': 'nonsense' } }));
    assert.match(text406, /x-queue-type/);
  });

  test('a quorum queue adds x-delivery-count to redeliveries', async () => {
    await ch.assertQueue('quorum.count', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    ch.sendToQueue('quorum.count', text('q'));
    const worker = await conn.createChannel();
    const counts: Array<number | undefined> = [];
    await new Promise<void>((resolve) => {
      void worker.consume('quorum.count', (m) => {
        if (m === null) return;
        counts.push(m.properties.headers?.['x-delivery-count']);
        if (counts.length === 1) worker.nack(m, false, true);
        else {
          worker.ack(m);
          resolve();
        }
      });
    });
    assert.deepEqual(counts, [undefined, 1]);
    await worker.close();
  });
});
