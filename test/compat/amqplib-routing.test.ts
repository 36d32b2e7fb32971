import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Channel, ChannelModel } from 'amqplib';
import type { TestBroker } from '../helpers/broker.js';
import { closeAmqplib, drainBodies, expectChannelClose, openAmqplibChannel, readyCount, text } from '../helpers/amqplib.js';

/**
 * binding pattern, routing key, whether it matches (RabbitMQ's topic semantics). An empty routing key is
 * zero words in RabbitMQ 3.x and one empty word in 4.x, so only cases where both agree are listed.
 */
const TOPIC_CASES: ReadonlyArray<readonly [string, string, boolean]> = [
  ['a.b.c', 'a.b.c', true],
  ['a.b.c', 'a.b', false],
  ['a.*.c', 'a.b.c', true],
  ['a.*.c', 'a.c', false],
  ['a.*.c', 'a.b.b.c', false],
  ['*', 'a', true],
  ['*', 'a.b', false],
  ['*.*', 'a.b', true],
  ['#', '', true],
  ['#', 'a', true],
  ['#', 'a.b.c', true],
  ['a.#', 'a', true],
  ['a.#', 'a.b.c', true],
  ['a.#', 'b.a', false],
  ['#.x', 'x', true],
  ['#.x', 'a.b.x', true],
  ['#.x', 'a.x.b', false],
  ['a.#.z', 'a.z', true],
  ['a.#.z', 'a.b.c.z', true],
  ['a.#.z', 'a.b.c', false],
  ['#.#', 'a.b', true],
  ['#.*', 'a', true],
  ['a..b', 'a..b', true],
  ['a.*.b', 'a..b', true],
  ['a..b', 'a.b', false],
  ['a.#.b', 'a..b', true],
  ['.a', '.a', true],
  ['*.a', '.a', true],
  ['a.', 'a.', true],
  ['a.*', 'a.', true],
  ['a.*', 'a', false],
  ['', '', true],
  ['', 'a', false],
  ['a.b', 'A.B', false],
];

describe('amqplib: routing', () => {
  let broker: TestBroker;
  let conn: ChannelModel;
  let ch: Channel;

  before(async () => ({ broker, conn, ch } = await openAmqplibChannel()));
  after(() => closeAmqplib(conn, broker));

  test('a direct exchange routes by exact routing key', async () => {
    await ch.assertExchange('r.direct', 'direct', { durable: false });
    await ch.assertQueue('r.direct.red', { durable: false });
    await ch.assertQueue('r.direct.blue', { durable: false });
    await ch.bindQueue('r.direct.red', 'r.direct', 'red');
    await ch.bindQueue('r.direct.blue', 'r.direct', 'blue');
    ch.publish('r.direct', 'red', text('r1'));
    ch.publish('r.direct', 'blue', text('b1'));
    ch.publish('r.direct', 'green', text('g1'));
    ch.publish('r.direct', 'red.x', text('r2'));
    assert.deepEqual(await drainBodies(ch, 'r.direct.red'), ['r1']);
    assert.deepEqual(await drainBodies(ch, 'r.direct.blue'), ['b1']);
  });

  test('a fanout exchange copies each message to every bound queue, ignoring the routing key', async () => {
    await ch.assertExchange('r.fanout', 'fanout', { durable: false });
    const queues = ['r.fan.1', 'r.fan.2', 'r.fan.3'];
    for (const q of queues) {
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, 'r.fanout', 'ignored');
    }
    ch.publish('r.fanout', 'anything', text('m1'));
    ch.publish('r.fanout', '', text('m2'));
    for (const q of queues) assert.deepEqual(await drainBodies(ch, q), ['m1', 'm2']);
  });

  test('a topic exchange matches * and # as RabbitMQ does, including empty words', async () => {
    await ch.assertExchange('r.topic', 'topic', { durable: false });
    for (let i = 0; i < TOPIC_CASES.length; i++) {
      const [pattern] = TOPIC_CASES[i]!;
      const q = `r.topic.case.${i}`;
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, 'r.topic', pattern);
    }
    for (let i = 0; i < TOPIC_CASES.length; i++) ch.publish('r.topic', TOPIC_CASES[i]![1], text(`case-${i}`));
    const wrong: string[] = [];
    for (let i = 0; i < TOPIC_CASES.length; i++) {
      const [pattern, key, expected] = TOPIC_CASES[i]!;
      const got = (await drainBodies(ch, `r.topic.case.${i}`)).includes(`case-${i}`);
      if (got !== expected) wrong.push(`pattern '${pattern}' vs key '${key}': expected ${expected ? 'match' : 'no match'}`);
    }
    assert.deepEqual(wrong, []);
  });

  test('a topic binding with # alone receives every message', async () => {
    await ch.assertExchange('r.topic.all', 'topic', { durable: false });
    await ch.assertQueue('r.topic.all.q', { durable: false });
    await ch.bindQueue('r.topic.all.q', 'r.topic.all', '#');
    const keys = ['', 'a', 'a.b', 'a..b', '.', 'x.y.z.w'];
    for (const k of keys) ch.publish('r.topic.all', k, text(k));
    assert.deepEqual(await drainBodies(ch, 'r.topic.all.q'), keys);
  });

  test('a topic unbind removes only that pattern', async () => {
    await ch.assertExchange('r.topic.unbind', 'topic', { durable: false });
    await ch.assertQueue('r.topic.unbind.q', { durable: false });
    await ch.bindQueue('r.topic.unbind.q', 'r.topic.unbind', 'a.*');
    await ch.bindQueue('r.topic.unbind.q', 'r.topic.unbind', '*.b');
    ch.publish('r.topic.unbind', 'a.x', text('before'));
    await ch.unbindQueue('r.topic.unbind.q', 'r.topic.unbind', 'a.*');
    ch.publish('r.topic.unbind', 'a.x', text('after-unbound'));
    ch.publish('r.topic.unbind', 'a.b', text('still-bound'));
    assert.deepEqual(await drainBodies(ch, 'r.topic.unbind.q'), ['before', 'still-bound']);
  });

  test('a headers exchange with x-match all needs every header to match', async () => {
    await ch.assertExchange('r.headers.all', 'headers', { durable: false });
    await ch.assertQueue('r.headers.all.q', { durable: false });
    await ch.bindQueue('r.headers.all.q', 'r.headers.all', '', { 'x-match': 'all', format: 'pdf', type: 'report' });
    ch.publish('r.headers.all', '', text('both'), { headers: { format: 'pdf', type: 'report', extra: 1 } });
    ch.publish('r.headers.all', '', text('one'), { headers: { format: 'pdf' } });
    ch.publish('r.headers.all', '', text('wrong-value'), { headers: { format: 'pdf', type: 'log' } });
    ch.publish('r.headers.all', '', text('none'));
    assert.deepEqual(await drainBodies(ch, 'r.headers.all.q'), ['both']);
  });

  test('a headers binding without x-match defaults to all', async () => {
    await ch.assertExchange('r.headers.default', 'headers', { durable: false });
    await ch.assertQueue('r.headers.default.q', { durable: false });
    await ch.bindQueue('r.headers.default.q', 'r.headers.default', '', { a: 1, b: 2 });
    ch.publish('r.headers.default', '', text('a-only'), { headers: { a: 1 } });
    ch.publish('r.headers.default', '', text('a-and-b'), { headers: { a: 1, b: 2 } });
    assert.deepEqual(await drainBodies(ch, 'r.headers.default.q'), ['a-and-b']);
  });

  test('a headers exchange with x-match any needs one header to match', async () => {
    await ch.assertExchange('r.headers.any', 'headers', { durable: false });
    await ch.assertQueue('r.headers.any.q', { durable: false });
    await ch.bindQueue('r.headers.any.q', 'r.headers.any', '', { 'x-match': 'any', format: 'pdf', type: 'report' });
    ch.publish('r.headers.any', '', text('format'), { headers: { format: 'pdf' } });
    ch.publish('r.headers.any', '', text('type'), { headers: { type: 'report', format: 'zip' } });
    ch.publish('r.headers.any', '', text('neither'), { headers: { format: 'zip' } });
    ch.publish('r.headers.any', '', text('no-headers'));
    assert.deepEqual(await drainBodies(ch, 'r.headers.any.q'), ['format', 'type']);
  });

  test('a headers binding ignores binding arguments starting with x-', async () => {
    await ch.assertExchange('r.headers.x', 'headers', { durable: false });
    await ch.assertQueue('r.headers.x.q', { durable: false });
    await ch.bindQueue('r.headers.x.q', 'r.headers.x', '', { 'x-match': 'all', 'x-custom': 'ignored', kind: 'a' });
    ch.publish('r.headers.x', '', text('without-x-header'), { headers: { kind: 'a' } });
    ch.publish('r.headers.x', '', text('wrong-kind'), { headers: { kind: 'b', 'x-custom': 'ignored' } });
    assert.deepEqual(await drainBodies(ch, 'r.headers.x.q'), ['without-x-header']);
  });

  test('headers matching compares numbers and booleans by value', async () => {
    await ch.assertExchange('r.headers.typed', 'headers', { durable: false });
    await ch.assertQueue('r.headers.typed.q', { durable: false });
    await ch.bindQueue('r.headers.typed.q', 'r.headers.typed', '', { 'x-match': 'all', level: 3, urgent: true });
    ch.publish('r.headers.typed', '', text('match'), { headers: { level: 3, urgent: true } });
    ch.publish('r.headers.typed', '', text('string-level'), { headers: { level: '3', urgent: true } });
    ch.publish('r.headers.typed', '', text('not-urgent'), { headers: { level: 3, urgent: false } });
    assert.deepEqual(await drainBodies(ch, 'r.headers.typed.q'), ['match']);
  });

  test('a message reaching one queue through two bindings arrives once', async () => {
    await ch.assertExchange('r.twice', 'topic', { durable: false });
    await ch.assertQueue('r.twice.q', { durable: false });
    await ch.bindQueue('r.twice.q', 'r.twice', 'a.*');
    await ch.bindQueue('r.twice.q', 'r.twice', '*.b');
    await ch.bindQueue('r.twice.q', 'r.twice', '#');
    ch.publish('r.twice', 'a.b', text('once'));
    assert.deepEqual(await drainBodies(ch, 'r.twice.q'), ['once']);
  });

  test('a message reaching one queue directly and through an exchange-to-exchange binding arrives once', async () => {
    await ch.assertExchange('r.twice.src', 'fanout', { durable: false });
    await ch.assertExchange('r.twice.mid', 'fanout', { durable: false });
    await ch.assertQueue('r.twice.e2e', { durable: false });
    await ch.bindExchange('r.twice.mid', 'r.twice.src', '');
    await ch.bindQueue('r.twice.e2e', 'r.twice.src', '');
    await ch.bindQueue('r.twice.e2e', 'r.twice.mid', '');
    ch.publish('r.twice.src', '', text('once'));
    assert.deepEqual(await drainBodies(ch, 'r.twice.e2e'), ['once']);
  });

  test('binding the same queue twice with the same key is idempotent', async () => {
    await ch.assertExchange('r.dupbind', 'direct', { durable: false });
    await ch.assertQueue('r.dupbind.q', { durable: false });
    await ch.bindQueue('r.dupbind.q', 'r.dupbind', 'k');
    await ch.bindQueue('r.dupbind.q', 'r.dupbind', 'k');
    await ch.unbindQueue('r.dupbind.q', 'r.dupbind', 'k');
    ch.publish('r.dupbind', 'k', text('after-unbind'));
    assert.equal(await readyCount(ch, 'r.dupbind.q'), 0);
  });

  test('the default exchange routes by queue name', async () => {
    await ch.assertQueue('r.default.q', { durable: false });
    ch.sendToQueue('r.default.q', text('by-name'));
    ch.publish('', 'r.default.q', text('explicit'));
    ch.publish('', 'r.default.nonexistent', text('dropped'));
    assert.deepEqual(await drainBodies(ch, 'r.default.q'), ['by-name', 'explicit']);
  });

  test('declaring the default exchange, even passively, closes the channel with 403', async () => {
    const own = await conn.createChannel();
    await expectChannelClose(own, 403, () => own.checkExchange(''));
  });

  test('binding a queue to the default exchange closes the channel with 403', async () => {
    const own = await conn.createChannel();
    await own.assertQueue('r.default.bind', { durable: false });
    const message = await expectChannelClose(own, 403, () => own.bindQueue('r.default.bind', '', 'k'));
    assert.match(message, /ACCESS.REFUSED/);
  });

  test('unbinding a queue from the default exchange closes the channel with 403', async () => {
    const own = await conn.createChannel();
    await own.assertQueue('r.default.unbind', { durable: false });
    await expectChannelClose(own, 403, () => own.unbindQueue('r.default.unbind', '', 'r.default.unbind'));
  });

  test('routing keys are delivered as published', async () => {
    await ch.assertExchange('r.keys', 'topic', { durable: false });
    await ch.assertQueue('r.keys.q', { durable: false });
    await ch.bindQueue('r.keys.q', 'r.keys', 'orders.#');
    ch.publish('r.keys', 'orders.eu.new', text('x'));
    const m = await ch.get('r.keys.q', { noAck: true });
    assert.ok(m !== false);
    assert.equal(m.fields.exchange, 'r.keys');
    assert.equal(m.fields.routingKey, 'orders.eu.new');
  });
});
