/**
 * The connection handshake spoken in raw bytes: protocol header, connection.start / secure / tune / open,
 * the SASL mechanisms, tune negotiation and heartbeats.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FieldTable } from '../../src/core/field-table.js';
import { PROTOCOL_HEADER } from '../../src/protocol/amqp/frame-parser.js';
import {
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  M_BASIC_DELIVER,
  M_CONNECTION_OPEN_OK,
  M_CONNECTION_SECURE,
  M_CONNECTION_SECURE_OK,
  M_CONNECTION_TUNE,
} from '../../src/protocol/amqp/generated/spec.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { AmqpClient, amqplainResponse, plainResponse, rawFrame } from '../../src/client/amqp/index.js';

let broker: TestBroker;

before(async () => {
  broker = await startTestBroker({
    users: [
      { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] },
      { name: 'limited', password: 'limited-pw', vhosts: ['/'], loopbackOnly: false, tags: [] },
    ],
    vhosts: ['/', 'other'],
  });
});

after(async () => {
  await broker.stop();
});

/** login and read connection.tune, leaving tune-ok to the test */
async function untilTune(client: AmqpClient) {
  await client.start();
  client.startOk('PLAIN', plainResponse('guest', 'guest'));
  return client.expect(M_CONNECTION_TUNE, 0);
}

// ---------------------------------------------------------------- protocol header

for (const [what, header] of [
  ['AMQP 0-10', Buffer.from([0x41, 0x4d, 0x51, 0x50, 1, 1, 0, 10])],
  ['AMQP 1.0', Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0])],
  ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
] as const) {
  test(`a client that opens with ${what} gets the AMQP 0-9-1 header back and the socket closed`, async () => {
    const client = await AmqpClient.connect(broker.amqpPort);
    client.write(header);
    await client.waitForEnd();
    assert.deepEqual(client.receivedBytes(), PROTOCOL_HEADER);
  });
}

// ---------------------------------------------------------------- connection.start

test('connection.start offers 0-9, the PLAIN and AMQPLAIN mechanisms and the capabilities RabbitMQ clients look for', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  const start = await client.start();
  assert.equal(start.versionMajor, 0);
  assert.equal(start.versionMinor, 9);
  const mechanisms = start.mechanisms.toString('utf8').split(' ');
  assert.ok(mechanisms.includes('PLAIN'), `mechanisms: ${mechanisms.join(' ')}`);
  assert.ok(mechanisms.includes('AMQPLAIN'), `mechanisms: ${mechanisms.join(' ')}`);
  assert.ok(start.locales.toString('utf8').split(' ').includes('en_US'));
  const capabilities = start.serverProperties.capabilities as FieldTable;
  for (const capability of [
    'publisher_confirms',
    'exchange_exchange_bindings',
    'basic.nack',
    'consumer_cancel_notify',
    'connection.blocked',
    'authentication_failure_close',
    'per_consumer_qos',
    'direct_reply_to',
  ]) {
    assert.equal(capabilities[capability], true, `capability ${capability}`);
  }
  assert.equal(typeof start.serverProperties.product, 'string');
  assert.equal(typeof start.serverProperties.version, 'string');
  client.destroy();
});

// ---------------------------------------------------------------- SASL

test('AMQPLAIN login with the right credentials opens the connection', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  await client.start();
  client.startOk('AMQPLAIN', amqplainResponse('guest', 'guest'));
  const tune = await client.expect(M_CONNECTION_TUNE, 0);
  client.tuneOk(tune);
  client.connectionOpen('/');
  await client.expect(M_CONNECTION_OPEN_OK, 0);
  await client.close();
});

test('AMQPLAIN login with a wrong password is refused with connection.close 403', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  await client.start();
  client.startOk('AMQPLAIN', amqplainResponse('guest', 'wrong'));
  const close = await client.awaitClose();
  assert.equal(close.scope, 'connection');
  assert.equal(close.replyCode, 403);
  assert.match(close.replyText, /^ACCESS_REFUSED/);
});

test('PLAIN with an empty response gets connection.secure, and secure-ok with the credentials completes the login', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  await client.start();
  client.startOk('PLAIN', Buffer.alloc(0));
  await client.expect(M_CONNECTION_SECURE, 0);
  client.send(0, { id: M_CONNECTION_SECURE_OK, args: { response: plainResponse('guest', 'guest') } });
  const tune = await client.expect(M_CONNECTION_TUNE, 0);
  client.tuneOk(tune);
  client.connectionOpen('/');
  await client.expect(M_CONNECTION_OPEN_OK, 0);
  await client.close();
});

test('a wrong password is refused with connection.close 403 naming connection.start-ok', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  await client.start();
  client.startOk('PLAIN', plainResponse('guest', 'not-the-password'));
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode, close.classId, close.methodId], ['connection', 403, 10, 11]);
  assert.match(close.replyText, /^ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN/);
});

test('an unknown user is refused with connection.close 403', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  await client.start();
  client.startOk('PLAIN', plainResponse('nobody', 'guest'));
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode], ['connection', 403]);
});

// ---------------------------------------------------------------- connection.tune

test('connection.tune offers the configured frame-max, channel-max and heartbeat', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  const tune = await untilTune(client);
  assert.equal(tune.frameMax, broker.config.frameMax);
  assert.equal(tune.channelMax, broker.config.channelMax);
  assert.equal(tune.heartbeat, broker.config.heartbeatSeconds);
  client.destroy();
});

test('a client frame-max above the broker offer is refused with 530 on connection.tune-ok', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  const tune = await untilTune(client);
  client.tuneOk(tune, { frameMax: tune.frameMax + 1 });
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode, close.classId, close.methodId], ['connection', 530, 10, 31]);
});

test('a client frame-max below the 4096 frame-min-size is refused with 530 on connection.tune-ok', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  const tune = await untilTune(client);
  client.tuneOk(tune, { frameMax: 4095 });
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode, close.classId, close.methodId], ['connection', 530, 10, 31]);
});

test('a client channel-max above the broker offer is refused with 530 on connection.tune-ok', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  const tune = await untilTune(client);
  client.tuneOk(tune, { channelMax: tune.channelMax + 1 });
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode, close.classId, close.methodId], ['connection', 530, 10, 31]);
});

test('frame-max 0 in tune-ok means the broker frame-max: a frame of exactly that size is accepted', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { frameMax: 0 });
  assert.equal(client.frameMax, broker.config.frameMax);
  await client.openChannel(1);
  // one body frame of frame-max bytes in all
  const body = Buffer.alloc(broker.config.frameMax - 8, 0x61);
  const received = await client.publishAndConsume(1, 'frame-max-zero', body);
  assert.equal(received.length, body.length);
  assert.ok(received.equals(body));
  await client.close();
});

test('a frame larger than the negotiated frame-max closes the connection with 501', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { frameMax: 8192 });
  await client.openChannel(1);
  await client.declareQueue(1, 'frame-max-small');
  const publish = client.publishBytes(1, '', 'frame-max-small', Buffer.alloc(10));
  // the method and header frames of a publish, then one body frame one byte over the limit
  client.write(publish.subarray(0, publish.length - (10 + 8)));
  client.write(rawFrame(FRAME_BODY, 1, Buffer.alloc(8192 - 8 + 1)));
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode], ['connection', 501]);
});

test('deliveries are split into body frames no larger than the negotiated frame-max', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { frameMax: 4096 });
  await client.openChannel(1);
  await client.declareQueue(1, 'split-bodies');
  const body = Buffer.alloc(10_000);
  for (let i = 0; i < body.length; i++) body[i] = i & 0xff;
  client.publish(1, '', 'split-bodies', body);
  await client.consume(1, 'split-bodies', 'c1', true);
  await client.expect(M_BASIC_DELIVER, 1);
  const header = await client.nextFrame();
  assert.equal(header?.type, FRAME_HEADER);
  const sizes: number[] = [];
  let received = 0;
  const parts: Buffer[] = [];
  while (received < body.length) {
    const frame = await client.nextFrame();
    assert.ok(frame !== null && frame.type === FRAME_BODY);
    sizes.push(frame.payload.length + 8);
    parts.push(frame.payload);
    received += frame.payload.length;
  }
  assert.ok(
    sizes.every((s) => s <= 4096),
    `body frame sizes ${sizes.join(', ')}`,
  );
  assert.ok(Buffer.concat(parts).equals(body));
  await client.close();
});

// ---------------------------------------------------------------- connection.open

test('connection.open of a vhost the user may not use is refused with 530', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  await client.start();
  client.startOk('PLAIN', plainResponse('limited', 'limited-pw'));
  const tune = await client.expect(M_CONNECTION_TUNE, 0);
  client.tuneOk(tune);
  client.connectionOpen('other');
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode, close.classId, close.methodId], ['connection', 530, 10, 40]);
  assert.match(close.replyText, /access to vhost 'other' refused for user 'limited'/);
});

test('connection.open of a vhost that does not exist is refused with 530', async () => {
  const client = await AmqpClient.connect(broker.amqpPort);
  const tune = await untilTune(client);
  client.tuneOk(tune);
  client.connectionOpen('no-such-vhost');
  const close = await client.awaitClose();
  assert.deepEqual([close.scope, close.replyCode, close.classId, close.methodId], ['connection', 530, 10, 40]);
});

test('a user allowed into a vhost other than the default opens it', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { vhost: 'other' });
  await client.openChannel(1);
  const body = await client.publishAndConsume(1, 'in-other', Buffer.from('other vhost'));
  assert.equal(body.toString(), 'other vhost');
  await client.close();
});

// ---------------------------------------------------------------- heartbeats

test('with heartbeat=1 the broker sends heartbeat frames on an idle connection', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { heartbeat: 1 });
  // the broker must speak first: we send nothing until its heartbeat arrives
  const frame = await client.nextFrame();
  assert.ok(frame !== null, 'connection ended before a heartbeat arrived');
  assert.equal(frame.type, FRAME_HEARTBEAT);
  assert.equal(frame.channel, 0);
  assert.equal(frame.payload.length, 0);
  client.write(rawFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0)));
  await client.close();
});

test('a client that negotiated heartbeat=1 and then stays silent is disconnected by the broker', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { heartbeat: 1 });
  await client.waitForEnd(15_000);
  assert.ok(client.isEnded);
});

test('a client that keeps sending heartbeats stays connected past several heartbeat intervals', async () => {
  const client = await AmqpClient.open(broker.amqpPort, { heartbeat: 1 });
  // answer each of the broker's heartbeats; four of them outlast the two silent intervals that end a connection
  for (let i = 0; i < 4; i++) {
    const frame = await client.nextFrame();
    assert.ok(frame !== null, `connection ended after ${i} heartbeats`);
    assert.equal(frame.type, FRAME_HEARTBEAT);
    client.write(rawFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0)));
  }
  await client.openChannel(1);
  await client.close();
});
