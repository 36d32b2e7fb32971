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
    const headers = dead.properties.headers as any;
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

  test('only the head expires, as in RabbitMQ: a short-lived message behind a long-lived one waits, then goes as soon as it is at the head', async () => {
    await ch.assertQueue('ttl.head');
    ch.sendToQueue('ttl.head', text('long'), { expiration: '60000' });
    ch.sendToQueue('ttl.head', text('short'), { expiration: '50' });
    await new Promise((r) => setTimeout(r, 300)); // 'short' is past its TTL but not at the head
    assert.equal(await readyCount(ch, 'ttl.head'), 2);
    const head = await ch.get('ttl.head', { noAck: true });
    assert.ok(head !== false);
    assert.equal(head.content.toString(), 'long');
    assert.equal(await ch.get('ttl.head', { noAck: true }), false, "'short' expired when it reached the head");
    assert.equal(await readyCount(ch, 'ttl.head'), 0);
  });

  test('an invalid expiration property closes the channel with 406', async () => {
    const bad = await conn.createChannel();
    await bad.assertQueue('ttl.bad');
    await expectChannelClose(bad, 406, async () => {
      bad.sendToQueue('ttl.bad', text('x'), { expiration: 'soon' });
      await bad.checkQueue('ttl.bad');
    });
  });

  test("TTLs, expirations and x-expires past 2^32 - 1 ms are refused with 406 (RabbitMQ's limit); a dead-letter routing key needs a dead-letter exchange", async () => {
    const tooLong = 2 ** 32;
    for (const [name, args, pattern] of [
      ['ttl.huge', { 'x-message-ttl': tooLong }, /x-message-ttl.*value_too_large/],
      ['expires.huge', { 'x-expires': tooLong }, /x-expires.*value_too_large/],
      ['backoff.huge', { 'x-retry-backoff': 1, 'x-retry-backoff-max': tooLong }, /x-retry-backoff-max.*value_too_large/],
      ['dlrk.alone', { 'x-dead-letter-routing-key': 'k' }, /routing_key_but_no_dlx_defined/],
    ] as const) {
      const bad = await conn.createChannel();
      const reason = await expectChannelClose(bad, 406, () => bad.assertQueue(name, { arguments: args }));
      assert.match(reason, pattern);
    }
    const bad = await conn.createChannel();
    await bad.assertQueue('ttl.bad.expiration');
    const reason = await expectChannelClose(bad, 406, async () => {
      bad.sendToQueue('ttl.bad.expiration', text('x'), { expiration: String(tooLong) });
      await bad.checkQueue('ttl.bad.expiration');
    });
    assert.match(reason, /expiration.*value_too_large/);
    await ch.assertQueue('ttl.longest', { arguments: { 'x-message-ttl': tooLong - 1, 'x-expires': tooLong - 1 } });
  });

  test('TTLs and x-expires longer than a timer can wait (2^31 - 1 ms) neither fire early nor spin', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const thirtyDays = 30 * 24 * 3600 * 1000;
      const c = await conn.createChannel();
      await c.assertQueue('long.expires', { arguments: { 'x-expires': thirtyDays } });
      await c.assertQueue('long.ttl', { arguments: { 'x-message-ttl': thirtyDays } });
      c.sendToQueue('long.ttl', text('kept'));
      c.sendToQueue('long.ttl', text('kept too'), { expiration: String(thirtyDays) });
      // a few hundred ms: a timer that overflowed would have fired (after 1 ms) many times by now
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(broker.core.vhosts.get('/')!.queues.has('long.expires'), 'x-expires of 30 days has not deleted the queue');
      assert.equal(await readyCount(c, 'long.ttl'), 2);
      assert.deepEqual(warnings, []);
      await c.deleteQueue('long.expires');
      await c.deleteQueue('long.ttl');
      await c.close();
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('a message requeued while every consumer is at its prefetch limit still expires on time', async () => {
    await ch.assertExchange('dlx.busy', 'fanout');
    await ch.assertQueue('dead.busy');
    await ch.bindQueue('dead.busy', 'dlx.busy', '');
    await ch.assertQueue('work.busy', { arguments: { 'x-message-ttl': 200, 'x-dead-letter-exchange': 'dlx.busy' } });
    const busy = await conn.createChannel();
    await busy.prefetch(1);
    const held = new Promise<ConsumeMessage>((resolve) => void busy.consume('work.busy', (m) => m && resolve(m)));
    ch.sendToQueue('work.busy', text('held'));
    await held; // the busy consumer keeps it unacked: no credit left
    const other = await conn.createChannel();
    await other.prefetch(1);
    const taken = new Promise<ConsumeMessage>((resolve) => void other.consume('work.busy', (m) => m && resolve(m)));
    ch.sendToQueue('work.busy', text('requeued'));
    await taken;
    await other.close(); // 'requeued' goes back to a queue whose only consumer has no credit
    // a guard, not a timing assertion: the 200 ms TTL has long passed when it trips
    const guard = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the requeued message was not dead-lettered within 10 s')), 10_000).unref(),
    );
    const dead = await Promise.race([next(ch, 'dead.busy'), guard]);
    assert.equal(dead.content.toString(), 'requeued');
    assert.equal((dead.properties.headers as any)['x-death'][0].reason, 'expired');
    await busy.close();
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
    const headers = seen[2]!.properties.headers as any;
    const last = headers['x-death'] as Array<Record<string, unknown>>;
    // one entry per queue and reason, the most recent death first
    assert.deepEqual(
      last.map((d) => [d.queue, d.reason, d.count, d.exchange]),
      [
        ['retry.wait', 'expired', 2, 'retry.wait.x'],
        ['retry.work', 'rejected', 2, 'retry.work.x'],
      ],
    );
    assert.deepEqual(
      [headers['x-first-death-reason'], headers['x-first-death-queue'], headers['x-first-death-exchange']],
      ['rejected', 'retry.work', 'retry.work.x'],
    );
    assert.deepEqual(
      [headers['x-last-death-reason'], headers['x-last-death-queue'], headers['x-last-death-exchange']],
      ['expired', 'retry.wait', 'retry.wait.x'],
    );
    await worker.close();
  });

  test('a dead-letter cycle without a rejection drops the message instead of looping', async () => {
    // an observer bound to the same exchange sees the one dead-lettering; the copy for cycle.q, made in
    // the same step, is dropped as a cycle (a loop would keep the message in cycle.q at every moment)
    await ch.assertExchange('cycle.x', 'fanout');
    await ch.assertQueue('cycle.q', { arguments: { 'x-message-ttl': 20, 'x-dead-letter-exchange': 'cycle.x' } });
    await ch.assertQueue('cycle.observer');
    await ch.bindQueue('cycle.q', 'cycle.x', '');
    await ch.bindQueue('cycle.observer', 'cycle.x', '');
    ch.sendToQueue('cycle.q', text('loop'));
    const seen = await next(ch, 'cycle.observer');
    assert.deepEqual(
      (seen.properties.headers as any)['x-death'].map((d: any) => [d.queue, d.reason]),
      [['cycle.q', 'expired']],
    );
    assert.equal(await readyCount(ch, 'cycle.q'), 0);
    assert.equal(await readyCount(ch, 'cycle.observer'), 0);
  });

  test('a rejection before a TTL loop does not keep the loop going: only rejections inside the cycle count, as in RabbitMQ', async () => {
    // C (rejected) -> a.x -> A (expires) -> b.x -> B (expires) -> a.x -> A: dropped, the cycle A, B is automatic
    await ch.assertExchange('loop.a.x', 'fanout');
    await ch.assertExchange('loop.b.x', 'fanout');
    await ch.assertQueue('loop.A', { arguments: { 'x-message-ttl': 20, 'x-dead-letter-exchange': 'loop.b.x' } });
    await ch.assertQueue('loop.B', { arguments: { 'x-message-ttl': 20, 'x-dead-letter-exchange': 'loop.a.x' } });
    await ch.assertQueue('loop.C', { arguments: { 'x-dead-letter-exchange': 'loop.a.x' } });
    await ch.assertQueue('loop.observer');
    await ch.bindQueue('loop.A', 'loop.a.x', '');
    await ch.bindQueue('loop.observer', 'loop.a.x', '');
    await ch.bindQueue('loop.B', 'loop.b.x', '');
    ch.sendToQueue('loop.C', text('poison'));
    const worker = await conn.createChannel();
    const { done } = collect(worker, 'loop.C', 1);
    const [m] = await done;
    worker.reject(m!, false);
    const { done: observed } = collect(ch, 'loop.observer', 2, { noAck: true });
    const [afterReject, afterLoop] = await observed;
    assert.deepEqual(
      (afterReject!.properties.headers as any)['x-death'].map((d: any) => `${d.queue}/${d.reason}`),
      ['loop.C/rejected'],
    );
    assert.deepEqual(
      (afterLoop!.properties.headers as any)['x-death'].map((d: any) => `${d.queue}/${d.reason}`),
      ['loop.B/expired', 'loop.A/expired', 'loop.C/rejected'],
    );
    assert.equal(await readyCount(ch, 'loop.A'), 0, 'the copy for loop.A was dropped as a cycle');
    assert.equal(await readyCount(ch, 'loop.B'), 0);
    await worker.close();
  });

  test("x-death routing-keys include the message's CC keys; with a dead-letter routing key the CC header is removed", async () => {
    await ch.assertExchange('cc.x', 'direct');
    await ch.assertExchange('cc.dlx', 'fanout');
    await ch.assertQueue('cc.work', { arguments: { 'x-dead-letter-exchange': 'cc.dlx' } });
    await ch.assertQueue('cc.rekeyed', { arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'cc.parked' } });
    await ch.assertQueue('cc.dead');
    await ch.assertQueue('cc.parked');
    await ch.bindQueue('cc.work', 'cc.x', 'orders.eu');
    await ch.bindQueue('cc.rekeyed', 'cc.x', 'orders.us');
    await ch.bindQueue('cc.dead', 'cc.dlx', '');
    ch.publish('cc.x', 'orders.eu', text('copied'), { headers: { CC: ['orders.us'] } });
    await readyCount(ch, 'cc.rekeyed');
    const worker = await conn.createChannel();
    for (const queue of ['cc.work', 'cc.rekeyed']) {
      const [m] = await collect(worker, queue, 1).done;
      worker.reject(m!, false);
    }
    const dead = await next(ch, 'cc.dead');
    const deadHeaders = dead.properties.headers as any;
    assert.deepEqual(deadHeaders['x-death'][0]['routing-keys'], ['orders.eu', 'orders.us']);
    assert.deepEqual(deadHeaders.CC, ['orders.us']);
    const parked = await next(ch, 'cc.parked');
    const parkedHeaders = parked.properties.headers as any;
    assert.equal(parked.fields.routingKey, 'cc.parked');
    assert.deepEqual(parkedHeaders['x-death'][0]['routing-keys'], ['orders.eu', 'orders.us']);
    assert.equal(parkedHeaders.CC, undefined);
    await worker.close();
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
