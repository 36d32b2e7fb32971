/**
 * Postbox through @cloudamqp/amqp-client (v4), a second real Node.js client with its own codec: each
 * behaviour is one thing an application using that client would do.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AMQPClient, AMQPError, type AMQPMessage } from '@cloudamqp/amqp-client';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';

let broker: TestBroker;

before(async () => {
  broker = await startTestBroker();
});

after(async () => {
  await broker.stop();
});

async function connect(): Promise<AMQPClient> {
  const client = new AMQPClient(broker.url);
  await client.connect();
  return client;
}

test('amqp-client declares a queue, publishes with properties, consumes and acks the message', async () => {
  const client = await connect();
  const ch = await client.channel();
  const declared = await ch.queueDeclare('ac-consume', { durable: false });
  assert.equal(declared.name, 'ac-consume');
  assert.equal(declared.messageCount, 0);
  await ch.basicPublish('', 'ac-consume', 'hello from amqp-client', {
    contentType: 'text/plain',
    headers: { team: 'wire', n: 7 },
    messageId: 'm-1',
    correlationId: 'c-1',
    deliveryMode: 2,
    priority: 3,
  });
  const received = new Promise<AMQPMessage>((resolve) => {
    void ch.basicConsume('ac-consume', { noAck: false }, (msg) => resolve(msg));
  });
  const msg = await received;
  assert.equal(msg.bodyToString(), 'hello from amqp-client');
  assert.equal(msg.properties.contentType, 'text/plain');
  assert.deepEqual(msg.properties.headers, { team: 'wire', n: 7 });
  assert.equal(msg.properties.messageId, 'm-1');
  assert.equal(msg.properties.correlationId, 'c-1');
  assert.equal(msg.properties.deliveryMode, 2);
  assert.equal(msg.properties.priority, 3);
  assert.equal(msg.redelivered, false);
  await msg.ack();
  // acked: nothing is left in the queue once the consumer is gone
  await ch.close();
  const ch2 = await client.channel();
  const after = await ch2.queueDeclare('ac-consume', { passive: true });
  assert.equal(after.messageCount, 0);
  await client.close();
});

test('amqp-client basic.get returns a waiting message and null on an empty queue', async () => {
  const client = await connect();
  const ch = await client.channel();
  await ch.queueDeclare('ac-get');
  await ch.basicPublish('', 'ac-get', 'first');
  await ch.basicPublish('', 'ac-get', 'second');
  // publishes are asynchronous: a synchronous round trip on the same channel orders them before the get
  await ch.queueDeclare('ac-get', { passive: true });
  const first = await ch.basicGet('ac-get', { noAck: false });
  assert.ok(first !== null);
  assert.equal(first.bodyToString(), 'first');
  assert.equal(first.messageCount, 1);
  await first.ack();
  const second = await ch.basicGet('ac-get', { noAck: true });
  assert.equal(second?.bodyToString(), 'second');
  assert.equal(await ch.basicGet('ac-get'), null);
  await client.close();
});

test('amqp-client publishes in confirm mode and every publish resolves once confirmed', async () => {
  const client = await connect();
  const ch = await client.channel();
  await ch.confirmSelect();
  await ch.queueDeclare('ac-confirm', { durable: true });
  const tags = await Promise.all(Array.from({ length: 20 }, (_, i) => ch.basicPublish('', 'ac-confirm', `m${i}`, { deliveryMode: 2 })));
  assert.deepEqual(
    tags,
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  const declared = await ch.queueDeclare('ac-confirm', { passive: true });
  assert.equal(declared.messageCount, 20);
  await client.close();
});

test('amqp-client routes through a declared exchange and binding', async () => {
  const client = await connect();
  const ch = await client.channel();
  await ch.exchangeDeclare('ac-topic', 'topic');
  const q = await ch.queueDeclare('', { exclusive: true });
  await ch.queueBind(q.name, 'ac-topic', 'orders.*');
  await ch.basicPublish('ac-topic', 'orders.created', 'routed');
  await ch.basicPublish('ac-topic', 'invoices.created', 'not routed');
  const consumer = await ch.basicConsume(q.name, { noAck: true });
  const { value: first } = await consumer.messages.next();
  assert.ok(first !== undefined);
  assert.equal(first.bodyToString(), 'routed');
  assert.equal(first.routingKey, 'orders.created');
  assert.equal(first.exchange, 'ac-topic');
  await client.close();
});

test('amqp-client surfaces a channel error as a rejected promise and a closed channel, and the connection lives on', async () => {
  const client = await connect();
  const ch = await client.channel();
  await assert.rejects(ch.queueDeclare('ac-missing', { passive: true }), (err: unknown) => {
    assert.ok(err instanceof AMQPError);
    assert.match(err.message, /NOT_FOUND/);
    assert.match(err.message, /404/);
    return true;
  });
  assert.equal(ch.closed, true);
  const ch2 = await client.channel();
  const q = await ch2.queueDeclare('ac-after-error');
  assert.equal(q.name, 'ac-after-error');
  await client.close();
  assert.equal(client.closed, true);
});
