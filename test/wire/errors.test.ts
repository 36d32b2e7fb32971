/**
 * Every AMQP error the broker reports, spoken in raw bytes: the reply code, its scope (channel.close for
 * soft errors, connection.close for hard ones) and the class/method ids it names. After each misbehaving
 * connection, a bystander connection that was open all along must still publish and consume.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FRAME_BODY,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  M_BASIC_CONSUME,
  M_BASIC_PUBLISH,
  M_BASIC_QOS,
  M_CHANNEL_OPEN,
  M_CONNECTION_TUNE_OK,
  M_EXCHANGE_DECLARE,
  M_QUEUE_DECLARE,
  encodeBasicHeaderFrame,
  encodeMethodFrame,
  type AmqpMethod,
} from '../../src/protocol/amqp/generated/spec.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { AmqpClient, methodPayload, rawFrame, type CloseReceived } from '../../src/client/amqp/index.js';

let broker: TestBroker;
/** open for the whole file; after every misbehaving connection it must still be served */
let bystander: AmqpClient;
/** owns an exclusive queue other connections may not touch */
let owner: AmqpClient;
let round = 0;

before(async () => {
  broker = await startTestBroker();
  bystander = await AmqpClient.open(broker.amqpPort);
  await bystander.openChannel(1);
  owner = await AmqpClient.open(broker.amqpPort);
  await owner.openChannel(1);
  await owner.declareQueue(1, 'owned-exclusively', { exclusive: true });
});

after(async () => {
  await bystander.close();
  await owner.close();
  await broker.stop();
});

async function bystanderStillServed(): Promise<void> {
  const body = Buffer.from(`still served ${++round}`);
  const received = await bystander.publishAndConsume(1, 'bystander', body);
  assert.equal(received.toString(), body.toString());
}

function queueDeclare(queue: string, options: { passive?: boolean; durable?: boolean } = {}): AmqpMethod {
  return {
    id: M_QUEUE_DECLARE,
    args: {
      ticket: 0,
      queue,
      passive: options.passive ?? false,
      durable: options.durable ?? false,
      exclusive: false,
      autoDelete: false,
      nowait: false,
      arguments: {},
    },
  };
}

function exchangeDeclare(exchange: string, type: string): AmqpMethod {
  return {
    id: M_EXCHANGE_DECLARE,
    args: { ticket: 0, exchange, type, passive: false, durable: false, autoDelete: false, internal: false, nowait: false, arguments: {} },
  };
}

function publishMethod(exchange: string, routingKey: string, immediate = false): AmqpMethod {
  return { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange, routingKey, mandatory: false, immediate } };
}

interface ErrorCase {
  readonly name: string;
  readonly scope: 'channel' | 'connection';
  readonly code: number;
  /** undefined: not asserted (the spec leaves them 0 when no method caused the error) */
  readonly classId?: number;
  readonly methodId?: number;
  readonly tune?: { channelMax?: number };
  /** what the reply text must say, when it matters */
  readonly text?: RegExp;
  /** misbehave on a connection whose channel 1 is open */
  act(client: AmqpClient): Promise<void> | void;
}

const cases: ErrorCase[] = [
  // ---- soft errors: channel.close
  {
    name: 'exchange.declare with the reserved amq. prefix gets channel.close 403',
    scope: 'channel',
    code: 403,
    classId: 40,
    methodId: 10,
    act: (c) => c.send(1, exchangeDeclare('amq.mine', 'direct')),
  },
  {
    name: 'a passive queue.declare of a missing queue gets channel.close 404',
    scope: 'channel',
    code: 404,
    classId: 50,
    methodId: 10,
    act: (c) => c.send(1, queueDeclare('no-such-queue', { passive: true })),
  },
  {
    name: 'basic.publish to a missing exchange gets channel.close 404 and its content is discarded',
    scope: 'channel',
    code: 404,
    classId: 60,
    methodId: 40,
    act: (c) => c.publish(1, 'no-such-exchange', 'key', Buffer.from('lost')),
  },
  {
    name: "queue.declare of another connection's exclusive queue gets channel.close 405",
    scope: 'channel',
    code: 405,
    classId: 50,
    methodId: 10,
    act: (c) => c.send(1, queueDeclare('owned-exclusively')),
  },
  {
    name: 'redeclaring a queue with a different durable flag gets channel.close 406',
    scope: 'channel',
    code: 406,
    classId: 50,
    methodId: 10,
    act: async (c) => {
      await c.declareQueue(1, 'transient-queue', { durable: false });
      c.send(1, queueDeclare('transient-queue', { durable: true }));
    },
  },
  {
    name: 'acking an unknown delivery tag gets channel.close 406',
    scope: 'channel',
    code: 406,
    classId: 60,
    methodId: 80,
    act: (c) => c.ack(1, 42),
  },
  // ---- hard errors: connection.close
  {
    name: 'a frame whose frame-end octet is not 0xCE closes the connection with 501',
    scope: 'connection',
    code: 501,
    classId: 0,
    methodId: 0,
    act: (c) => c.write(rawFrame(FRAME_METHOD, 1, methodPayload(queueDeclare('q')), 0x00)),
  },
  {
    name: 'a frame header announcing more than frame-max closes the connection with 501 before the payload arrives',
    scope: 'connection',
    code: 501,
    classId: 0,
    methodId: 0,
    act: (c) => c.write(rawFrame(FRAME_BODY, 1, Buffer.alloc(0), 0xce, 0xfffffff0).subarray(0, 7)),
  },
  {
    name: 'a heartbeat frame on a channel other than 0 closes the connection with 501',
    scope: 'connection',
    code: 501,
    classId: 0,
    methodId: 0,
    act: (c) => c.write(rawFrame(FRAME_HEARTBEAT, 1, Buffer.alloc(0))),
  },
  {
    name: 'a method frame with truncated arguments closes the connection with 502',
    scope: 'connection',
    code: 502,
    classId: 50,
    methodId: 10,
    act: (c) => c.write(rawFrame(FRAME_METHOD, 1, methodPayload(queueDeclare('a-queue-name')).subarray(0, 9))),
  },
  {
    name: 'connection.tune-ok after connection.open closes the connection with 503',
    scope: 'connection',
    code: 503,
    classId: 10,
    methodId: 31,
    act: (c) => c.send(0, { id: M_CONNECTION_TUNE_OK, args: { channelMax: 0, frameMax: 0, heartbeat: 0 } }),
  },
  {
    name: 'exchange.declare of an unknown exchange type closes the connection with 503',
    scope: 'connection',
    code: 503,
    classId: 40,
    methodId: 10,
    act: (c) => c.send(1, exchangeDeclare('typo-exchange', 'no-such-type')),
  },
  {
    name: 'a method on a channel that was never opened closes the connection with 504',
    scope: 'connection',
    code: 504,
    classId: 50,
    methodId: 10,
    act: (c) => c.send(7, queueDeclare('q')),
  },
  {
    name: 'a second channel.open on an open channel closes the connection with 504',
    scope: 'connection',
    code: 504,
    classId: 20,
    methodId: 10,
    act: (c) => c.send(1, { id: M_CHANNEL_OPEN, args: { outOfBand: '' } }),
  },
  {
    name: 'a content header with no basic.publish before it closes the connection with 505',
    scope: 'connection',
    code: 505,
    act: (c) => c.write(encodeBasicHeaderFrame(1, 5, {})),
  },
  {
    name: 'a content body with no basic.publish before it closes the connection with 505',
    scope: 'connection',
    code: 505,
    act: (c) => c.write(rawFrame(FRAME_BODY, 1, Buffer.from('body'))),
  },
  {
    name: 'a method where the content header was expected closes the connection with 505 naming basic.publish',
    scope: 'connection',
    code: 505,
    classId: 60,
    methodId: 40,
    text: /expected content header for class 60, got non content header frame instead/,
    act: (c) => {
      c.write(encodeMethodFrame(1, publishMethod('', 'bystander')));
      c.send(1, queueDeclare('q'));
    },
  },
  {
    name: 'a method where the content body was expected closes the connection with 505 naming basic.publish',
    scope: 'connection',
    code: 505,
    classId: 60,
    methodId: 40,
    text: /expected content body, got non content body frame instead/,
    act: (c) => {
      c.write(encodeMethodFrame(1, publishMethod('', 'bystander')));
      c.write(encodeBasicHeaderFrame(1, 10, {}));
      c.send(1, queueDeclare('q'));
    },
  },
  {
    name: 'a content frame on channel 0 closes the connection with 505',
    scope: 'connection',
    code: 505,
    act: (c) => c.write(encodeBasicHeaderFrame(0, 5, {})),
  },
  {
    name: 'reusing a consumer tag on a channel closes the connection with 530',
    scope: 'connection',
    code: 530,
    classId: 60,
    methodId: 20,
    act: async (c) => {
      await c.declareQueue(1, 'tag-reuse');
      await c.consume(1, 'tag-reuse', 'same-tag');
      c.send(1, {
        id: M_BASIC_CONSUME,
        args: { ticket: 0, queue: 'tag-reuse', consumerTag: 'same-tag', noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {} },
      });
    },
  },
  {
    name: 'opening a channel numbered above the negotiated channel-max closes the connection with 530',
    scope: 'connection',
    code: 530,
    tune: { channelMax: 10 },
    act: (c) => c.send(11, { id: M_CHANNEL_OPEN, args: { outOfBand: '' } }),
  },
  {
    name: 'an unknown class id closes the connection with 540 naming it',
    scope: 'connection',
    code: 540,
    classId: 99,
    methodId: 1,
    act: (c) => c.write(rawFrame(FRAME_METHOD, 1, Buffer.from([0, 99, 0, 1]))),
  },
  {
    name: 'an unknown method id of a known class closes the connection with 540 naming it',
    scope: 'connection',
    code: 540,
    classId: 60,
    methodId: 999,
    act: (c) => c.write(rawFrame(FRAME_METHOD, 1, Buffer.from([0, 60, 0x03, 0xe7]))),
  },
  {
    name: 'basic.qos with a prefetch size other than 0 closes the connection with 540',
    scope: 'connection',
    code: 540,
    classId: 60,
    methodId: 10,
    act: (c) => c.send(1, { id: M_BASIC_QOS, args: { prefetchSize: 1024, prefetchCount: 10, global: false } }),
  },
  {
    name: 'basic.publish with immediate=true closes the connection with 540',
    scope: 'connection',
    code: 540,
    classId: 60,
    methodId: 40,
    act: (c) => {
      c.write(encodeMethodFrame(1, publishMethod('', 'bystander', true)));
      c.write(encodeBasicHeaderFrame(1, 0, {}));
    },
  },
];

for (const errorCase of cases) {
  test(errorCase.name, async () => {
    const client = await AmqpClient.open(broker.amqpPort, { channelMax: errorCase.tune?.channelMax });
    await client.openChannel(1);
    await errorCase.act(client);
    const close: CloseReceived = await client.awaitClose();
    assert.equal(close.scope, errorCase.scope, `scope (${close.replyText})`);
    assert.equal(close.replyCode, errorCase.code, `reply code (${close.replyText})`);
    if (errorCase.classId !== undefined) assert.equal(close.classId, errorCase.classId, `class id (${close.replyText})`);
    if (errorCase.methodId !== undefined) assert.equal(close.methodId, errorCase.methodId, `method id (${close.replyText})`);
    if (errorCase.text !== undefined) assert.match(close.replyText, errorCase.text);
    if (close.scope === 'channel') {
      assert.equal(close.channel, 1);
      // a soft error costs only the channel: the connection opens another and works on
      await client.openChannel(2);
      const body = await client.publishAndConsume(2, `after-${errorCase.code}-${round}`, Buffer.from('same connection'));
      assert.equal(body.toString(), 'same connection');
      await client.close();
    } else {
      assert.equal(close.channel, 0);
      assert.ok(client.isEnded, 'the broker ended the socket after connection.close-ok');
    }
    await bystanderStillServed();
  });
}

test('broker shutdown closes open connections with connection.close 320', async () => {
  const own = await startTestBroker();
  const client = await AmqpClient.open(own.amqpPort);
  await client.openChannel(1);
  const stopping = own.stop();
  const close = await client.awaitClose();
  await stopping;
  assert.deepEqual([close.scope, close.replyCode, close.classId, close.methodId], ['connection', 320, 0, 0]);
  assert.match(close.replyText, /^CONNECTION_FORCED/);
});

test('a client that vanishes mid-frame leaves others undisturbed and its unacked messages return to the queue', async () => {
  await bystander.openChannel(3);
  await bystander.declareQueue(3, 'vanishing');
  for (let i = 0; i < 3; i++) bystander.publish(3, '', 'vanishing', Buffer.from(`m${i}`));

  const leaver = await AmqpClient.open(broker.amqpPort);
  await leaver.openChannel(1);
  await leaver.consume(1, 'vanishing');
  const held: string[] = [];
  for (let i = 0; i < 3; i++) held.push((await leaver.nextDelivery(1)).body.toString());
  assert.deepEqual(held, ['m0', 'm1', 'm2']);
  // half of a publish frame, then the TCP connection is gone
  const publish = leaver.publishBytes(1, '', 'vanishing', Buffer.from('never completed'));
  leaver.write(publish.subarray(0, Math.floor(publish.length / 2)));
  leaver.destroy();
  await leaver.waitForEnd();

  await bystanderStillServed();
  await bystander.consume(3, 'vanishing', 'after-vanish');
  const back: string[] = [];
  for (let i = 0; i < 3; i++) {
    const d = await bystander.nextDelivery(3);
    assert.equal((d.method.args as { redelivered: boolean }).redelivered, true);
    back.push(d.body.toString());
    bystander.ack(3, d.deliveryTag);
  }
  assert.deepEqual(back, ['m0', 'm1', 'm2']);
  // the half-sent publish never became a message
  assert.equal((await bystander.declareQueue(3, 'vanishing')).messageCount, 0);
  await bystander.closeChannel(3);
});
