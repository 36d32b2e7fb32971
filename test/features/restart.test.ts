import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { drainBodies, text } from '../helpers/amqplib.js';

async function withBroker<T>(dataDir: string, body: (b: TestBroker) => Promise<T>): Promise<T> {
  const broker = await startTestBroker({ dataDir });
  try {
    return await body(broker);
  } finally {
    await broker.stop();
  }
}

test('queue features survive a restart: TTL clocks keep running, priorities keep their order, dead-lettered x-death stays', async () => {
  const dir = tempDataDir('postbox-features-restart-');
  try {
    await withBroker(dir, async (broker) => {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('r.ttl', { durable: true, arguments: { 'x-message-ttl': 300 } });
      await ch.assertQueue('r.prio', { durable: true, arguments: { 'x-max-priority': 5 } });
      await ch.assertExchange('r.dlx', 'fanout', { durable: true });
      await ch.assertQueue('r.dead', { durable: true });
      await ch.bindQueue('r.dead', 'r.dlx', '');
      await ch.assertQueue('r.work', { durable: true, arguments: { 'x-dead-letter-exchange': 'r.dlx', 'x-max-length': 1 } });
      ch.sendToQueue('r.ttl', text('expires'), { persistent: true });
      for (const [b, p] of [
        ['p1', 1],
        ['p5', 5],
        ['p3', 3],
      ] as const)
        ch.sendToQueue('r.prio', text(b), { persistent: true, priority: p });
      ch.sendToQueue('r.work', text('dropped'), { persistent: true });
      ch.sendToQueue('r.work', text('kept'), { persistent: true });
      await ch.waitForConfirms();
      await conn.close();
    });
    // the TTL is measured from publishing: after a restart that outlasts it, the message is gone
    await new Promise((r) => setTimeout(r, 350));
    await withBroker(dir, async (broker) => {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createChannel();
      assert.deepEqual(await drainBodies(ch, 'r.ttl'), []);
      assert.deepEqual(await drainBodies(ch, 'r.prio'), ['p5', 'p3', 'p1']);
      assert.deepEqual(await drainBodies(ch, 'r.work'), ['kept']);
      const dead = await ch.get('r.dead', { noAck: true });
      assert.ok(dead);
      assert.equal(dead.content.toString(), 'dropped');
      const death = (dead.properties.headers as any)['x-death'][0];
      assert.equal(death.reason, 'maxlen');
      assert.equal(death.queue, 'r.work');
      await conn.close();
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
