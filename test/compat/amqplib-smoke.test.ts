import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startTestBroker } from '../helpers/broker.js';

test('amqplib publishes to a queue and consumes the message back', async () => {
  const broker = await startTestBroker();
  try {
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('smoke', { durable: false });
    assert.equal(q.queue, 'smoke');
    ch.sendToQueue('smoke', Buffer.from('hello'), { contentType: 'text/plain', headers: { a: 1 } });
    const msg = await new Promise<amqp.ConsumeMessage>((resolve) => {
      void ch.consume('smoke', (m) => m && resolve(m));
    });
    assert.equal(msg.content.toString(), 'hello');
    assert.equal(msg.properties.contentType, 'text/plain');
    assert.deepEqual(msg.properties.headers, { a: 1 });
    ch.ack(msg);
    await ch.close();
    await conn.close();
  } finally {
    await broker.stop();
  }
});
