/**
 * On a Node whose node:zlib has no zstd (Node 20, and 22 before 22.15), the broker still starts and serves:
 * a produced zstd batch gets UNSUPPORTED_COMPRESSION_TYPE (76, Kafka's answer for a codec it does not take),
 * logged once however often it happens, and every other codec is served as before. On a Node that has zstd,
 * the broker is started with a preload that removes zstd from node:zlib before Postbox loads, so this runs
 * the same on Node 20, 22 and 24. Also: Produce before v7 may not carry zstd (KIP-110), whatever the Node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { startTestBroker, tempDataDir, waitFor } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';
import { CompressionCodec, encodeBatch } from '../../src/format/kafka/records.js';
import { zstdUnavailableReason } from '../../src/format/kafka/zstd.js';

const NONE = 0;
const UNSUPPORTED_COMPRESSION_TYPE = 76;
const HEADER_BYTES = 61;

/** node:zlib without zstd: every zstd export deleted before anything else imports it */
const WITHOUT_ZSTD = `data:text/javascript,${encodeURIComponent("import zlib from 'node:zlib'; for (const k of Object.keys(zlib)) if (/zstd/i.test(k)) delete zlib[k];")}`;

/**
 * A zstd batch made without a zstd library: its records area in one zstd frame of one raw (stored) block
 * (magic, descriptor 0x20: single segment with a 1-byte content size, the size, block header: last, raw, size).
 */
function zstdBatch(values: string[], baseTimestamp = Date.now()): Buffer {
  const plain = encodeBatch({ baseTimestamp, records: values.map((value, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(value) })) });
  const area = plain.subarray(HEADER_BYTES);
  assert.ok(area.length < 256, 'a 1-byte content size');
  const blockHeader = 1 | (0 << 1) | (area.length << 3);
  const frame = Buffer.concat([
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, area.length]),
    Buffer.from([blockHeader & 0xff, (blockHeader >> 8) & 0xff, blockHeader >> 16]),
    area,
  ]);
  const batch = Buffer.concat([plain.subarray(0, HEADER_BYTES), frame]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(CompressionCodec.Zstd, 21);
  batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
  return batch;
}

test('without zstd in node:zlib, a zstd produce gets UNSUPPORTED_COMPRESSION_TYPE, logged once, and other codecs are served', async () => {
  const dataDir = tempDataDir('postbox-no-zstd-');
  const broker = await spawnBroker(dataDir, [], 20_000, [`--import=${WITHOUT_ZSTD}`]);
  const client = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await client.produce('no-zstd', 0, zstdBatch(['one', 'two']))).errorCode, UNSUPPORTED_COMPRESSION_TYPE, `zstd produce ${i}`);
    }
    const plain = await client.produce('no-zstd', 0, encodeBatch({ records: [{ key: null, value: Buffer.from('plain') }] }));
    assert.deepEqual(plain, { errorCode: NONE, baseOffset: 0n }, 'no zstd batch took an offset');
    const gzip = await client.produce('no-zstd', 0, encodeBatch({ compression: CompressionCodec.Gzip, records: [{ key: null, value: Buffer.from('gzip') }] }));
    assert.deepEqual(gzip, { errorCode: NONE, baseOffset: 1n });
    const lines = broker
      .output()
      .split('\n')
      .filter((line) => line.includes('UNSUPPORTED_COMPRESSION_TYPE'));
    assert.equal(lines.length, 1, `one log line for three refusals:\n${broker.output()}`);
    assert.match(lines[0]!, /zstd is not available on Node .* \(node:zlib has zstd from Node 22\.15 and 23\.8\)/);
  } finally {
    client.close();
    broker.child.kill('SIGTERM');
    await broker.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

async function listOffsetByTime(client: RawKafkaClient, topic: string, timestamp: bigint): Promise<{ errorCode: number; offset: bigint }> {
  const response = await client.request(2, 6, {
    replicaId: -1,
    isolationLevel: 0,
    timeoutMs: 0,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }] }],
  });
  const p = response.topics[0]!.partitions[0]!;
  return { errorCode: p.errorCode, offset: p.offset };
}

test('without zstd in node:zlib, zstd batches already stored are fetched as they are and a lookup by time answers their first offset', async () => {
  const dataDir = tempDataDir('postbox-no-zstd-stored-');
  const t = Date.now() - 60_000;
  const stored = [zstdBatch(['a', 'b'], t), zstdBatch(['c', 'd'], t + 10_000)];
  // stored below the produce path (as a broker on a Node with zstd would have stored them), then the broker stops
  const writer = await startTestBroker({ dataDir });
  const partition = writer.streams.createTopic('stored-zstd', 1, {}).partitions[0]!;
  for (const batch of stored) partition.log.append(batch, t);
  const end = partition.log.endOffset;
  writer.streams.appended(partition);
  await waitFor(() => partition.highWatermark >= end, 10_000, 'the appends to become durable');
  await writer.stop();
  const broker = await spawnBroker(dataDir, [], 20_000, [`--import=${WITHOUT_ZSTD}`]);
  const client = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    // a time inside the second batch: its first offset, 2 (skipping the batch would answer "no such offset")
    assert.deepEqual(await listOffsetByTime(client, 'stored-zstd', BigInt(t + 5_000)), { errorCode: NONE, offset: 2n });
    assert.deepEqual(await listOffsetByTime(client, 'stored-zstd', BigInt(t - 1)), { errorCode: NONE, offset: 0n });
    // both batches are served byte for byte as stored (from the magic byte on; the broker wrote the offsets)
    const fetched = await client.fetch('stored-zstd', 0, 0n);
    assert.equal(fetched.errorCode, NONE);
    const served = fetched.records!;
    assert.equal(served.length, stored[0]!.length + stored[1]!.length);
    assert.deepEqual(served.subarray(16, stored[0]!.length), stored[0]!.subarray(16));
    assert.deepEqual(served.subarray(stored[0]!.length + 16), stored[1]!.subarray(16));
    assert.deepEqual([served.readBigInt64BE(0), served.readBigInt64BE(stored[0]!.length)], [0n, 2n]);
    assert.equal(
      broker
        .output()
        .split('\n')
        .filter((line) => line.includes('UNSUPPORTED_COMPRESSION_TYPE')).length,
      1,
      broker.output(),
    );
  } finally {
    client.close();
    broker.child.kill('SIGTERM');
    await broker.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a zstd batch on Produce v3 to v6 gets UNSUPPORTED_COMPRESSION_TYPE, as from Kafka, and v7 takes it', async (t) => {
  const broker = await startTestBroker();
  const client = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    const produce = async (version: number, records: Buffer): Promise<number> => {
      const response = await client.request(0, version, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: 'zstd-versions', partitionData: [{ index: 0, records }] }],
      });
      return response.responses[0]!.partitionResponses[0]!.errorCode as number;
    };
    for (const version of [3, 4, 5, 6]) assert.equal(await produce(version, zstdBatch(['old client'])), UNSUPPORTED_COMPRESSION_TYPE, `v${version}`);
    assert.equal(
      await produce(3, encodeBatch({ compression: CompressionCodec.Gzip, records: [{ key: null, value: Buffer.from('gzip') }] })),
      NONE,
      'gzip on v3',
    );
    const missing = zstdUnavailableReason();
    if (missing !== null) {
      t.diagnostic(`v7 left out: ${missing}`);
      return;
    }
    assert.equal(await produce(7, zstdBatch(['new client'])), NONE, 'zstd on v7');
  } finally {
    client.close();
    await broker.stop();
  }
});
