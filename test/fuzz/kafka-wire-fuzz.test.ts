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
import { KafkaConnection } from '../../src/protocol/kafka/connection.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

/** Writes `bytes` in the given pieces (one write per piece, each after the previous is flushed) and collects `frames` response frames. */
async function exchange(pieces: Buffer[], frames: number, port = broker.kafkaPort): Promise<Buffer[]> {
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => socket.connect(port, '127.0.0.1', resolve).once('error', reject));
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
  return encodeRequest(3, 9, correlationId, 'split', {
    topics: [{ name: 'split-topic', topicId: Buffer.alloc(16) }],
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
}

test('two pipelined requests split at every byte boundary get the same answers as when sent whole', async () => {
  const whole = Buffer.concat([metadataRequest(1), encodeRequest(18, 3, 2, 'split', { clientSoftwareName: 'x', clientSoftwareVersion: '1' })]);
  const expected = await exchange([whole], 2);
  // the topic's id is random but fixed once created: every later answer must be byte-identical
  for (let cut = 1; cut < whole.length; cut++) {
    const got = await exchange([whole.subarray(0, cut), whole.subarray(cut)], 2);
    assert.deepEqual(got, expected, `split at byte ${cut}`);
  }
  const byteByByte = await exchange(
    Array.from(whole, (b) => Buffer.from([b])),
    2,
  );
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
    assert.deepEqual(
      values,
      Array.from({ length: 6 }, (_, i) => `still-${i * 25}`),
    );
  } finally {
    bystander.close();
  }
});

/**
 * Produce requests larger than a connection's receive buffer (64 KiB) and than one socket read, pipelined in
 * one stream cut at random points, through both read paths: the shared read buffer (the default) and
 * Node's 'data' events (POSTBOX_SOCKET_READS=stream). Every record is stored intact and in order, and a
 * Metadata request pipelined between them is answered. The receive buffer grows, moves and is reused here;
 * the last request (2.2 MB, three topics) is larger than the room reserved ahead, so its buffer grows as
 * its bytes arrive.
 */
for (const reads of ['shared', 'stream'] as const) {
  test(`large pipelined produce requests cut at random points are stored intact (${reads} reads)`, async () => {
    if (reads === 'stream') process.env.POSTBOX_SOCKET_READS = 'stream';
    const own = await startTestBroker();
    delete process.env.POSTBOX_SOCKET_READS;
    try {
      let seed = reads === 'shared' ? 0x1234567 : 0x7654321;
      const random = (n: number): number => {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) % n;
      };
      const value = (request: number, record: number): string =>
        `r${request}-${record}-`.padEnd(20_000 + ((request * 7 + record * 13) % 5000), String.fromCharCode(97 + ((request + record) % 26)));
      const requests: Buffer[] = [];
      const sent: string[] = [];
      let correlationId = 1;
      for (let r = 0; r < 6; r++) {
        // 6 to 40 records of 20-25 KB: requests of 120 KB to about 1 MB
        const records = Array.from({ length: 6 + random(35) }, (_, i) => ({ value: value(r, i) }));
        sent.push(...records.map((x) => x.value));
        const batch = await encodeBatch({ records });
        requests.push(
          encodeRequest(0, 7, correlationId++, 'big', {
            transactionalId: null,
            acks: -1,
            timeoutMs: 5000,
            topicData: [{ name: `big-${reads}`, partitionData: [{ index: 0, records: batch }] }],
          }),
        );
        if (r === 2)
          requests.push(
            encodeRequest(3, 9, correlationId++, 'big', {
              topics: [{ name: `big-${reads}`, topicId: Buffer.alloc(16) }],
              allowAutoTopicCreation: true,
              includeClusterAuthorizedOperations: false,
              includeTopicAuthorizedOperations: false,
            }),
          );
      }
      const side: Record<string, string[]> = {};
      const topicData = [];
      for (const suffix of ['a', 'b', 'c']) {
        const records = Array.from({ length: 36 }, (_, i) => ({ value: value(100 + suffix.charCodeAt(0), i) }));
        side[suffix] = records.map((x) => x.value);
        topicData.push({ name: `big-${reads}-${suffix}`, partitionData: [{ index: 0, records: await encodeBatch({ records }) }] });
      }
      requests.push(encodeRequest(0, 7, correlationId++, 'big', { transactionalId: null, acks: -1, timeoutMs: 5000, topicData }));
      assert.ok(requests[requests.length - 1]!.length > 2_000_000);
      const whole = Buffer.concat(requests);
      const pieces: Buffer[] = [];
      for (let at = 0; at < whole.length;) {
        const length = Math.min(whole.length - at, 1 + random(200_000));
        pieces.push(whole.subarray(at, at + length));
        at += length;
      }
      const answers = await exchange(pieces, requests.length, own.kafkaPort);
      assert.equal(answers.length, requests.length);
      // every answer is for its own request, in order (the correlation id leads each response frame)
      assert.deepEqual(
        answers.map((a) => a.readInt32BE(0)),
        Array.from(requests, (_, i) => i + 1),
      );
      const client = await RawKafkaClient.connect(own.kafkaPort);
      try {
        const stored = await client.readToEnd(`big-${reads}`, 0, 0n);
        assert.equal(stored.length, sent.length);
        assert.ok(
          stored.every((s, i) => s.value === sent[i]),
          'every record stored intact and in order',
        );
        for (const suffix of ['a', 'b', 'c']) {
          const values = (await client.readToEnd(`big-${reads}-${suffix}`, 0, 0n)).map((r) => r.value);
          assert.ok(values.length === 36 && values.every((v, i) => v === side[suffix]![i]), `topic ${suffix} of the 2.2 MB request`);
        }
        // the path under test is the one taken: every open Kafka connection reads the way this run asked
        const open = [...own.core.clients].filter((c): c is KafkaConnection => c instanceof KafkaConnection);
        assert.ok(open.length > 0);
        assert.ok(
          open.every((c) => c.sharedReads === (reads === 'shared')),
          `every connection reads ${reads}`,
        );
      } finally {
        client.close();
      }
    } finally {
      await own.stop();
    }
  });
}
