/**
 * Messages through the management API: publish to an exchange, get from a queue with each ackmode and
 * encoding, purge; and the same messages seen by a real AMQP client (amqplib).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChannelModel, Channel } from 'amqplib';
import type { TestBroker } from '../helpers/broker.js';
import { closeAmqplib, openAmqplibChannel } from '../helpers/amqplib.js';
import { api, get } from './helpers.js';

describe('management API: publish, get and purge', () => {
  let broker: TestBroker;
  let conn: ChannelModel;
  let ch: Channel;

  before(async () => ({ broker, conn, ch } = await openAmqplibChannel()));
  after(() => closeAmqplib(conn, broker));

  function publish(exchange: string, body: Record<string, unknown>) {
    return api(broker, 'POST', `/api/exchanges/%2F/${encodeURIComponent(exchange)}/publish`, { body });
  }

  function getMessages(queue: string, body: Record<string, unknown>) {
    return api(broker, 'POST', `/api/queues/%2F/${encodeURIComponent(queue)}/get`, { body });
  }

  test('a message published over HTTP comes back from get with its properties, routing key and payload', async () => {
    await ch.assertQueue('msg.roundtrip', { durable: true });
    const properties = {
      content_type: 'application/json',
      headers: { trace: 'abc', n: 7, nested: { ok: true } },
      delivery_mode: 2,
      priority: 3,
      correlation_id: 'corr-1',
      message_id: 'id-1',
      timestamp: 1_700_000_000,
      app_id: 'tests',
    };
    const sent = await publish('amq.default', { properties, routing_key: 'msg.roundtrip', payload: '{"hello":"world"}', payload_encoding: 'string' });
    assert.equal(sent.status, 200);
    assert.deepEqual(sent.body, { routed: true });
    const got = await getMessages('msg.roundtrip', { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' });
    assert.equal(got.status, 200);
    assert.equal(got.body.length, 1);
    const m = got.body[0];
    assert.equal(m.payload, '{"hello":"world"}');
    assert.equal(m.payload_encoding, 'string');
    assert.equal(m.payload_bytes, 17);
    assert.equal(m.redelivered, false);
    assert.equal(m.exchange, '');
    assert.equal(m.routing_key, 'msg.roundtrip');
    assert.equal(m.message_count, 0);
    assert.deepEqual(m.properties, properties);
    assert.equal((await get(broker, '/api/queues/%2F/msg.roundtrip')).messages, 0, 'ack_requeue_false removed it');
  });

  test('a message published over HTTP reaches an amqplib consumer, and an unroutable one answers routed=false', async () => {
    await ch.assertExchange('msg.topic', 'topic', { durable: false });
    await ch.assertQueue('msg.bound', { durable: false });
    await ch.bindQueue('msg.bound', 'msg.topic', 'orders.*');
    const sent = await publish('msg.topic', {
      properties: { headers: { kind: 'order' } },
      routing_key: 'orders.new',
      payload: 'AAEC/w==',
      payload_encoding: 'base64',
    });
    assert.deepEqual(sent.body, { routed: true });
    const m = await ch.get('msg.bound', { noAck: true });
    assert.ok(m);
    assert.deepEqual([...m.content], [0, 1, 2, 255]);
    assert.equal(m.fields.routingKey, 'orders.new');
    assert.equal(m.properties.headers?.kind, 'order');
    const unroutable = await publish('msg.topic', { properties: {}, routing_key: 'nobody.listens', payload: 'x', payload_encoding: 'string' });
    assert.deepEqual(unroutable.body, { routed: false });
  });

  test('get with ack_requeue_true leaves messages in place marked redelivered; base64 and truncate shape the payload', async () => {
    await ch.assertQueue('msg.peek', { durable: false });
    ch.sendToQueue('msg.peek', Buffer.from([0xff, 0x00, 0x41]));
    ch.sendToQueue('msg.peek', Buffer.from('a fairly long text payload'));
    await ch.checkQueue('msg.peek');
    const first = await getMessages('msg.peek', { count: 2, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 6 });
    assert.equal(first.body.length, 2);
    assert.deepEqual([first.body[0].payload, first.body[0].payload_encoding], [Buffer.from([0xff, 0x00, 0x41]).toString('base64'), 'base64']);
    assert.deepEqual([first.body[1].payload, first.body[1].payload_encoding, first.body[1].payload_bytes], ['a fair', 'string', 26]);
    assert.deepEqual(
      first.body.map((m: any) => m.message_count),
      [1, 0],
    );
    const again = await getMessages('msg.peek', { count: 1, ackmode: 'reject_requeue_true', encoding: 'base64' });
    assert.equal(again.body[0].redelivered, true);
    assert.equal(again.body[0].payload_encoding, 'base64');
    const q = await get(broker, '/api/queues/%2F/msg.peek');
    assert.equal(q.messages, 2);
    assert.equal(q.message_stats.redeliver, 1);
  });

  test("get with reject_requeue_false dead-letters the message to the queue's dead-letter exchange", async () => {
    await ch.assertExchange('msg.dlx', 'fanout', { durable: false });
    await ch.assertQueue('msg.dead', { durable: false });
    await ch.bindQueue('msg.dead', 'msg.dlx', '');
    await ch.assertQueue('msg.live', { durable: false, arguments: { 'x-dead-letter-exchange': 'msg.dlx' } });
    ch.sendToQueue('msg.live', Buffer.from('doomed'));
    await ch.checkQueue('msg.live');
    const got = await getMessages('msg.live', { count: 1, ackmode: 'reject_requeue_false' });
    assert.equal(got.body[0].payload, 'doomed');
    const dead = await getMessages('msg.dead', { count: 1, ackmode: 'ack_requeue_false' });
    assert.equal(dead.body[0].payload, 'doomed');
    assert.equal(dead.body[0].properties.headers['x-first-death-reason'], 'rejected');
  });

  test('purging a queue over HTTP removes its ready messages', async () => {
    await ch.assertQueue('msg.purge', { durable: false });
    for (let i = 0; i < 7; i++) ch.sendToQueue('msg.purge', Buffer.from(String(i)));
    assert.equal((await ch.checkQueue('msg.purge')).messageCount, 7);
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/msg.purge/contents')).status, 204);
    assert.equal((await ch.checkQueue('msg.purge')).messageCount, 0);
    assert.equal((await get(broker, '/api/queues/%2F/msg.purge')).messages, 0);
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/no-such-queue/contents')).status, 404);
  });

  test('bad publish and get requests are 400 or 404 with a reason', async () => {
    await ch.assertQueue('msg.bad', { durable: false });
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      [
        'POST',
        '/api/exchanges/%2F/no-such-exchange/publish',
        { properties: {}, routing_key: 'k', payload: 'x', payload_encoding: 'string' },
        404,
        /no exchange/,
      ],
      ['POST', '/api/exchanges/%2F/amq.default/publish', { properties: {}, routing_key: 'k', payload: 'x' }, 400, /payload_encoding/],
      ['POST', '/api/exchanges/%2F/amq.default/publish', { properties: {}, routing_key: 'k', payload: '***', payload_encoding: 'base64' }, 400, /base64/],
      [
        'POST',
        '/api/exchanges/%2F/amq.default/publish',
        { properties: { delivery_mode: 'yes' }, routing_key: 'k', payload: 'x', payload_encoding: 'string' },
        400,
        /delivery_mode/,
      ],
      [
        'POST',
        '/api/exchanges/%2F/amq.default/publish',
        { properties: { colour: 'red' }, routing_key: 'k', payload: 'x', payload_encoding: 'string' },
        400,
        /colour/,
      ],
      [
        'POST',
        '/api/exchanges/%2F/amq.default/publish',
        { properties: { user_id: 'someone-else' }, routing_key: 'k', payload: 'x', payload_encoding: 'string' },
        400,
        /user_id/,
      ],
      [
        'POST',
        '/api/exchanges/no-such-vhost/amq.default/publish',
        { properties: {}, routing_key: 'k', payload: 'x', payload_encoding: 'string' },
        404,
        /vhost/,
      ],
      ['POST', '/api/queues/%2F/msg.bad/get', { count: 1, ackmode: 'sometimes' }, 400, /ackmode/],
      ['POST', '/api/queues/%2F/msg.bad/get', { ackmode: 'ack_requeue_true' }, 400, /count/],
      ['POST', '/api/queues/%2F/msg.bad/get', { count: 1, ackmode: 'ack_requeue_true', encoding: 'hex' }, 400, /encoding/],
      ['POST', '/api/queues/%2F/no-such-queue/get', { count: 1, ackmode: 'ack_requeue_true' }, 404, /no queue/],
    ];
    for (const [method, path, body, status, reason] of cases) {
      const r = await api(broker, method, path, { body });
      assert.equal(r.status, status, `${path} ${JSON.stringify(body)}`);
      assert.match(r.body.reason, reason);
      assert.equal(typeof r.body.error, 'string');
    }
    const notJson = await api(broker, 'POST', '/api/queues/%2F/msg.bad/get', { raw: '{nope' });
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.reason, /not valid JSON/);
  });
});
