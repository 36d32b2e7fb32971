/**
 * Exchanges, queues and bindings declared, listed and deleted over HTTP, and the topology they make
 * routing real amqplib publishes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChannelModel, Channel } from 'amqplib';
import type { TestBroker } from '../helpers/broker.js';
import { closeAmqplib, openAmqplibChannel } from '../helpers/amqplib.js';
import { api, get } from './helpers.js';

describe('management API: exchanges, queues and bindings', () => {
  let broker: TestBroker;
  let conn: ChannelModel;
  let ch: Channel;

  before(async () => ({ broker, conn, ch } = await openAmqplibChannel()));
  after(() => closeAmqplib(conn, broker));

  test('an exchange and a queue declared over HTTP and bound over HTTP route an amqplib publish', async () => {
    assert.equal(
      (await api(broker, 'PUT', '/api/exchanges/%2F/topo.orders', { body: { type: 'topic', durable: true, arguments: { 'alternate-exchange': 'topo.ae' } } }))
        .status,
      201,
    );
    assert.equal(
      (await api(broker, 'PUT', '/api/exchanges/%2F/topo.orders', { body: { type: 'topic', durable: true, arguments: { 'alternate-exchange': 'topo.ae' } } }))
        .status,
      204,
      'an equivalent re-declare',
    );
    assert.equal((await api(broker, 'PUT', '/api/queues/%2F/topo.eu', { body: { durable: true, arguments: { 'x-max-length': 1000 } } })).status, 201);
    assert.equal(
      (await api(broker, 'PUT', '/api/queues/%2F/topo.eu', { body: { durable: true, arguments: { 'x-max-length': 1000 } } })).status,
      204,
      'an equivalent re-declare',
    );
    assert.equal((await api(broker, 'PUT', '/api/queues/%2F/topo.defaults', {})).status, 201, 'no body: the defaults');
    const defaults = await get(broker, '/api/queues/%2F/topo.defaults');
    assert.deepEqual([defaults.durable, defaults.auto_delete, defaults.exclusive, defaults.arguments], [true, false, false, {}]);
    const bound = await api(broker, 'POST', '/api/bindings/%2F/e/topo.orders/q/topo.eu', { body: { routing_key: 'orders.eu.#', arguments: {} } });
    assert.equal(bound.status, 201);
    assert.equal(bound.headers.get('location'), 'bindings/%2F/e/topo.orders/q/topo.eu/orders.eu.%2523');

    const e = await get(broker, '/api/exchanges/%2F/topo.orders');
    const { message_stats: stats, ...shape } = e;
    assert.deepEqual(shape, {
      name: 'topo.orders',
      vhost: '/',
      type: 'topic',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: { 'alternate-exchange': 'topo.ae' },
      incoming: [],
      outgoing: [],
    });
    assert.deepEqual([stats.publish_in, stats.publish_out], [0, 0]);
    const q = await get(broker, '/api/queues/%2F/topo.eu');
    assert.deepEqual(q.arguments, { 'x-max-length': 1000 });
    assert.equal(q.durable, true);

    ch.publish('topo.orders', 'orders.eu.de', Buffer.from('routed'));
    ch.publish('topo.orders', 'orders.us.ny', Buffer.from('not routed'));
    const m = await ch.get('topo.eu', { noAck: true });
    assert.ok(m);
    assert.equal(m.content.toString(), 'routed');
    assert.equal((await ch.checkQueue('topo.eu')).messageCount, 0);
  });

  test("bindings are listed per vhost, per pair and per end, the default exchange's included, and deleted by properties key", async () => {
    await api(broker, 'PUT', '/api/exchanges/%2F/topo.headers', { body: { type: 'headers', durable: false } });
    await api(broker, 'PUT', '/api/queues/%2F/topo.h', { body: { durable: false } });
    await api(broker, 'POST', '/api/bindings/%2F/e/topo.headers/q/topo.h', { body: { routing_key: '', arguments: { 'x-match': 'any', kind: 'a' } } });
    await api(broker, 'POST', '/api/bindings/%2F/e/topo.headers/q/topo.h', { body: { routing_key: '', arguments: { 'x-match': 'any', kind: 'b' } } });
    const pair = await get(broker, '/api/bindings/%2F/e/topo.headers/q/topo.h');
    assert.equal(pair.length, 2);
    assert.notEqual(pair[0].properties_key, pair[1].properties_key, 'arguments make the key');
    assert.deepEqual(pair[0].arguments, { 'x-match': 'any', kind: 'a' });
    const all = await get(broker, '/api/bindings/%2F');
    assert.ok(
      all.some((b: any) => b.source === '' && b.destination === 'topo.h' && b.routing_key === 'topo.h'),
      'the implicit default-exchange binding',
    );
    assert.ok((await get(broker, '/api/bindings')).length >= all.length);
    assert.equal((await get(broker, '/api/queues/%2F/topo.h/bindings')).length, 3);
    assert.equal((await get(broker, '/api/exchanges/%2F/topo.headers/bindings/source')).length, 2);
    const key = pair.find((b: any) => b.arguments.kind === 'a').properties_key;
    assert.deepEqual((await get(broker, `/api/bindings/%2F/e/topo.headers/q/topo.h/${encodeURIComponent(key)}`)).arguments.kind, 'a');
    assert.equal((await api(broker, 'DELETE', `/api/bindings/%2F/e/topo.headers/q/topo.h/${encodeURIComponent(key)}`)).status, 204);
    assert.equal((await api(broker, 'DELETE', `/api/bindings/%2F/e/topo.headers/q/topo.h/${encodeURIComponent(key)}`)).status, 404);
    assert.deepEqual(
      (await get(broker, '/api/bindings/%2F/e/topo.headers/q/topo.h')).map((b: any) => b.arguments.kind),
      ['b'],
    );
  });

  test('exchange-to-exchange bindings are made and removed over HTTP', async () => {
    await api(broker, 'PUT', '/api/exchanges/%2F/topo.front', { body: { type: 'fanout', durable: false } });
    await api(broker, 'PUT', '/api/exchanges/%2F/topo.back', { body: { type: 'direct', durable: false } });
    await api(broker, 'PUT', '/api/queues/%2F/topo.back.q', { body: { durable: false } });
    await api(broker, 'POST', '/api/bindings/%2F/e/topo.back/q/topo.back.q', { body: { routing_key: 'k' } });
    assert.equal((await api(broker, 'POST', '/api/bindings/%2F/e/topo.front/e/topo.back', { body: { routing_key: 'ignored' } })).status, 201);
    const e2e = await get(broker, '/api/bindings/%2F/e/topo.front/e/topo.back');
    assert.equal(e2e[0].destination_type, 'exchange');
    assert.equal((await get(broker, '/api/exchanges/%2F/topo.back/bindings/destination')).length, 1);
    const published = await api(broker, 'POST', '/api/exchanges/%2F/topo.front/publish', {
      body: { properties: {}, routing_key: 'k', payload: 'via e2e', payload_encoding: 'string' },
    });
    assert.deepEqual(published.body, { routed: true });
    assert.equal((await api(broker, 'DELETE', `/api/bindings/%2F/e/topo.front/e/topo.back/${e2e[0].properties_key}`)).status, 204);
    assert.deepEqual(
      (
        await api(broker, 'POST', '/api/exchanges/%2F/topo.front/publish', {
          body: { properties: {}, routing_key: 'k', payload: 'x', payload_encoding: 'string' },
        })
      ).body,
      { routed: false },
    );
  });

  test('exchanges and queues are deleted over HTTP, with if-unused and if-empty honoured', async () => {
    await api(broker, 'PUT', '/api/exchanges/%2F/topo.del', { body: { type: 'direct', durable: false } });
    await api(broker, 'PUT', '/api/queues/%2F/topo.del.q', { body: { durable: false } });
    await api(broker, 'POST', '/api/bindings/%2F/e/topo.del/q/topo.del.q', { body: { routing_key: 'x' } });
    assert.equal((await api(broker, 'DELETE', '/api/exchanges/%2F/topo.del?if-unused=true')).status, 400);
    assert.equal((await api(broker, 'DELETE', '/api/exchanges/%2F/topo.del')).status, 204);
    assert.equal((await api(broker, 'GET', '/api/exchanges/%2F/topo.del')).status, 404);
    assert.equal((await api(broker, 'DELETE', '/api/exchanges/%2F/topo.del')).status, 404);
    ch.sendToQueue('topo.del.q', Buffer.from('x'));
    await ch.checkQueue('topo.del.q');
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/topo.del.q?if-empty=true')).status, 400);
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/topo.del.q')).status, 204);
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/topo.del.q')).status, 404);
  });

  test('the default exchange is amq.default in paths and listed with the amq.* exchanges', async () => {
    const list = await get(broker, '/api/exchanges/%2F');
    const names = list.map((e: any) => e.name);
    for (const n of ['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers']) assert.ok(names.includes(n), `lists '${n}'`);
    assert.equal((await get(broker, '/api/exchanges/%2F/amq.default')).name, '');
    assert.equal((await api(broker, 'DELETE', '/api/exchanges/%2F/amq.direct')).status, 403);
  });

  test("a queue's implicit binding from the default exchange is read like any other binding, and cannot be deleted", async () => {
    assert.equal((await api(broker, 'PUT', '/api/queues/%2F/topo.implicit', { body: { durable: false } })).status, 201);
    const implicit = {
      source: '',
      vhost: '/',
      destination: 'topo.implicit',
      destination_type: 'queue',
      routing_key: 'topo.implicit',
      arguments: {},
      properties_key: 'topo.implicit',
    };
    assert.deepEqual(await get(broker, '/api/bindings/%2F/e/amq.default/q/topo.implicit'), [implicit]);
    assert.deepEqual(await get(broker, '/api/bindings/%2F/e/amq.default/q/topo.implicit/topo.implicit'), implicit);
    assert.equal((await api(broker, 'GET', '/api/bindings/%2F/e/amq.default/q/topo.implicit/other')).status, 404);
    assert.equal((await api(broker, 'DELETE', '/api/bindings/%2F/e/amq.default/q/topo.implicit/other')).status, 404);
    const refused = await api(broker, 'DELETE', '/api/bindings/%2F/e/amq.default/q/topo.implicit/topo.implicit');
    assert.equal(refused.status, 403);
    assert.match(refused.body.reason, /default exchange/);
    assert.deepEqual(await get(broker, '/api/bindings/%2F/e/amq.default/q/topo.implicit'), [implicit], 'still there');
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/topo.implicit')).status, 204);
  });

  test("bad declarations are 400 with the broker's reason; unknown vhosts and names are 404", async () => {
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['PUT', '/api/exchanges/%2F/topo.bad', { type: 'nonsense' }, 400, /invalid exchange type/],
      ['PUT', '/api/exchanges/%2F/topo.bad', {}, 400, /'type' is required/],
      ['PUT', '/api/exchanges/%2F/topo.bad', { type: 'direct', durable: 'maybe' }, 400, /durable/],
      ['PUT', '/api/exchanges/%2F/amq.reserved', { type: 'direct' }, 403, /amq\./],
      ['PUT', '/api/queues/%2F/topo.eu', { durable: false }, 400, /inequivalent arg 'durable'/],
      ['PUT', '/api/queues/%2F/topo.x', { arguments: { 'x-max-length': 'lots' } }, 400, /x-max-length/],
      ['PUT', '/api/queues/%2F/topo.x', { arguments: [1, 2] }, 400, /arguments must be a JSON object/],
      ['PUT', '/api/queues/%2F/topo.x', { exclusive: true }, 400, /exclusive/],
      ['PUT', '/api/queues/no-such-vhost/topo.x', { durable: false }, 404, /vhost/],
      ['POST', '/api/bindings/%2F/e/no-such-exchange/q/topo.eu', { routing_key: 'x' }, 404, /no exchange/],
      ['POST', '/api/bindings/%2F/e/topo.orders/q/no-such-queue', { routing_key: 'x' }, 404, /no queue/],
      ['POST', '/api/bindings/%2F/e/amq.default/q/topo.eu', { routing_key: 'x' }, 403, /default exchange/],
    ];
    for (const [method, path, body, status, reason] of cases) {
      const r = await api(broker, method, path, { body });
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.match(r.body.reason, reason);
    }
    assert.equal((await api(broker, 'GET', '/api/queues/%2F/topo.x')).status, 404, 'nothing was declared');
  });
});
