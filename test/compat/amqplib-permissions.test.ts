/**
 * RabbitMQ's per-resource permissions enforced on AMQP: a managed user's configure/write/read expressions
 * (set through the management API) decide which queues and exchanges it may declare, delete, bind, publish
 * to, consume from, get from and purge; anything else closes the channel with 403 ACCESS_REFUSED in
 * RabbitMQ's words, and the connection keeps working. The management API applies the same expressions to
 * what it does on the user's behalf (403 with the same text).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { type TestBroker } from '../helpers/broker.js';
import { closeAmqplib, expectChannelClose, openAmqplibChannel, readyCount, text } from '../helpers/amqplib.js';
import { api } from '../management/helpers.js';

const ACCESS_REFUSED = 403;

describe('amqplib: permissions (configure, write, read) are enforced per resource', () => {
  let broker: TestBroker;
  let conn: ChannelModel;
  let ch: Channel;
  let bob: ChannelModel;

  async function setPermissions(configure: string, write: string, read: string): Promise<void> {
    const r = await api(broker, 'PUT', '/api/permissions/%2F/bob', { body: { configure, write, read } });
    assert.ok(r.status === 201 || r.status === 204, `PUT permissions answered ${r.status}`);
  }

  before(async () => {
    ({ broker, conn, ch } = await openAmqplibChannel());
    assert.equal((await api(broker, 'PUT', '/api/users/bob', { body: { password: 'bob-pw', tags: 'management' } })).status, 201);
    await setPermissions('^bob\\.', '^(bob\\.|amq\\.default$)', '^bob\\.');
    // resources that are not bob's, made by guest (full permissions)
    await ch.assertQueue('alice.q', { durable: false });
    await ch.assertExchange('alice.x', 'fanout', { durable: false });
    await ch.assertExchange('bob.x', 'fanout', { durable: false });
    bob = await amqp.connect(`amqp://bob:bob-pw@127.0.0.1:${broker.amqpPort}`);
  });
  after(async () => {
    await bob.close();
    await closeAmqplib(conn, broker);
  });

  test('configure: declaring and deleting what the expression matches works, anything else is 403 in RabbitMQ words', async () => {
    const c = await bob.createChannel();
    await c.assertQueue('bob.q1', { durable: false });
    await c.assertExchange('bob.x1', 'direct', { durable: false });
    await c.deleteExchange('bob.x1');
    // a passive declare needs no permission
    await c.checkQueue('alice.q');
    const message = await expectChannelClose(c, ACCESS_REFUSED, () => c.assertQueue('alice.q2', { durable: false }));
    assert.match(message, /ACCESS_REFUSED - access to queue 'alice.q2' in vhost '\/' refused for user 'bob'/);
    const c2 = await bob.createChannel();
    await expectChannelClose(c2, ACCESS_REFUSED, () => c2.deleteQueue('alice.q'));
    const c3 = await bob.createChannel();
    await expectChannelClose(c3, ACCESS_REFUSED, () => c3.assertExchange('alice.x2', 'fanout', { durable: false }));
    // nothing was created or deleted, and the connection still works
    await ch.checkQueue('alice.q');
    const c4 = await bob.createChannel();
    await c4.deleteQueue('bob.q1');
    await c4.close();
  });

  test('write: publishing to the default exchange and to matching exchanges works, to others is 403 and nothing is routed', async () => {
    const c = await bob.createConfirmChannel();
    await c.assertQueue('bob.inbox', { durable: false });
    c.sendToQueue('bob.inbox', text('via the default exchange'));
    await c.waitForConfirms();
    assert.equal(await readyCount(ch, 'bob.inbox'), 1);
    const before = await readyCount(ch, 'alice.q');
    await ch.bindQueue('alice.q', 'alice.x', '');
    const message = await expectChannelClose(c, ACCESS_REFUSED, () => c.publish('alice.x', '', text('not allowed')));
    assert.match(message, /access to exchange 'alice.x' in vhost '\/' refused for user 'bob'/);
    assert.equal(await readyCount(ch, 'alice.q'), before);
  });

  test('read: consume, get and purge need read on the queue; queue.bind needs write on the queue and read on the exchange', async () => {
    const c = await bob.createChannel();
    await c.assertQueue('bob.work', { durable: false });
    ch.sendToQueue('bob.work', text('for bob'));
    const got = await c.get('bob.work', { noAck: true });
    assert.ok(got !== false && got.content.toString() === 'for bob');
    await c.purgeQueue('bob.work');
    await c.bindQueue('bob.work', 'bob.x', '');
    await expectChannelClose(c, ACCESS_REFUSED, () => c.consume('alice.q', () => undefined));
    const c2 = await bob.createChannel();
    await expectChannelClose(c2, ACCESS_REFUSED, () => c2.get('alice.q'));
    const c3 = await bob.createChannel();
    await expectChannelClose(c3, ACCESS_REFUSED, () => c3.purgeQueue('alice.q'));
    const c4 = await bob.createChannel();
    // read on amq.direct is not granted: binding bob's own queue to it is refused
    const message = await expectChannelClose(c4, ACCESS_REFUSED, () => c4.bindQueue('bob.work', 'amq.direct', 'k'));
    assert.match(message, /access to exchange 'amq.direct' in vhost '\/' refused for user 'bob'/);
  });

  test('the management API applies the same permissions to what a user does through it', async () => {
    const asBob = { auth: ['bob', 'bob-pw'] as [string, string] };
    assert.equal((await api(broker, 'PUT', '/api/queues/%2F/bob.http', { ...asBob, body: { durable: false } })).status, 201);
    const refused = await api(broker, 'PUT', '/api/queues/%2F/alice.http', { ...asBob, body: { durable: false } });
    assert.equal(refused.status, 403);
    assert.match(JSON.stringify(refused.body), /access to queue 'alice.http' in vhost '\/' refused for user 'bob'/);
    assert.equal((await api(broker, 'GET', '/api/queues/%2F/alice.http')).status, 404, 'nothing was declared');
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/alice.q', asBob)).status, 403);
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/alice.q/contents', asBob)).status, 403);
    assert.equal((await api(broker, 'POST', '/api/queues/%2F/alice.q/get', { ...asBob, body: { count: 1, ackmode: 'ack_requeue_true' } })).status, 403);
    const publish = { properties: {}, routing_key: '', payload: 'x', payload_encoding: 'string' };
    assert.equal((await api(broker, 'POST', '/api/exchanges/%2F/alice.x/publish', { ...asBob, body: publish })).status, 403);
    assert.equal((await api(broker, 'POST', '/api/exchanges/%2F/bob.x/publish', { ...asBob, body: publish })).status, 200);
    // binding: write on the queue, read on the exchange
    assert.equal((await api(broker, 'POST', '/api/bindings/%2F/e/bob.x/q/bob.http', { ...asBob, body: { routing_key: '' } })).status, 201);
    assert.equal((await api(broker, 'POST', '/api/bindings/%2F/e/amq.direct/q/bob.http', { ...asBob, body: { routing_key: 'k' } })).status, 403);
    assert.equal((await api(broker, 'POST', '/api/bindings/%2F/e/bob.x/q/alice.q', { ...asBob, body: { routing_key: '' } })).status, 403);
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/bob.http', asBob)).status, 204);
  });

  test('a permission change applies to open channels at once, and an empty expression grants nothing', async () => {
    const c = await bob.createConfirmChannel();
    await c.assertQueue('bob.live', { durable: false });
    c.sendToQueue('bob.live', text('before'));
    await c.waitForConfirms();
    await setPermissions('^bob\\.', '', '^bob\\.');
    try {
      // the same exchange as a moment ago: the channel's cached check must notice the change
      await expectChannelClose(c, ACCESS_REFUSED, () => c.sendToQueue('bob.live', text('after')));
      assert.equal(await readyCount(ch, 'bob.live'), 1);
    } finally {
      await setPermissions('^bob\\.', '^(bob\\.|amq\\.default$)', '^bob\\.');
    }
  });
});
