/**
 * Connections, channels and consumers of real amqplib clients as the management API lists them, and
 * closing a connection over HTTP (320 CONNECTION_FORCED with the X-Reason text, as RabbitMQ).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import type { UserConfig } from '../../src/config/config.js';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';
import type { AmqpError } from '../helpers/amqplib.js';
import { api, get } from './helpers.js';

const GUEST: UserConfig = { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] };
const APP: UserConfig = { name: 'app', password: 'app-pw', vhosts: ['/'], loopbackOnly: false, tags: ['management'] };
const WATCHER: UserConfig = { name: 'watcher', password: 'watcher-pw', vhosts: ['/'], loopbackOnly: false, tags: ['monitoring'] };

/**
 * resolve with the error a connection closes with: amqplib reports 320 CONNECTION_FORCED on 'close' (it is
 * not an 'error' to it, as an operator closing a connection is not the client's fault)
 */
function closedWith(conn: amqp.ChannelModel): Promise<AmqpError> {
  conn.on('error', () => undefined);
  return new Promise((resolve) => conn.once('close', (err?: AmqpError) => resolve(err ?? new Error('closed without an error'))));
}

describe('management API: connections, channels and consumers', () => {
  let broker: TestBroker;

  before(async () => {
    broker = await startTestBroker({ users: [GUEST, APP, WATCHER] });
  });
  after(async () => {
    await broker.stop();
  });

  function url(user: UserConfig): string {
    return `amqp://${user.name}:${user.password}@127.0.0.1:${broker.amqpPort}`;
  }

  test('an amqplib connection is listed with its user, vhost, peer, client properties and channels', async () => {
    const conn = await amqp.connect(url(GUEST), { clientProperties: { connection_name: 'listing-test' } });
    try {
      const confirm = await conn.createConfirmChannel();
      const plain = await conn.createChannel();
      await plain.prefetch(7);
      await plain.assertQueue('conn.q', { durable: false });
      await plain.consume('conn.q', () => undefined, { consumerTag: 'conn-consumer', arguments: { 'x-priority': 5 } });
      const mine = (await get(broker, '/api/connections')).find((c: any) => c.client_properties.connection_name === 'listing-test');
      assert.ok(mine, 'the connection is listed');
      assert.equal(mine.user, 'guest');
      assert.equal(mine.vhost, '/');
      assert.equal(mine.protocol, 'AMQP 0-9-1');
      assert.equal(mine.state, 'running');
      assert.equal(mine.peer_host, '127.0.0.1');
      assert.equal(mine.port, broker.amqpPort);
      assert.equal(mine.channels, 2);
      assert.equal(mine.client_properties.product, 'amqplib');
      assert.equal(mine.auth_mechanism, 'PLAIN');
      assert.ok(mine.recv_oct > 0 && mine.send_oct > 0);
      assert.equal(mine.name, `127.0.0.1:${mine.peer_port} -> 127.0.0.1:${broker.amqpPort}`);
      const one = await get(broker, `/api/connections/${encodeURIComponent(mine.name)}`);
      assert.deepEqual([one.name, one.user, one.vhost, one.channels, one.client_properties], [mine.name, 'guest', '/', 2, mine.client_properties]);

      const channels = await get(broker, `/api/connections/${encodeURIComponent(mine.name)}/channels`);
      assert.equal(channels.length, 2);
      const c1 = channels.find((c: any) => c.confirm === true);
      const c2 = channels.find((c: any) => c.confirm === false);
      assert.equal(c1.connection_details.name, mine.name);
      assert.equal(c2.prefetch_count, 7);
      assert.equal(c2.consumer_count, 1);
      assert.equal(c2.name, `${mine.name} (${c2.number})`);
      assert.deepEqual(await get(broker, `/api/channels/${encodeURIComponent(c2.name)}`), c2);
      assert.ok((await get(broker, '/api/channels')).some((c: any) => c.name === c1.name));

      const consumers = (await get(broker, '/api/consumers/%2F')).filter((c: any) => c.consumer_tag === 'conn-consumer');
      assert.equal(consumers.length, 1);
      assert.deepEqual(consumers[0].queue, { name: 'conn.q', vhost: '/' });
      assert.equal(consumers[0].ack_required, true);
      assert.equal(consumers[0].prefetch_count, 7);
      assert.deepEqual(consumers[0].arguments, { 'x-priority': 5 });
      assert.equal(consumers[0].channel_details.connection_name, mine.name);
      assert.equal(consumers[0].channel_details.number, c2.number);
      assert.equal(consumers[0].active, true);
      await confirm.close();
    } finally {
      await conn.close();
    }
    await waitFor(() => broker.core.clients.size === 0, 10_000, 'the connection to go');
    assert.ok(!(await get(broker, '/api/connections')).some((c: any) => c.client_properties.connection_name === 'listing-test'));
  });

  test('DELETE on a connection closes the amqplib connection with 320 CONNECTION_FORCED and the X-Reason text', async () => {
    const conn = await amqp.connect(url(GUEST), { clientProperties: { connection_name: 'doomed' } });
    const closing = closedWith(conn);
    const listed = (await get(broker, '/api/connections')).find((c: any) => c.client_properties.connection_name === 'doomed');
    const r = await api(broker, 'DELETE', `/api/connections/${encodeURIComponent(listed.name)}`, { headers: { 'X-Reason': 'maintenance window' } });
    assert.equal(r.status, 204);
    const err = await closing;
    assert.equal(err.code, 320);
    assert.match(err.message, /CONNECTION_FORCED - maintenance window/);
    await waitFor(() => broker.core.clients.size === 0, 10_000, 'the connection to go');
    assert.equal((await api(broker, 'GET', `/api/connections/${encodeURIComponent(listed.name)}`)).status, 404);
    assert.equal((await api(broker, 'DELETE', `/api/connections/${encodeURIComponent(listed.name)}`)).status, 404);
  });

  test('a management user sees and closes only its own connections; monitoring sees all; only administrator closes others', async () => {
    const guestConn = await amqp.connect(url(GUEST));
    const appConn = await amqp.connect(url(APP));
    try {
      const asApp = await get(broker, '/api/connections', ['app', 'app-pw']);
      assert.deepEqual(
        asApp.map((c: any) => c.user),
        ['app'],
      );
      const asWatcher = await get(broker, '/api/connections', ['watcher', 'watcher-pw']);
      assert.deepEqual(asWatcher.map((c: any) => c.user).sort(), ['app', 'guest']);
      const guestName = asWatcher.find((c: any) => c.user === 'guest').name;
      assert.equal(
        (await api(broker, 'DELETE', `/api/connections/${encodeURIComponent(guestName)}`, { auth: ['app', 'app-pw'] })).status,
        404,
        'invisible to app',
      );
      const refused = await api(broker, 'DELETE', `/api/connections/${encodeURIComponent(guestName)}`, { auth: ['watcher', 'watcher-pw'] });
      assert.equal(refused.status, 403);
      assert.match(refused.body.reason, /administrator/);
      const own = asApp[0].name;
      const closed = closedWith(appConn);
      assert.equal((await api(broker, 'DELETE', `/api/connections/${encodeURIComponent(own)}`, { auth: ['app', 'app-pw'] })).status, 204);
      assert.equal((await closed).code, 320);
    } finally {
      await guestConn.close();
    }
  });

  test('the overview counts connections, channels and consumers, and churn counters follow them', async () => {
    const before = await get(broker, '/api/overview');
    const conn = await amqp.connect(url(GUEST));
    const ch = await conn.createChannel();
    await ch.assertQueue('churn.q', { durable: false });
    await ch.consume('churn.q', () => undefined);
    const during = await get(broker, '/api/overview');
    assert.equal(during.object_totals.connections, before.object_totals.connections + 1);
    assert.equal(during.object_totals.channels, before.object_totals.channels + 1);
    assert.equal(during.object_totals.consumers, before.object_totals.consumers + 1);
    assert.equal(during.churn_rates.connection_created, before.churn_rates.connection_created + 1);
    assert.equal(during.churn_rates.channel_created, before.churn_rates.channel_created + 1);
    await conn.close();
    await waitFor(() => broker.core.clients.size === 0, 10_000, 'the connection to go');
    const after = await get(broker, '/api/overview');
    assert.equal(after.churn_rates.connection_closed, before.churn_rates.connection_closed + 1);
    assert.equal(after.churn_rates.channel_closed, before.churn_rates.channel_closed + 1);
    assert.equal(after.object_totals.connections, before.object_totals.connections);
  });

  test("a connection's recv_oct_details and send_oct_details are its socket's byte rates over the last stats interval (AMQP and Kafka)", async () => {
    const conn = await amqp.connect(url(GUEST), { clientProperties: { connection_name: 'traffic-test' } });
    const kafka = new Kafka({ clientId: 'traffic-kafka-client', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('traffic.q', { durable: false });
      const find = async () => {
        const list = await get(broker, '/api/connections');
        return {
          amqp: list.find((c: any) => c.client_properties.connection_name === 'traffic-test'),
          kafka: list.find((c: any) => c.protocol === 'Kafka' && c.client_properties.client_id === 'traffic-kafka-client'),
        };
      };
      broker.core.stats.sample();
      const body = Buffer.alloc(10_000, 'x');
      for (let i = 0; i < 20; i++) ch.sendToQueue('traffic.q', body);
      await ch.checkQueue('traffic.q'); // a round trip: every publish has arrived
      for (let i = 0; i < 5; i++) await admin.listTopics();
      // at least a few ms apart, so the rate is over a non-zero interval
      await new Promise((r) => setTimeout(r, 20));
      broker.core.stats.sample();
      const { amqp: a, kafka: k } = await find();
      assert.ok(a.recv_oct >= 200_000, `recv_oct ${a.recv_oct}`);
      assert.ok(a.recv_oct_details.rate > 0, `AMQP recv rate ${JSON.stringify(a.recv_oct_details)}`);
      assert.ok(a.send_oct_details.rate > 0, `AMQP send rate ${JSON.stringify(a.send_oct_details)}`);
      assert.ok(k.recv_oct_details.rate > 0, `Kafka recv rate ${JSON.stringify(k.recv_oct_details)}`);
      assert.ok(k.send_oct_details.rate > 0, `Kafka send rate ${JSON.stringify(k.send_oct_details)}`);
      // nothing moves between the next two samples: the rates fall to 0
      broker.core.stats.sample();
      await new Promise((r) => setTimeout(r, 20));
      broker.core.stats.sample();
      const quiet = await find();
      assert.equal(quiet.amqp.recv_oct_details.rate, 0);
      assert.equal(quiet.kafka.recv_oct_details.rate, 0);
    } finally {
      await admin.disconnect();
      await conn.close();
    }
  });

  test('a Kafka client connection is listed with protocol Kafka and its client id, and DELETE closes it', async () => {
    const kafka = new Kafka({ clientId: 'listed-kafka-client', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.listTopics();
      const mine = (list: any[]) => list.filter((c) => c.protocol === 'Kafka' && c.client_properties.client_id === 'listed-kafka-client');
      const listed = mine(await get(broker, '/api/connections'));
      assert.ok(listed.length >= 1, 'the kafkajs admin connection is listed');
      const c = listed[0];
      // a loopback client without SASL is served as the guest, in the Kafka vhost
      assert.equal(c.user, 'guest');
      assert.equal(c.vhost, '/');
      assert.equal(c.channels, 0);
      assert.equal(c.port, broker.kafkaPort);
      assert.ok(c.recv_oct > 0 && c.send_oct > 0);
      assert.equal(typeof c.recv_oct_details.rate, 'number');
      assert.equal(typeof c.send_oct_details.rate, 'number');
      // a management-tagged user sees only its own connections: not the guest's Kafka client
      assert.equal(mine(await get(broker, '/api/connections', ['app', 'app-pw'])).length, 0);
      for (const each of listed) assert.equal((await api(broker, 'DELETE', `/api/connections/${encodeURIComponent(each.name)}`)).status, 204);
      const names = new Set(listed.map((l: any) => l.name));
      const deadline = Date.now() + 10_000;
      while ((await get(broker, '/api/connections')).some((x: any) => names.has(x.name))) {
        assert.ok(Date.now() < deadline, 'the closed connections are still listed');
        await new Promise((r) => setTimeout(r, 20));
      }
      // the client reconnects on its next request
      assert.ok(Array.isArray(await admin.listTopics()));
    } finally {
      await admin.disconnect();
    }
  });
});
