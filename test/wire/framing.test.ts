/**
 * Framing over real TCP: any split of the client's bytes must give the same conversation. The extreme case
 * writes every byte as its own TCP write, with a turn of the event loop between writes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { AmqpClient } from '../../src/client/amqp/index.js';

let broker: TestBroker;

before(async () => {
  broker = await startTestBroker();
});

after(async () => {
  await broker.stop();
});

test('a client that writes one byte at a time completes the handshake, publishes and consumes a message', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  client.dribble = true;
  await client.handshake({ frameMax: 4096 });
  await client.openChannel(1);
  // a body over two body frames, with properties, so every frame type is split
  const body = Buffer.alloc(6000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  const received = await client.publishAndConsume(1, 'one-byte-at-a-time', body);
  assert.ok(received.equals(body));
  await client.close();
});

test('a client that writes all of its frames in one write is understood the same way', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { frameMax: 4096 });
  await client.openChannel(1);
  await client.declareQueue(1, 'one-write');
  const bodies = [Buffer.from('first'), Buffer.alloc(5000, 0x62), Buffer.alloc(0), Buffer.from('last')];
  client.write(Buffer.concat(bodies.map((b) => client.publishBytes(1, '', 'one-write', b, { messageId: `m${b.length}` }))));
  await client.consume(1, 'one-write', 'c', true);
  for (const expected of bodies) {
    const delivery = await client.nextDelivery(1);
    assert.ok(delivery.body.equals(expected));
    assert.equal(delivery.properties.messageId, `m${expected.length}`);
  }
  await client.close();
});
