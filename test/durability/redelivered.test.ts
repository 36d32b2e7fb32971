/**
 * A message that was delivered and not acked when the broker died comes back marked redelivered, with its
 * delivery counted (x-delivery-count on quorum queues, x-delivery-limit enforced), as RabbitMQ does. The
 * broker is killed with SIGKILL, never closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { tempDataDir } from '../helpers/broker.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';

async function connect(broker: BrokerProcess): Promise<{ conn: ChannelModel; ch: Channel }> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  return { conn, ch };
}

/** consume `count` deliveries without acking them; then a round-trip, so the broker has written what it did */
async function takeUnacked(ch: Channel, queue: string, count: number): Promise<ConsumeMessage[]> {
  await ch.prefetch(count);
  const got: ConsumeMessage[] = [];
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (m) => {
      if (m === null) return;
      got.push(m);
      if (got.length === count) resolve();
    });
  });
  await ch.checkQueue(queue);
  return got;
}

async function kill(broker: BrokerProcess): Promise<void> {
  broker.child.kill('SIGKILL');
  assert.equal(await broker.exited, 'SIGKILL');
}

async function stop(broker: BrokerProcess): Promise<void> {
  broker.child.kill('SIGTERM');
  await broker.exited;
}

test('messages delivered but unacked when the broker is killed come back redelivered; ones never delivered do not', async () => {
  const dir = tempDataDir('postbox-redelivered-');
  try {
    const first = await spawnBroker(dir);
    const a = await connect(first);
    await a.ch.assertQueue('work', { durable: true });
    for (const body of ['m0', 'm1', 'm2']) a.ch.sendToQueue('work', Buffer.from(body), { persistent: true });
    await (a.ch as amqp.ConfirmChannel).waitForConfirms();
    const before = await takeUnacked(a.ch, 'work', 2);
    assert.deepEqual(
      before.map((m) => [m.content.toString(), m.fields.redelivered]),
      [
        ['m0', false],
        ['m1', false],
      ],
    );
    await kill(first);

    const second = await spawnBroker(dir);
    const b = await connect(second);
    const after = await takeUnacked(b.ch, 'work', 3);
    assert.deepEqual(
      after.map((m) => [m.content.toString(), m.fields.redelivered]),
      [
        ['m0', true],
        ['m1', true],
        ['m2', false],
      ],
    );
    for (const m of after) b.ch.ack(m);
    await b.ch.checkQueue('work');
    await kill(second);

    // acked after the restart: gone for good
    const third = await spawnBroker(dir);
    const c = await connect(third);
    assert.equal((await c.ch.checkQueue('work')).messageCount, 0);
    await c.conn.close();
    await stop(third);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a quorum queue counts deliveries cut off by a kill in x-delivery-count, and dead-letters past x-delivery-limit', async () => {
  const dir = tempDataDir('postbox-delivery-count-');
  try {
    let broker = await spawnBroker(dir);
    let { ch } = await connect(broker);
    await ch.assertQueue('poison.dlq', { durable: true });
    await ch.assertQueue('poison', {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'poison.dlq' },
    });
    ch.sendToQueue('poison', Buffer.from('crashes its consumer'), { persistent: true });
    await (ch as amqp.ConfirmChannel).waitForConfirms();
    const [firstTry] = await takeUnacked(ch, 'poison', 1);
    assert.equal(firstTry!.fields.redelivered, false);
    assert.equal(firstTry!.properties.headers?.['x-delivery-count'], undefined);
    await kill(broker);

    broker = await spawnBroker(dir);
    ({ ch } = await connect(broker));
    const [secondTry] = await takeUnacked(ch, 'poison', 1);
    assert.equal(secondTry!.fields.redelivered, true);
    assert.equal(secondTry!.properties.headers?.['x-delivery-count'], 1);
    await kill(broker);

    // a third delivery would exceed the limit of 1 redelivery: the message is dead-lettered instead
    broker = await spawnBroker(dir);
    ({ ch } = await connect(broker));
    assert.equal(await ch.get('poison', { noAck: true }), false);
    const dead = await ch.get('poison.dlq', { noAck: true });
    assert.ok(dead, 'the message was dead-lettered');
    assert.equal(dead.content.toString(), 'crashes its consumer');
    const death = dead.properties.headers?.['x-death']?.[0];
    assert.equal(death?.reason, 'delivery_limit');
    assert.equal(death?.queue, 'poison');
    await stop(broker);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
