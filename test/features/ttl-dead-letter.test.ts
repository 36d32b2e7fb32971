import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { rmSync } from 'node:fs';
import { closeAmqplib, collect, drainBodies, expectChannelClose, openAmqplibChannel, readyCount, text } from '../helpers/amqplib.js';

/** the next message on `queue` (a consumer that takes one and cancels) */
async function next(ch: Channel, queue: string): Promise<ConsumeMessage> {
  const { done, consumerTag } = collect(ch, queue, 1, { noAck: true });
  const [m] = await done;
  await ch.cancel(await consumerTag);
  return m!;
}

describe('message TTL, queue expiry and dead-lettering', () => {
  let broker: TestBroker;
  let conn: ChannelModel;
  let ch: Channel;

  before(async () => ({ broker, conn, ch } = await openAmqplibChannel()));
  after(() => closeAmqplib(conn, broker));

  test('a queue message TTL expires waiting messages and dead-letters them with reason expired and an x-death entry', async () => {
    await ch.assertExchange('dlx.ttl', 'fanout');
    await ch.assertQueue('dead.ttl');
    await ch.bindQueue('dead.ttl', 'dlx.ttl', '');
    await ch.assertQueue('work.ttl', { arguments: { 'x-message-ttl': 100, 'x-dead-letter-exchange': 'dlx.ttl' } });
    ch.sendToQueue('work.ttl', text('old'), { headers: { keep: 'me' } });
    const dead = await next(ch, 'dead.ttl');
    assert.equal(dead.content.toString(), 'old');
    assert.equal(dead.fields.exchange, 'dlx.ttl');
    assert.equal(dead.fields.routingKey, 'work.ttl');
    const headers = (dead.properties.headers as any);
    assert.equal(headers.keep, 'me');
    const [death] = headers['x-death'];
    assert.equal(death.reason, 'expired');
    assert.equal(death.queue, 'work.ttl');
    assert.equal(death.count, 1);
    assert.equal(death.exchange, '');
    assert.deepEqual(death['routing-keys'], ['work.ttl']);
    assert.ok(death.time !== undefined);
    assert.equal(headers['x-first-death-reason'], 'expired');
    assert.equal(headers['x-first-death-queue'], 'work.ttl');
    assert.equal(headers['x-last-death-reason'], 'expired');
    assert.equal(await readyCount(ch, 'work.ttl'), 0);
  });

  test('a per-message expiration expires the message and is recorded as original-expiration; the dead copy has none', async () => {
    await ch.assertExchange('dlx.msgttl', 'direct');
    await ch.assertQueue('dead.msgttl');
    await ch.bindQueue('dead.msgttl', 'dlx.msgttl', 'expired-key');
    await ch.assertQueue('work.msgttl', { arguments: { 'x-dead-letter-exchange': 'dlx.msgttl', 'x-dead-letter-routing-key': 'expired-key' } });
    ch.sendToQueue('work.msgttl', text('short'), { expiration: '50' });
    ch.sendToQueue('work.msgttl', text('long-lived'));
    const dead = await next(ch, 'dead.msgttl');
    assert.equal(dead.content.toString(), 'short');
    assert.equal(dead.fields.routingKey, 'expired-key');
    assert.equal(dead.properties.expiration, undefined);
    assert.equal((dead.properties.headers as any)['x-death'][0]['original-expiration'], '50');
    assert.deepEqual(await drainBodies(ch, 'work.msgttl'), ['long-lived']);
  });

  test('an expired message is never delivered to a consumer that arrives later', async () => {
    await ch.assertQueue('ttl.nodeliver');
    ch.sendToQueue('ttl.nodeliver', text('stale'), { expiration: '250' });
    ch.sendToQueue('ttl.nodeliver', text('fresh'));
    assert.equal(await readyCount(ch, 'ttl.nodeliver'), 2);
    await new Promise((r) => setTimeout(r, 300));
    const m = await next(ch, 'ttl.nodeliver');
    assert.equal(m.content.toString(), 'fresh');
  });

  test('an invalid expiration property closes the channel with 406', async () => {
    const bad = await conn.createChannel();
    await bad.assertQueue('ttl.bad');
    await expectChannelClose(bad, 406, async () => {
      bad.sendToQueue('ttl.bad', text('x'), { expiration: 'soon' });
      await bad.checkQueue('ttl.bad');
    });
  });

  test('rejected and nacked messages without requeue are dead-lettered with reason rejected', async () => {
    await ch.assertExchange('dlx.rej', 'fanout');
    await ch.assertQueue('dead.rej');
    await ch.bindQueue('dead.rej', 'dlx.rej', '');
    await ch.assertQueue('work.rej', { arguments: { 'x-dead-letter-exchange': 'dlx.rej' } });
    ch.sendToQueue('work.rej', text('a'));
    ch.sendToQueue('work.rej', text('b'));
    const worker = await conn.createChannel();
    const { done } = collect(worker, 'work.rej', 2);
    const [a, b] = await done;
    worker.reject(a!, false);
    worker.nack(b!, false, false);
    const { done: deadDone } = collect(ch, 'dead.rej', 2, { noAck: true });
    const dead = await deadDone;
    assert.deepEqual(dead.map((m) => m.content.toString()).sort(), ['a', 'b']);
    for (const m of dead) assert.equal((m.properties.headers as any)['x-death'][0].reason, 'rejected');
    await worker.close();
  });

  test('the retry pattern (work queue, retry queue with TTL, back) counts each death in x-death', async () => {
    await ch.assertExchange('retry.work.x', 'direct');
    await ch.assertExchange('retry.wait.x', 'direct');
    await ch.assertQueue('retry.work', { arguments: { 'x-dead-letter-exchange': 'retry.wait.x' } });
    await ch.bindQueue('retry.work', 'retry.work.x', 'job');
    await ch.assertQueue('retry.wait', { arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': 'retry.work.x' } });
    await ch.bindQueue('retry.wait', 'retry.wait.x', 'job');
    ch.publish('retry.work.x', 'job', text('flaky'));
    const worker = await conn.createChannel();
    const seen: ConsumeMessage[] = [];
    await new Promise<void>((resolve) => {
      void worker.consume('retry.work', (m) => {
        if (m === null) return;
        seen.push(m);
        if (seen.length < 3) worker.reject(m, false);
        else {
          worker.ack(m);
          resolve();
        }
      });
    });
    const last = (seen[2]!.properties.headers as any)['x-death'] as Array<Record<string, unknown>>;
    const byKey = Object.fromEntries(last.map((d) => [`${d.queue}/${d.reason}`, d.count]));
    assert.deepEqual(byKey, { 'retry.work/rejected': 2, 'retry.wait/expired': 2 });
    assert.equal((seen[2]!.properties.headers as any)['x-first-death-reason'], 'rejected');
    await worker.close();
  });

  test('a dead-letter cycle without a rejection drops the message instead of looping', async () => {
    await ch.assertExchange('cycle.x', 'fanout');
    await ch.assertQueue('cycle.q', { arguments: { 'x-message-ttl': 20, 'x-dead-letter-exchange': 'cycle.x' } });
    await ch.bindQueue('cycle.q', 'cycle.x', '');
    ch.sendToQueue('cycle.q', text('loop'));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await readyCount(ch, 'cycle.q'), 0);
  });

  test('x-expires deletes a queue nobody uses', async () => {
    const tmp = await conn.createChannel();
    await tmp.assertQueue('expiring.q', { arguments: { 'x-expires': 60 } });
    const vhost = broker.core.vhosts.get('/')!;
    assert.ok(vhost.queues.has('expiring.q'));
    while (vhost.queues.has('expiring.q')) await new Promise((r) => setTimeout(r, 20));
    await expectChannelClose(tmp, 404, () => tmp.checkQueue('expiring.q'));
  });

  test('x-expires does not delete a queue that has a consumer', async () => {
    const c = await conn.createChannel();
    await c.assertQueue('expiring.used', { arguments: { 'x-expires': 50 } });
    await c.consume('expiring.used', () => {});
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(broker.core.vhosts.get('/')!.queues.has('expiring.used'));
    await c.close();
  });
});

describe('dead-lettering back into the same queue', () => {
  test('a rejected message dead-lettered to its own queue comes back once, nothing is lost, and nothing reappears after a restart', async () => {
    const dataDir = tempDataDir('postbox-self-dlx-');
    let broker = await startTestBroker({ dataDir });
    try {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createChannel();
      await ch.assertQueue('self.dlx', { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'self.dlx' } });
      for (const b of ['a', 'b', 'c']) ch.sendToQueue('self.dlx', text(b), { persistent: true });
      const seen: string[] = [];
      await new Promise<void>((resolve) => {
        void ch.consume('self.dlx', (m) => {
          if (m === null) return;
          seen.push(m.content.toString());
          // reject 'a' the first time: it goes to the back of its own queue through the dead-letter route
          if (m.content.toString() === 'a' && m.properties.headers?.['x-death'] === undefined) ch.reject(m, false);
          else ch.ack(m);
          if (seen.length === 4) resolve();
        });
      });
      assert.deepEqual(seen, ['a', 'b', 'c', 'a']);
      assert.equal((await ch.checkQueue('self.dlx')).messageCount, 0);
      await conn.close();
      // every record was acked exactly: a restart finds nothing to redeliver
      await broker.stop();
      broker = await startTestBroker({ dataDir });
      const conn2 = await amqp.connect(broker.url);
      const ch2 = await conn2.createChannel();
      assert.equal((await ch2.checkQueue('self.dlx')).messageCount, 0);
      await conn2.close();
    } finally {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
