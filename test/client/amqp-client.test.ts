/**
 * The project's own AMQP client (src/client/amqp) against a real broker: the behaviour `postbox bench` and
 * the lean load generators rely on beyond what the wire tests use (a frame handler, `call`, and failures
 * reported through onFailure).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpClient, contentBodySize, deliverTagOf } from '../../src/client/amqp/index.js';
import {
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  M_BASIC_CONSUME,
  M_BASIC_CONSUME_OK,
  M_BASIC_DELIVER,
  M_CHANNEL_OPEN,
  M_CHANNEL_OPEN_OK,
  M_QUEUE_DECLARE,
  M_QUEUE_DECLARE_OK,
} from '../../src/protocol/amqp/generated/spec.js';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

test('a frame handler takes the deliveries as they arrive, and the frame it declines (consume-ok) reaches call()', async () => {
  const c = await AmqpClient.open(broker.amqpPort);
  await c.openChannel(1);
  await c.declareQueue(1, 'handler-q');
  for (let i = 0; i < 50; i++) c.publish(1, '', 'handler-q', Buffer.from(`message ${i}`));
  const tags: number[] = [];
  let bodyBytes = 0;
  c.handler = (type, _channel, payload) => {
    if (type === FRAME_METHOD && payload.readUInt32BE(0) === M_BASIC_DELIVER) tags.push(deliverTagOf(payload));
    else if (type === FRAME_HEADER) bodyBytes += contentBodySize(payload);
    else return type === FRAME_BODY;
    return true;
  };
  const consume = {
    id: M_BASIC_CONSUME,
    args: { ticket: 0, queue: 'handler-q', consumerTag: 'h', noLocal: false, noAck: true, exclusive: false, nowait: false, arguments: {} },
  } as const;
  assert.equal((await c.call(1, consume, M_BASIC_CONSUME_OK)).consumerTag, 'h');
  await waitFor(() => tags.length === 50, 10_000, '50 deliveries');
  assert.deepEqual(
    tags,
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  assert.equal(
    bodyBytes,
    Array.from({ length: 50 }, (_, i) => `message ${i}`.length).reduce((a, b) => a + b),
  );
  await c.close();
});

test('with onFailure, a channel.close for the call waiting on it rejects that call, answered with close-ok', async () => {
  const failures: Error[] = [];
  const c = await AmqpClient.open(broker.amqpPort, { onFailure: (err) => failures.push(err) });
  await c.openChannel(1);
  const passive = {
    id: M_QUEUE_DECLARE,
    args: { ticket: 0, queue: 'no-such-queue', passive: true, durable: false, exclusive: false, autoDelete: false, nowait: false, arguments: {} },
  } as const;
  await assert.rejects(c.call(1, passive, M_QUEUE_DECLARE_OK), /the broker closed channel 1: 404 NOT_FOUND.*\(in queue\.declare\)/);
  assert.deepEqual(failures, [], 'the waiting call heard it, not onFailure');
  // close-ok went out: the broker opens channel 1 again (before close-ok it would ignore channel.open there)
  let reopened = false;
  c.handler = (type, channel, payload) => {
    reopened ||= type === FRAME_METHOD && channel === 1 && payload.readUInt32BE(0) === M_CHANNEL_OPEN_OK;
    return true;
  };
  c.send(1, { id: M_CHANNEL_OPEN, args: { outOfBand: '' } });
  await waitFor(() => reopened, 10_000, 'channel.open-ok');
  c.destroy();
});

test('with onFailure and nothing waiting, a channel.close is reported to onFailure once', async () => {
  const failures: Error[] = [];
  const c = await AmqpClient.open(broker.amqpPort, { onFailure: (err) => failures.push(err) });
  await c.openChannel(1);
  c.publish(1, 'no-such-exchange', 'k', Buffer.from('x'));
  await waitFor(() => failures.length > 0, 10_000, 'onFailure');
  assert.equal(failures.length, 1);
  assert.match(failures[0]!.message, /the broker closed channel 1: 404 NOT_FOUND/);
  await assert.rejects(c.nextFrame(), /the broker closed channel 1/, 'a later wait rejects with the same failure');
  await c.close();
});

test('with onFailure a connection.close is answered and reported once; without it, it is a frame to read', async () => {
  const failures: Error[] = [];
  const managed = await AmqpClient.open(broker.amqpPort, { onFailure: (err) => failures.push(err) });
  const plain = await AmqpClient.open(broker.amqpPort);
  // a frame type AMQP does not have: the broker closes the connection with 501 (a hard error)
  const unknownFrameType = Buffer.from([9, 0, 0, 0, 0, 0, 0, 0xce]);
  managed.write(unknownFrameType);
  plain.write(unknownFrameType);
  await waitFor(() => managed.isEnded, 10_000, 'the broker to end the connection after close-ok');
  assert.equal(failures.length, 1, failures.map((f) => f.message).join('; '));
  assert.match(failures[0]!.message, /^the broker closed the connection: 501 /);
  const close = await plain.awaitClose();
  assert.equal(close.scope, 'connection');
  assert.equal(close.replyCode, 501);
  assert.equal(await plain.nextFrame(), null, 'then the end of the socket, as data');
});
