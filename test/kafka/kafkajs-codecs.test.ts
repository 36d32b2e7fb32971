/**
 * kafkajs produces and consumes with every codec: gzip is built in; snappy, lz4 and zstd are registered the
 * way the kafkajs-snappy / kafkajs-lz4 / zstd codec packages do it (raw snappy out, the LZ4 frame format,
 * a zstd frame), over the same libraries Postbox depends on (zstd: node:zlib's; on a Node without it the
 * zstd cases are skipped, with the reason). The broker stores the batches as sent
 * and serves them back; kafkajs decodes them in a consumer group.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from 'snappy';
import { compressRecords, decompressRecords, CompressionCodec } from '../../src/format/kafka/compression.js';
import { zstdUnavailableReason } from '../../src/format/kafka/zstd.js';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';

// CommonJS: the codec registry is reached through the default export
const { CompressionCodecs, CompressionTypes } = kafkajs;

interface Encoder {
  buffer: Buffer;
}

CompressionCodecs[CompressionTypes.Snappy] = () => ({
  compress: async (encoder: Encoder) => snappyCompress(encoder.buffer),
  decompress: async (buffer: Buffer) => snappyUncompress(buffer) as Buffer,
});
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder: Encoder) => compressFrameSync(encoder.buffer),
  decompress: async (buffer: Buffer) => decompressFrameSync(buffer),
});
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: async (encoder: Encoder) => compressRecords(CompressionCodec.Zstd, encoder.buffer),
  decompress: async (buffer: Buffer) => decompressRecords(CompressionCodec.Zstd, buffer),
});

const ZSTD_MISSING = zstdUnavailableReason();
const CODECS = (
  [
    ['gzip', CompressionTypes.GZIP],
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
    ['zstd', CompressionTypes.ZSTD],
  ] as const
).filter(([name]) => name !== 'zstd' || ZSTD_MISSING === null);
const PER_CODEC = 40;
const WAIT_MS = 20_000;

let broker: TestBroker;
let admin: Admin;
let producer: Producer;
let consumer: Consumer;

before(async () => {
  broker = await startTestBroker();
  const kafka = new Kafka({ clientId: 'codecs-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true });
  await producer.connect();
  consumer = kafka.consumer({ groupId: 'codecs-group', sessionTimeout: 6000, heartbeatInterval: 100, maxWaitTimeInMs: 100 });
});
after(async () => {
  await consumer.disconnect();
  await producer.disconnect();
  await admin.disconnect();
  await broker.stop();
});

if (ZSTD_MISSING !== null) test('kafkajs produces and reads back zstd batches', { skip: ZSTD_MISSING }, () => {});

test('kafkajs produces keyed batches with gzip, snappy, lz4 and zstd and a consumer group reads each back in order, decoded', async () => {
  await admin.createTopics({ topics: CODECS.map(([name]) => ({ topic: `codec.${name}`, numPartitions: 1 })) });
  for (const [name, compression] of CODECS) {
    // two batches per codec, so the second starts at an offset inside the log, not at 0
    for (const half of [0, 1]) {
      const messages = Array.from({ length: PER_CODEC / 2 }, (_, i) => {
        const n = half * (PER_CODEC / 2) + i;
        return { key: `k${n % 5}`, value: `${name} record ${n} `.repeat(8) };
      });
      const [result] = await producer.send({ topic: `codec.${name}`, acks: -1, compression, messages });
      assert.equal(result!.errorCode, 0);
      assert.equal(result!.baseOffset, String(half * (PER_CODEC / 2)));
    }
  }
  const received = new Map<string, Array<{ offset: string; key: string; value: string }>>();
  await consumer.subscribe({ topics: CODECS.map(([name]) => `codec.${name}`), fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      let list = received.get(topic);
      if (list === undefined) received.set(topic, (list = []));
      list.push({ offset: message.offset, key: message.key!.toString(), value: message.value!.toString() });
    },
  });
  await waitFor(() => CODECS.every(([name]) => (received.get(`codec.${name}`)?.length ?? 0) >= PER_CODEC), WAIT_MS, 'every record of every codec');
  for (const [name] of CODECS) {
    const list = received.get(`codec.${name}`)!;
    assert.equal(list.length, PER_CODEC, `${name}: each record once`);
    list.forEach((r, n) => {
      assert.equal(r.offset, String(n), `${name}: offsets in order`);
      assert.equal(r.key, `k${n % 5}`);
      assert.equal(r.value, `${name} record ${n} `.repeat(8));
    });
  }
});
