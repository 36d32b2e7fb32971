/**
 * The Kafka listener against hostile and awkward input: requests split at every byte boundary give the same
 * answers as whole ones; random and mutated frames close only their own connection (or get a proper answer),
 * and a bystander connection keeps producing and fetching throughout.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { RawKafkaClient, encodeBatch } from '../helpers/kafka-raw.js';
import { encodeRequest } from '../../src/protocol/kafka/envelope.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

/** Writes `bytes` in the given pieces (one write per piece, each after the previous is flushed) and collects `frames` response frames. */
async function exchange(pieces: Buffer[], frames: number): Promise<Buffer[]> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => socket.connect(broker.kafkaPort, '127.0.0.1', resolve).once('error', reject));
  socket.setNoDelay(true);
  let received = Buffer.alloc(0);
  const out: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
        const size = received.readInt32BE(0);
        out.push(received.subarray(4, 4 + size));
        received = received.subarray(4 + size);
      }
      if (out.length >= frames) resolve();
    });
    socket.on('close', () => reject(new Error(`closed after ${out.length} of ${frames} answers`)));
  });
  for (const piece of pieces) await new Promise<void>((resolve) => socket.write(piece, () => resolve()));
  await done;
  socket.destroy();
  return out;
}

function metadataRequest(correlationId: number): Buffer {
  return encodeRequest(3, 9, correlationId, 'split', { topics: [{ name: 'split-topic', topicId: Buffer.alloc(16) }], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
}

test('two pipelined requests split at every byte boundary get the same answers as when sent whole', async () => {
  const whole = Buffer.concat([metadataRequest(1), encodeRequest(18, 3, 2, 'split', { clientSoftwareName: 'x', clientSoftwareVersion: '1' })]);
  const expected = await exchange([whole], 2);
  // the topic's id is random but fixed once created: every later answer must be byte-identical
  for (let cut = 1; cut < whole.length; cut++) {
    const got = await exchange([whole.subarray(0, cut), whole.subarray(cut)], 2);
    assert.deepEqual(got, expected, `split at byte ${cut}`);
  }
  const byteByByte = await exchange(Array.from(whole, (b) => Buffer.from([b])), 2);
  assert.deepEqual(byteByByte, expected);
});

test('random and mutated frames close only their own connection; a bystander keeps producing and fetching', async () => {
  const bystander = await RawKafkaClient.connect(broker.kafkaPort);
  const valid = [metadataRequest(7), encodeRequest(18, 2, 8, 'fuzz', { clientSoftwareName: '', clientSoftwareVersion: '' })];
  let seed = 0x2545f491;
  const random = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  try {
    for (let round = 0; round < 150; round++) {
      const socket = new Socket();
      await new Promise<void>((resolve, reject) => socket.connect(broker.kafkaPort, '127.0.0.1', resolve).once('error', reject));
      let frame: Buffer;
      if (round % 3 === 0) {
        // random bytes behind a plausible size
        const length = 4 + random(200);
        frame = Buffer.alloc(4 + length);
        frame.writeInt32BE(length, 0);
        for (let i = 4; i < frame.length; i++) frame[i] = random(256);
      } else {
        frame = Buffer.from(valid[round % valid.length]!);
        for (let flips = 1 + random(4); flips > 0; flips--) frame[4 + random(frame.length - 4)] = random(256);
      }
      await new Promise<void>((resolve) => {
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
        socket.on('data', () => socket.destroy());
        socket.write(frame);
        setTimeout(() => socket.destroy(), 200).unref();
      });
      if (round % 25 === 0) {
        const batch = await encodeBatch({ records: [{ value: `still-${round}` }] });
        const { errorCode } = await bystander.produce('fuzz-bystander', 0, batch);
        assert.equal(errorCode, 0, `bystander produce after round ${round}`);
      }
    }
    const values = (await bystander.readToEnd('fuzz-bystander', 0, 0n)).map((r) => r.value);
    assert.deepEqual(values, Array.from({ length: 6 }, (_, i) => `still-${i * 25}`));
  } finally {
    bystander.close();
  }
});
