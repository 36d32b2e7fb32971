import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type Message } from 'amqplib';
import type { TestBroker } from '../helpers/broker.js';
import { closeAmqplib, collect, drainBodies, expectChannelClose, openAmqplib, text } from '../helpers/amqplib.js';

describe('amqplib: publishing', () => {
  let broker: TestBroker;
  let conn: ChannelModel;

  before(async () => ({ broker, conn } = await openAmqplib()));
  after(() => closeAmqplib(conn, broker));

  test('an unroutable mandatory message comes back as a return with 312 NO_ROUTE', async () => {
    const ch = await conn.createChannel();
    await ch.assertExchange('p.mandatory', 'direct', { durable: false });
    const returned = new Promise<Message>((resolve) => ch.once('return', resolve));
    ch.publish('p.mandatory', 'nobody-home', text('bounce'), { mandatory: true, messageId: 'm-1', headers: { h: 'v' } });
    const m = await returned;
    assert.equal(m.content.toString(), 'bounce');
    const fields = m.fields as unknown as { replyCode: number; replyText: string; exchange: string; routingKey: string };
    assert.equal(fields.replyCode, 312);
    assert.equal(fields.replyText, 'NO_ROUTE');
    assert.equal(fields.exchange, 'p.mandatory');
    assert.equal(fields.routingKey, 'nobody-home');
    assert.equal(m.properties.messageId, 'm-1');
    assert.deepEqual(m.properties.headers, { h: 'v' });
    await ch.close();
  });

  test('an unroutable message without mandatory is dropped silently', async () => {
    const ch = await conn.createChannel();
    let returns = 0;
    ch.on('return', () => returns++);
    ch.publish('amq.direct', 'nobody-home', text('dropped'));
    ch.sendToQueue('p.no-such-queue', text('dropped'), { mandatory: false });
    await ch.checkExchange('amq.direct');
    assert.equal(returns, 0);
    await ch.close();
  });

  test('a routable mandatory message is delivered, not returned', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.mandatory.ok', { durable: false });
    let returns = 0;
    ch.on('return', () => returns++);
    ch.sendToQueue('p.mandatory.ok', text('kept'), { mandatory: true });
    assert.deepEqual(await drainBodies(ch, 'p.mandatory.ok'), ['kept']);
    assert.equal(returns, 0);
    await ch.close();
  });

  test('on a confirm channel an unroutable mandatory message is returned before it is confirmed', async () => {
    const ch = await conn.createConfirmChannel();
    const order: string[] = [];
    ch.on('return', () => order.push('return'));
    await new Promise<void>((resolve, reject) => {
      ch.publish('amq.direct', 'nobody-home', text('bounce'), { mandatory: true }, (err) => {
        order.push('ack');
        if (err) reject(err);
        else resolve();
      });
    });
    assert.deepEqual(order, ['return', 'ack']);
    await ch.close();
  });

  for (const size of [1024 * 1024, 5 * 1024 * 1024]) {
    test(`a ${size / 1024 / 1024} MB body split across many frames round-trips byte-exact`, async () => {
      const ch = await conn.createChannel();
      const q = `p.large.${size}`;
      await ch.assertQueue(q, { durable: false });
      const body = randomBytes(size);
      ch.sendToQueue(q, body, { contentType: 'application/octet-stream' });
      const viaGet = await ch.get(q);
      assert.ok(viaGet !== false);
      assert.equal(viaGet.content.length, size);
      assert.ok(viaGet.content.equals(body), 'basic.get body differs');
      ch.nack(viaGet, false, true);
      const viaConsume = collect(ch, q, 1);
      const [m] = await viaConsume.done;
      assert.ok(m!.content.equals(body), 'basic.deliver body differs');
      assert.equal(m!.fields.redelivered, true);
      ch.ack(m!);
      await ch.close();
    });
  }

  test('a body of exactly frame-max minus overhead and one byte more both round-trip', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.frame.edge', { durable: false });
    const frameMax = broker.config.frameMax;
    const sizes = [frameMax - 8, frameMax - 7, frameMax, frameMax * 2 - 16, frameMax * 2 - 15];
    const sent = sizes.map((n) => randomBytes(n));
    for (const b of sent) ch.sendToQueue('p.frame.edge', b);
    const got = collect(ch, 'p.frame.edge', sent.length, { noAck: true });
    const ms = await got.done;
    ms.forEach((m, i) => assert.ok(m.content.equals(sent[i]!), `body of ${sizes[i]} bytes differs`));
    await ch.close();
  });

  test('with a 4096-byte frame-max a 1 MB body is split into hundreds of frames and round-trips', async () => {
    const small = await amqp.connect(`${broker.url}?frameMax=4096`);
    const ch = await small.createChannel();
    await ch.assertQueue('p.small.frames', { durable: false });
    const body = randomBytes(1024 * 1024);
    ch.sendToQueue('p.small.frames', body);
    const [m] = await collect(ch, 'p.small.frames', 1, { noAck: true }).done;
    assert.ok(m!.content.equals(body));
    await small.close();
  });

  test('an empty body round-trips as an empty buffer', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.empty', { durable: false });
    ch.sendToQueue('p.empty', Buffer.alloc(0), { messageId: 'empty' });
    ch.sendToQueue('p.empty', text('after-empty'));
    const got = collect(ch, 'p.empty', 2, { noAck: true });
    const [a, b] = await got.done;
    assert.equal(a!.content.length, 0);
    assert.equal(a!.properties.messageId, 'empty');
    assert.equal(b!.content.toString(), 'after-empty');
    await ch.close();
  });

  test('every basic property round-trips unchanged', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.properties', { durable: false });
    const timestamp = Math.floor(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
    const headers = {
      str: 'text',
      int: 42,
      negative: -7,
      big: 2 ** 40,
      float: 1.5,
      yes: true,
      no: false,
      nested: { inner: { deep: 'value', n: 1 }, list: [1, 'two', true, { x: 3 }] },
      list: ['a', 2, false, [3, 4]],
      empty: '',
    };
    ch.sendToQueue('p.properties', text('props'), {
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers,
      deliveryMode: 2,
      priority: 7,
      correlationId: 'corr-1',
      replyTo: 'p.some.reply.queue',
      expiration: '86400000',
      messageId: 'msg-1',
      timestamp,
      type: 'order.created',
      userId: 'guest',
      appId: 'compat-test',
    });
    const m = await ch.get('p.properties', { noAck: true });
    assert.ok(m !== false);
    const p = m.properties;
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.contentEncoding, 'gzip');
    assert.deepEqual(p.headers, headers);
    assert.equal(p.deliveryMode, 2);
    assert.equal(p.priority, 7);
    assert.equal(p.correlationId, 'corr-1');
    assert.equal(p.replyTo, 'p.some.reply.queue');
    assert.equal(p.expiration, '86400000');
    assert.equal(p.messageId, 'msg-1');
    assert.equal(p.timestamp, timestamp);
    assert.equal(p.type, 'order.created');
    assert.equal(p.userId, 'guest');
    assert.equal(p.appId, 'compat-test');
    await ch.close();
  });

  test('a message without properties arrives with them all unset', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.no.properties', { durable: false });
    ch.sendToQueue('p.no.properties', text('bare'));
    const m = await ch.get('p.no.properties', { noAck: true });
    assert.ok(m !== false);
    assert.equal(m.properties.contentType, undefined);
    assert.equal(m.properties.messageId, undefined);
    assert.equal(m.properties.deliveryMode, undefined);
    assert.equal(m.properties.userId, undefined);
    await ch.close();
  });

  test('persistent: true is delivered as deliveryMode 2', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.persistent', { durable: true });
    ch.sendToQueue('p.persistent', text('p'), { persistent: true });
    ch.sendToQueue('p.persistent', text('t'), { persistent: false });
    const a = await ch.get('p.persistent', { noAck: true });
    const b = await ch.get('p.persistent', { noAck: true });
    assert.ok(a !== false && b !== false);
    assert.equal(a.properties.deliveryMode, 2);
    assert.equal(b.properties.deliveryMode, 1);
    await ch.deleteQueue('p.persistent');
    await ch.close();
  });

  test('a user-id other than the authenticated user closes the channel with 406', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.userid', { durable: false });
    const message = await expectChannelClose(ch, 406, async () => {
      ch.sendToQueue('p.userid', text('impostor'), { userId: 'admin' });
      await ch.checkQueue('p.userid');
    });
    assert.match(message, /user_id property set to 'admin' but authenticated user was 'guest'/);
    const ch2 = await conn.createChannel();
    assert.equal((await ch2.checkQueue('p.userid')).messageCount, 0);
    await ch2.close();
  });

  test('CC and BCC headers route copies by the extra routing keys, and BCC is removed', async () => {
    const ch = await conn.createChannel();
    for (const q of ['p.cc.main', 'p.cc.copy', 'p.cc.blind']) {
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, 'amq.direct', q);
    }
    ch.publish('amq.direct', 'p.cc.main', text('cc'), { CC: 'p.cc.copy', BCC: ['p.cc.blind'] });
    const got: Record<string, { cc: unknown; bcc: unknown } | false> = {};
    for (const q of ['p.cc.main', 'p.cc.copy', 'p.cc.blind']) {
      const m = await ch.get(q, { noAck: true });
      got[q] = m !== false && { cc: m.properties.headers?.CC, bcc: m.properties.headers?.BCC };
    }
    const expected = { cc: ['p.cc.copy'], bcc: undefined };
    assert.deepEqual(got, { 'p.cc.main': expected, 'p.cc.copy': expected, 'p.cc.blind': expected });
    await ch.close();
  });

  test('publishing many small messages in a burst delivers them all in order', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('p.burst', { durable: false });
    const n = 5000;
    const got = collect(ch, 'p.burst', n, { noAck: true });
    await got.consumerTag;
    for (let i = 0; i < n; i++) ch.sendToQueue('p.burst', text(String(i)));
    const ms = await got.done;
    assert.ok(ms.every((m, i) => m.content.toString() === String(i)));
    await ch.close();
  });
});
