/**
 * Definitions export and import (RabbitMQ's format): an export imported into a fresh broker gives the same
 * topology, a RabbitMQ export imports with working passwords, and bad documents are refused naming the entry.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { api, get } from './helpers.js';

/** the parts of an export that describe topology, in a stable order for comparison */
function topology(defs: any): Record<string, unknown> {
  const sorted = (rows: any[]) => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return {
    vhosts: sorted(defs.vhosts.map((v: any) => v.name)),
    exchanges: sorted(defs.exchanges),
    queues: sorted(defs.queues),
    bindings: sorted(defs.bindings),
    policies: sorted(defs.policies),
    permissions: sorted(defs.permissions),
    users: sorted(defs.users.map((u: any) => ({ name: u.name, tags: u.tags, hashing_algorithm: u.hashing_algorithm }))),
  };
}

describe('management API: definitions', () => {
  let source: TestBroker;
  let target: TestBroker;

  before(async () => {
    source = await startTestBroker();
    target = await startTestBroker();
  });
  after(async () => {
    await source.stop();
    await target.stop();
  });

  test('an export imported into a fresh broker gives the same vhosts, exchanges, queues, bindings, policies and users', async () => {
    // build a topology through AMQP and the API
    await api(source, 'PUT', '/api/vhosts/orders');
    await api(source, 'PUT', '/api/users/ops', { body: { password: 'ops-pw', tags: ['administrator'] } });
    await api(source, 'PUT', '/api/permissions/orders/ops', { body: { configure: '.*', write: '.*', read: '^orders\\.' } });
    const conn = await amqp.connect(source.url);
    const ch = await conn.createChannel();
    await ch.assertExchange('defs.in', 'topic', { durable: true, arguments: { 'alternate-exchange': 'defs.ae' } });
    await ch.assertExchange('defs.ae', 'fanout', { durable: true });
    await ch.assertExchange('defs.e2e', 'headers', { durable: false });
    await ch.assertQueue('defs.q1', { durable: true, arguments: { 'x-max-length': 500, 'x-dead-letter-exchange': 'defs.ae' } });
    await ch.assertQueue('defs.q2', { durable: false });
    await ch.assertQueue('defs.exclusive', { exclusive: true });
    await ch.bindQueue('defs.q1', 'defs.in', 'a.#');
    await ch.bindQueue('defs.q2', 'defs.ae', '');
    await ch.bindExchange('defs.e2e', 'defs.in', 'b.*');
    await ch.bindQueue('defs.exclusive', 'defs.in', 'x');
    await api(source, 'PUT', '/api/policies/%2F/defs-limit', {
      body: { pattern: '^defs\\.', definition: { 'max-length': 1000 }, priority: 1, 'apply-to': 'queues' },
    });
    await api(source, 'PUT', '/api/queues/orders/orders.new', { body: { durable: true, arguments: { 'x-queue-type': 'quorum' } } });

    const exported = await get(source, '/api/definitions');
    assert.equal(exported.product_name, 'Postbox');
    assert.equal(typeof exported.rabbitmq_version, 'string');
    assert.ok(!exported.queues.some((q: any) => q.name === 'defs.exclusive'), 'exclusive queues are not exported');
    assert.ok(!exported.bindings.some((b: any) => b.destination === 'defs.exclusive'));
    assert.ok(!exported.exchanges.some((e: any) => e.name === '' || e.name.startsWith('amq.')));
    assert.deepEqual(
      exported.queues.find((q: any) => q.name === 'defs.q1'),
      {
        name: 'defs.q1',
        vhost: '/',
        durable: true,
        auto_delete: false,
        arguments: { 'x-max-length': 500, 'x-dead-letter-exchange': 'defs.ae' },
      },
    );
    assert.deepEqual(
      exported.bindings.find((b: any) => b.destination === 'defs.e2e'),
      {
        source: 'defs.in',
        vhost: '/',
        destination: 'defs.e2e',
        destination_type: 'exchange',
        routing_key: 'b.*',
        arguments: {},
      },
    );
    await conn.close();

    const imported = await api(target, 'POST', '/api/definitions', { body: exported });
    assert.equal(imported.status, 204, JSON.stringify(imported.body));
    const reexported = await get(target, '/api/definitions');
    assert.deepEqual(topology(reexported), topology(exported));
    // the imported topology routes, and the imported user logs in with its password
    const published = await api(target, 'POST', '/api/exchanges/%2F/defs.in/publish', {
      body: { properties: {}, routing_key: 'a.b', payload: 'hi', payload_encoding: 'string' },
    });
    assert.deepEqual(published.body, { routed: true });
    const targetConn = await amqp.connect(`amqp://ops:ops-pw@127.0.0.1:${target.amqpPort}/orders`);
    await targetConn.close();
    assert.equal((await get(target, '/api/queues/orders/orders.new')).type, 'quorum');
    assert.equal((await get(target, '/api/queues/%2F/defs.q1')).policy, 'defs-limit');
  });

  test('Kafka topics (partitions, explicit configs) and alert rules are exported and imported too', async () => {
    const kafka = new Kafka({ clientId: 'defs-admin', brokers: [`127.0.0.1:${source.kafkaPort}`], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'defs.events', numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
    } finally {
      await admin.disconnect();
    }
    const rule = { kind: 'queue_depth', queue: '^defs\\.', vhost: '/', threshold: 100, for_ms: 5000 };
    assert.equal((await api(source, 'PUT', '/api/alert-rules/defs-depth', { body: rule })).status, 201);
    const exported = await get(source, '/api/definitions');
    assert.deepEqual(
      exported.topics.find((t: any) => t.name === 'defs.events'),
      { name: 'defs.events', partitions: 3, configs: { 'retention.ms': '3600000' } },
    );
    assert.deepEqual(
      exported.alert_rules.find((r: any) => r.name === 'defs-depth'),
      { name: 'defs-depth', ...rule },
    );

    const imported = await api(target, 'POST', '/api/definitions', { body: exported });
    assert.equal(imported.status, 204, JSON.stringify(imported.body));
    const topic = await get(target, '/api/streams/topics/defs.events');
    assert.deepEqual([topic.partitions, topic.configs], [3, { 'retention.ms': '3600000' }]);
    const targetRules = await get(target, '/api/alert-rules');
    assert.deepEqual(
      targetRules.find((r: any) => r.name === 'defs-depth'),
      { name: 'defs-depth', ...rule },
    );
    const reexported = await get(target, '/api/definitions');
    assert.deepEqual(
      reexported.topics.find((t: any) => t.name === 'defs.events'),
      { name: 'defs.events', partitions: 3, configs: { 'retention.ms': '3600000' } },
    );
    // a bad topic entry is a 400 naming it
    const bad = await api(target, 'POST', '/api/definitions', { body: { topics: [{ name: 'defs.bad', partitions: 0 }] } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.reason, /topics\[0\] 'defs.bad'/);
  });

  test('importing the same document twice changes nothing the second time', async () => {
    const before = await get(target, '/api/definitions');
    assert.equal((await api(target, 'POST', '/api/definitions', { body: before })).status, 204);
    assert.deepEqual(topology(await get(target, '/api/definitions')), topology(before));
  });

  test('a RabbitMQ export imports with its password hashes working, and unknown sections are ignored', async () => {
    const rabbit = {
      rabbit_version: '3.10.8',
      rabbitmq_version: '3.10.8',
      product_name: 'RabbitMQ',
      product_version: '3.10.8',
      // password "guest" hashed by RabbitMQ 3.10 (rabbit_password_hashing_sha256)
      users: [
        {
          name: 'rabbit-user',
          password_hash: 'nCHnMopkaI92y8+Lfbpc52XidhbE6IwKaj8kUVQ8JGMdj6sN',
          hashing_algorithm: 'rabbit_password_hashing_sha256',
          tags: ['management'],
          limits: {},
        },
      ],
      vhosts: [{ name: 'from-rabbit' }],
      permissions: [{ user: 'rabbit-user', vhost: 'from-rabbit', configure: '.*', write: '.*', read: '.*' }],
      topic_permissions: [],
      parameters: [],
      global_parameters: [{ name: 'internal_cluster_id', value: 'rabbitmq-cluster-id-x' }],
      policies: [],
      queues: [{ name: 'pq', vhost: 'from-rabbit', durable: true, auto_delete: false, arguments: { 'x-max-length': 1000 } }],
      exchanges: [{ name: 'px', vhost: 'from-rabbit', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
      bindings: [{ source: 'px', vhost: 'from-rabbit', destination: 'pq', destination_type: 'queue', routing_key: 'a.#', arguments: { foo: 'bar' } }],
    };
    assert.equal((await api(target, 'POST', '/api/definitions', { body: rabbit })).status, 204);
    const conn = await amqp.connect(`amqp://rabbit-user:guest@127.0.0.1:${target.amqpPort}/from-rabbit`);
    const ch = await conn.createChannel();
    ch.publish('px', 'a.b', Buffer.from('routed by an imported binding'));
    assert.equal((await ch.checkQueue('pq')).messageCount, 1);
    await conn.close();
    assert.deepEqual((await get(target, '/api/bindings/from-rabbit/e/px/q/pq'))[0].arguments, { foo: 'bar' });
  });

  test("per-vhost export and import move one vhost's topology into another vhost", async () => {
    const one = await get(source, '/api/definitions/%2F');
    assert.ok(one.queues.some((q: any) => q.name === 'defs.q1' && q.vhost === undefined));
    await api(target, 'PUT', '/api/vhosts/copy');
    assert.equal((await api(target, 'POST', '/api/definitions/copy', { body: one })).status, 204);
    assert.ok((await get(target, '/api/queues/copy')).some((q: any) => q.name === 'defs.q1'));
    assert.ok((await get(target, '/api/bindings/copy/e/defs.in/q/defs.q1')).length === 1);
  });

  test('a bad document is refused with a 400 naming the entry', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ queues: 'nope' }, /'queues' must be an array/],
      [{ queues: [42] }, /queues\[0\] must be an object/],
      [{ queues: [{ vhost: '/' }] }, /queues\[0\]: 'name' is required/],
      [{ queues: [{ name: 'q', vhost: 'nowhere' }] }, /queues\[0\]: no vhost 'nowhere'/],
      [{ exchanges: [{ name: 'x', vhost: '/', type: 'bogus' }] }, /exchanges\[0\] 'x': invalid exchange type/],
      [
        { bindings: [{ source: 'missing', vhost: '/', destination: 'defs.q1', destination_type: 'queue', routing_key: '' }] },
        /bindings\[0\].*no exchange 'missing'/,
      ],
      [{ users: [{ name: 'x', tags: [] }] }, /users\[0\]: 'password_hash' is required/],
      [[1, 2], /JSON object/],
    ];
    for (const [body, reason] of cases) {
      const r = await api(target, 'POST', '/api/definitions', { body });
      assert.ok(r.status === 400 || r.status === 404, `${JSON.stringify(body)} → ${r.status}`);
      assert.match(r.body.reason, reason);
    }
    assert.equal((await api(target, 'POST', '/api/definitions', { raw: '{oops' })).status, 400);
  });
});
