import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { Socket } from 'node:net';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { decodeResponse, encodeRequest } from '../../src/protocol/kafka/envelope.js';
import { ADVERTISED_APIS } from '../../src/protocol/kafka/connection.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

test('kafkajs connects to the Kafka listener: ApiVersions and Metadata answer, and a fresh broker has no topics', async () => {
  const kafka = new Kafka({ clientId: 'postbox-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    assert.deepEqual(await admin.listTopics(), []);
    const cluster = await admin.describeCluster();
    assert.equal(cluster.clusterId, 'postbox');
    assert.deepEqual(cluster.brokers, [{ nodeId: 0, host: '127.0.0.1', port: broker.kafkaPort }]);
  } finally {
    await admin.disconnect();
  }
});

/** send one raw frame and read one response frame */
async function roundTrip(frame: Buffer): Promise<Buffer> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => socket.connect(broker.kafkaPort, '127.0.0.1', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  const response = await new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= 4 + all.readInt32BE(0)) resolve(all);
    });
    socket.once('error', reject);
    socket.write(frame);
  });
  socket.destroy();
  return response;
}

test('ApiVersions v3 advertises exactly the served versions, with the v0 response header', async () => {
  const frame = encodeRequest(18, 3, 7, 'raw', { clientSoftwareName: 'raw', clientSoftwareVersion: '1' });
  const raw = await roundTrip(frame);
  const { correlationId, body } = decodeResponse(18, 3, raw.subarray(4));
  assert.equal(correlationId, 7);
  assert.equal(body.errorCode, 0);
  assert.deepEqual(body.apiKeys, ADVERTISED_APIS);
});

test('an ApiVersions version the broker does not know gets UNSUPPORTED_VERSION with the supported versions (v0)', async () => {
  // hand-built header: api key 18, version 99, correlation id 42, client id null; no body
  const frame = Buffer.alloc(14);
  frame.writeInt32BE(10, 0);
  frame.writeInt16BE(18, 4);
  frame.writeInt16BE(99, 6);
  frame.writeInt32BE(42, 8);
  frame.writeInt16BE(-1, 12);
  const raw = await roundTrip(frame);
  const { correlationId, body } = decodeResponse(18, 0, raw.subarray(4));
  assert.equal(correlationId, 42);
  assert.equal(body.errorCode, 35);
  assert.ok(body.apiKeys.some((a) => a.apiKey === 3));
});

test('a Metadata request that forbids auto-creation answers UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist', async () => {
  const frame = encodeRequest(3, 4, 9, 'raw', {
    topics: [{ name: 'nope', topicId: Buffer.alloc(16) }],
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
  const { body } = decodeResponse(3, 4, (await roundTrip(frame)).subarray(4));
  assert.equal(body.topics.length, 1);
  assert.equal(body.topics[0]!.name, 'nope');
  assert.equal(body.topics[0]!.errorCode, 3);
  assert.equal(broker.streams.topic('nope'), undefined);
});

test('a garbage frame closes only that Kafka connection; the listener keeps serving', async () => {
  const socket = new Socket();
  await new Promise<void>((resolve) => socket.connect(broker.kafkaPort, '127.0.0.1', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  socket.write(Buffer.from([0, 0, 0, 6, 0xff, 0xff, 0, 0, 0, 1]));
  await closed;
  const frame = encodeRequest(18, 0, 1, null, { clientSoftwareName: '', clientSoftwareVersion: '' });
  assert.equal(decodeResponse(18, 0, (await roundTrip(frame)).subarray(4)).body.errorCode, 0);
});
