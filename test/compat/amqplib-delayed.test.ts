/**
 * The x-delayed-message exchange type (RabbitMQ delayed-message plugin interface) with amqplib.
 * No timed assertions: a delivery is awaited, and only its lower bound (not before publish time + delay)
 * and ordering are checked.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Message as AmqpMessage } from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { collect, drainBodies, expectChannelClose, text } from '../helpers/amqplib.js';

const DELAYED = 'x-delayed-message';

function delayedArgs(innerType: string): { arguments: Record<string, unknown> } {
  return { arguments: { 'x-delayed-type': innerType } };
}

describe('amqplib: x-delayed-message exchanges', () => {
  let broker: TestBroker;
  let conn: ChannelModel;

  before(async () => {
    broker = await startTestBroker();
    conn = await amqp.connect(broker.url);
    conn.on('error', () => {});
  });

  after(async () => {
    await conn.close().catch(() => {});
    await broker.stop();
  });

  async function channel(): Promise<Channel> {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    return ch;
  }

  test('a delayed message arrives after its delay, routed by the inner direct type, with its x-delay header negated as the plugin delivers it', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.direct', DELAYED, { durable: false, ...delayedArgs('direct') });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.direct', 'k');
    const got = collect(ch, queue, 2, { noAck: true });
    await got.consumerTag;
    const publishedAt = Date.now();
    ch.publish('dl.direct', 'other', text('not bound'), { headers: { 'x-delay': 100 } });
    ch.publish('dl.direct', 'k', text('late'), { headers: { 'x-delay': 300 } });
    ch.publish('dl.direct', 'k', text('later'), { headers: { 'x-delay': 400 } });
    const [first, second] = (await got.done).map((m) => [m, Date.now()] as const);
    assert.equal(first![0].content.toString(), 'late');
    assert.equal(second![0].content.toString(), 'later');
    assert.ok(first![1] - publishedAt >= 300, `arrived after ${first![1] - publishedAt} ms`);
    assert.equal(first![0].properties.headers?.['x-delay'], -300);
    assert.equal(second![0].properties.headers?.['x-delay'], -400);
    assert.equal(first![0].fields.exchange, 'dl.direct');
    assert.equal(first![0].fields.routingKey, 'k');
    await ch.close();
  });

  test('arrival is checked against the clock: a 300 ms message published after a 600 ms one arrives first, neither early', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.order', DELAYED, { durable: false, ...delayedArgs('fanout') });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.order', '');
    const arrivals: Array<[string, number]> = [];
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    await ch.consume(
      queue,
      (m) => {
        if (m === null) return;
        arrivals.push([m.content.toString(), Date.now()]);
        if (arrivals.length === 2) finish();
      },
      { noAck: true },
    );
    const publishedAt = Date.now();
    ch.publish('dl.order', '', text('600'), { headers: { 'x-delay': 600 } });
    ch.publish('dl.order', '', text('300'), { headers: { 'x-delay': 300 } });
    await done;
    assert.deepEqual(
      arrivals.map((a) => a[0]),
      ['300', '600'],
    );
    assert.ok(arrivals[0]![1] - publishedAt >= 300);
    assert.ok(arrivals[1]![1] - publishedAt >= 600);
    await ch.close();
  });

  test('the inner topic type routes a due message by pattern; unroutable due messages are dropped', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.topic', DELAYED, { durable: false, ...delayedArgs('topic') });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.topic', 'orders.*');
    const got = collect(ch, queue, 2, { noAck: true });
    await got.consumerTag;
    const publishedAt = Date.now();
    ch.publish('dl.topic', 'orders.eu', text('order'), { headers: { 'x-delay': 200 } });
    ch.publish('dl.topic', 'invoices.eu', text('invoice'), { headers: { 'x-delay': 200 } });
    // due after the others: by the time it arrives, the invoice was due and dropped
    ch.publish('dl.topic', 'orders.end', text('end'), { headers: { 'x-delay': 400 } });
    const messages = await got.done;
    assert.ok(Date.now() - publishedAt >= 400);
    assert.deepEqual(
      messages.map((m) => m.content.toString()),
      ['order', 'end'],
    );
    assert.deepEqual(await drainBodies(ch, queue), []);
    await ch.close();
  });

  test('the inner headers type matches binding arguments when the message is due', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.headers', DELAYED, { durable: false, ...delayedArgs('headers') });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.headers', '', { 'x-match': 'all', region: 'eu' });
    const got = collect(ch, queue, 2, { noAck: true });
    await got.consumerTag;
    ch.publish('dl.headers', '', text('us'), { headers: { 'x-delay': 100, region: 'us' } });
    ch.publish('dl.headers', '', text('eu'), { headers: { 'x-delay': 100, region: 'eu' } });
    ch.publish('dl.headers', '', text('eu-end'), { headers: { 'x-delay': 300, region: 'eu' } });
    assert.deepEqual(
      (await got.done).map((m) => m.content.toString()),
      ['eu', 'eu-end'],
    );
    await ch.close();
  });

  test('a due message that matches no binding goes to the alternate exchange then, not at publish time', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.ae.target', 'fanout', { durable: false });
    const { queue: aeQueue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(aeQueue, 'dl.ae.target', '');
    await ch.assertExchange('dl.ae', DELAYED, { durable: false, alternateExchange: 'dl.ae.target', ...delayedArgs('direct') });
    const got = collect(ch, aeQueue, 1, { noAck: true });
    await got.consumerTag;
    const publishedAt = Date.now();
    ch.publish('dl.ae', 'unbound', text('to the ae'), { headers: { 'x-delay': 300 } });
    const [m] = await got.done;
    assert.ok(Date.now() - publishedAt >= 300);
    assert.equal(m!.content.toString(), 'to the ae');
    await ch.close();
  });

  test('an x-delay written as a string of digits or as a float delays too (truncated), as the plugin reads it', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.lenient', DELAYED, { durable: false, ...delayedArgs('direct') });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.lenient', 'k');
    const publishedAt = Date.now();
    ch.publish('dl.lenient', 'k', text('string'), { headers: { 'x-delay': '300' } });
    ch.publish('dl.lenient', 'k', text('float'), { headers: { 'x-delay': 300.7 } });
    // basic.get on the same channel is handled after the publishes: nothing was routed at once
    assert.equal(await ch.get(queue, { noAck: true }), false);
    const got = collect(ch, queue, 2, { noAck: true });
    const messages = await got.done;
    assert.ok(Date.now() - publishedAt >= 300, `arrived after ${Date.now() - publishedAt} ms`);
    assert.deepEqual(
      messages.map((m) => [m.content.toString(), m.properties.headers?.['x-delay']]),
      [
        ['string', -300],
        ['float', -300],
      ],
    );
    await ch.close();
  });

  test('a message that reaches a delayed exchange through an exchange-to-exchange binding, or is dead-lettered into one, is held there too', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.behind', DELAYED, { durable: false, ...delayedArgs('fanout') });
    await ch.assertExchange('dl.front', 'direct', { durable: false });
    await ch.bindExchange('dl.behind', 'dl.front', 'k');
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.behind', '');
    await ch.assertQueue('dl.work', { exclusive: true, arguments: { 'x-dead-letter-exchange': 'dl.behind' } });
    const publishedAt = Date.now();
    ch.publish('dl.front', 'k', text('through e2e'), { headers: { 'x-delay': 300 } });
    ch.sendToQueue('dl.work', text('dead-lettered'), { headers: { 'x-delay': 300 } });
    const rejected = await ch.get('dl.work', { noAck: false });
    assert.ok(rejected !== false);
    ch.reject(rejected, false);
    // basic.get on the same channel is handled after the publish and the reject: neither was routed at once
    assert.equal(await ch.get(queue, { noAck: true }), false);
    const got = collect(ch, queue, 2, { noAck: true });
    const messages = await got.done;
    assert.ok(Date.now() - publishedAt >= 300, `arrived after ${Date.now() - publishedAt} ms`);
    assert.deepEqual(messages.map((m) => m.content.toString()).sort(), ['dead-lettered', 'through e2e']);
    for (const m of messages) assert.equal(m.properties.headers?.['x-delay'], -300);
    const dead = messages.find((m) => m.content.toString() === 'dead-lettered')!;
    assert.equal((dead.properties.headers?.['x-death'] as Array<{ reason: string }>)[0]!.reason, 'rejected');
    await ch.close();
  });

  test('without a positive x-delay (absent, zero, negative, not a number) a message is routed at once', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.now', DELAYED, { durable: false, ...delayedArgs('direct') });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.now', 'k');
    ch.publish('dl.now', 'k', text('no header'));
    ch.publish('dl.now', 'k', text('other headers'), { headers: { a: 1 } });
    ch.publish('dl.now', 'k', text('zero'), { headers: { 'x-delay': 0 } });
    ch.publish('dl.now', 'k', text('negative'), { headers: { 'x-delay': -500 } });
    ch.publish('dl.now', 'k', text('text'), { headers: { 'x-delay': 'soon' } });
    ch.publish('dl.now', 'k', text('negative text'), { headers: { 'x-delay': '-500' } });
    // basic.get on the same channel is handled after the publishes: routed ones are in the queue
    assert.deepEqual(await drainBodies(ch, queue), ['no header', 'other headers', 'zero', 'negative', 'text', 'negative text']);
    await ch.close();
  });

  test('an x-delayed-message exchange without a valid x-delayed-type is refused with 406', async () => {
    for (const args of [{}, { 'x-delayed-type': 'bogus' }, { 'x-delayed-type': DELAYED }, { 'x-delayed-type': 5 }]) {
      const ch = await channel();
      const reason = await expectChannelClose(ch, 406, () => ch.assertExchange('dl.invalid', DELAYED, { durable: false, arguments: args }));
      assert.match(reason, /Invalid argument, 'x-delayed-type' must be an existing exchange type/);
    }
    const ch = await channel();
    await expectChannelClose(ch, 404, () => ch.checkExchange('dl.invalid'));
  });

  test('a mandatory delayed message that would not route now is returned at once with 312 and not held', async () => {
    const ch = await channel();
    await ch.assertExchange('dl.mandatory', DELAYED, { durable: false, ...delayedArgs('direct') });
    const returned = new Promise<AmqpMessage>((resolve) => ch.once('return', resolve));
    const publishedAt = Date.now();
    ch.publish('dl.mandatory', 'k', text('nowhere'), { mandatory: true, headers: { 'x-delay': 200 } });
    const r = await returned;
    // amqplib hands basic.return's fields over as the message fields
    const fields = r.fields as unknown as { replyCode: number; replyText: string };
    assert.equal(fields.replyCode, 312);
    assert.equal(fields.replyText, 'NO_ROUTE');
    assert.equal(r.content.toString(), 'nowhere');
    // now a binding exists: a later routable message arrives, the returned one (due earlier) never does
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.mandatory', 'k');
    const got = collect(ch, queue, 1, { noAck: true });
    await got.consumerTag;
    ch.publish('dl.mandatory', 'k', text('routable'), { mandatory: true, headers: { 'x-delay': 400 } });
    const [m] = await got.done;
    assert.equal(m!.content.toString(), 'routable');
    assert.ok(Date.now() - publishedAt >= 400);
    assert.deepEqual(await drainBodies(ch, queue), []);
    await ch.close();
  });

  test('publisher confirms arrive for persistent messages held by a durable delayed exchange', async () => {
    const ch: ConfirmChannel = await conn.createConfirmChannel();
    ch.on('error', () => {});
    await ch.assertExchange('dl.confirm', DELAYED, { durable: true, ...delayedArgs('direct') });
    await ch.assertQueue('dl.confirm.q', { durable: true });
    await ch.bindQueue('dl.confirm.q', 'dl.confirm', 'k');
    const acks = await Promise.all(
      [1, 2, 3].map(
        (i) =>
          new Promise<void>((resolve, reject) =>
            ch.publish('dl.confirm', 'k', text(`c${i}`), { persistent: true, headers: { 'x-delay': 60_000 } }, (err) => (err ? reject(err) : resolve())),
          ),
      ),
    );
    assert.equal(acks.length, 3);
    await ch.waitForConfirms();
    assert.equal((await ch.checkQueue('dl.confirm.q')).messageCount, 0, 'held messages are not in the queue yet');
    await ch.deleteExchange('dl.confirm');
    await ch.deleteQueue('dl.confirm.q');
    await ch.close();
  });

  test('deleting a delayed exchange drops its pending messages and their storage', async () => {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    await ch.assertExchange('dl.deleted', DELAYED, { durable: true, ...delayedArgs('direct') });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'dl.deleted', 'k');
    ch.publish('dl.deleted', 'k', text('dropped'), { persistent: true, headers: { 'x-delay': 200 } });
    await ch.waitForConfirms();
    const delayedDir = join(broker.dataDir, 'delayed');
    assert.equal(readdirSync(delayedDir).length, 1, 'a durable delayed exchange keeps its messages on disk');
    await ch.deleteExchange('dl.deleted');
    assert.deepEqual(readdirSync(delayedDir), []);
    // the same name again is a new exchange with nothing held
    await ch.assertExchange('dl.deleted', DELAYED, { durable: true, ...delayedArgs('direct') });
    await ch.bindQueue(queue, 'dl.deleted', 'k');
    const got = collect(ch, queue, 1, { noAck: true });
    await got.consumerTag;
    ch.publish('dl.deleted', 'k', text('kept'), { headers: { 'x-delay': 400 } });
    assert.deepEqual(
      (await got.done).map((m) => m.content.toString()),
      ['kept'],
    );
    assert.deepEqual(await drainBodies(ch, queue), []);
    await ch.deleteExchange('dl.deleted');
    await ch.close();
  });
});

describe('amqplib: x-delayed-message across a broker restart', () => {
  const dataDir = tempDataDir('postbox-compat-delayed-');
  let broker: TestBroker | undefined;

  after(async () => {
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('persistent messages held by a durable delayed exchange survive a restart and arrive when due; transient ones do not', async () => {
    broker = await startTestBroker({ dataDir });
    let conn = await amqp.connect(broker.url);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('dl.restart', DELAYED, { durable: true, ...delayedArgs('direct') });
    await ch.assertExchange('dl.restart.transient', DELAYED, { durable: false, ...delayedArgs('direct') });
    await ch.assertQueue('dl.restart.q', { durable: true });
    await ch.bindQueue('dl.restart.q', 'dl.restart', 'k');
    await ch.bindQueue('dl.restart.q', 'dl.restart.transient', 'k');
    const publishedAt = Date.now();
    ch.publish('dl.restart', 'k', text('transient message'), { persistent: false, headers: { 'x-delay': 1500 } });
    ch.publish('dl.restart.transient', 'k', text('transient exchange'), { persistent: true, headers: { 'x-delay': 1500 } });
    ch.publish('dl.restart', 'k', text('first'), { persistent: true, headers: { 'x-delay': 1800 } });
    ch.publish('dl.restart', 'k', text('second'), { persistent: true, headers: { 'x-delay': 2000 } });
    await ch.waitForConfirms();
    await conn.close();
    await broker.stop();
    assert.ok(existsSync(join(dataDir, 'delayed')));

    broker = await startTestBroker({ dataDir });
    conn = await amqp.connect(broker.url);
    const ch2 = await conn.createChannel();
    await ch2.checkExchange('dl.restart');
    await expectChannelClose(ch2, 404, () => ch2.checkExchange('dl.restart.transient'));
    const ch3 = await conn.createChannel();
    const got = collect(ch3, 'dl.restart.q', 2, { noAck: true });
    const messages: ConsumeMessage[] = await got.done;
    assert.ok(Date.now() - publishedAt >= 2000);
    assert.deepEqual(
      messages.map((m) => m.content.toString()),
      ['first', 'second'],
    );
    assert.deepEqual(await drainBodies(ch3, 'dl.restart.q'), []);
    await conn.close();
  });
});
