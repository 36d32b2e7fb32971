/**
 * Postbox through kcat (Debian's kcat on librdkafka 2.0.2; .ci/run installs it): metadata, produce with
 * keys and every compression codec, consume from the beginning and from an offset.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { requireCommand, run } from '../helpers/external.js';
import { zstdUnavailableReason } from '../../src/format/kafka/zstd.js';

let broker: TestBroker;
let kcat: string;
let bootstrap: string;

before(async () => {
  kcat = await requireCommand('kcat', '-V', 'install it with `apt-get install kcat`');
  broker = await startTestBroker({ kafkaDefaultPartitions: 1 });
  bootstrap = `127.0.0.1:${broker.kafkaPort}`;
});
after(async () => {
  await broker.stop();
});

async function kcatOk(args: string[], input?: string): Promise<string> {
  const result = await run(kcat, ['-b', bootstrap, ...args], input);
  assert.equal(result.code, 0, `kcat ${args.join(' ')} failed (exit ${String(result.code)}):\n${result.stderr}`);
  return result.stdout;
}

test('kcat lists the broker and the topics with their partitions (-L -J)', async () => {
  await broker.streams.createTopic('kcat-listed', 3, {});
  const metadata = JSON.parse(await kcatOk(['-L', '-J'])) as {
    brokers: Array<{ id: number; name: string }>;
    topics: Array<{ topic: string; partitions: unknown[] }>;
  };
  assert.deepEqual(
    metadata.brokers.map((b) => b.id),
    [0],
  );
  const listed = metadata.topics.find((t) => t.topic === 'kcat-listed');
  assert.equal(listed?.partitions.length, 3);
});

for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
  // zstd needs node:zlib's (Node 22.15+, 23.8+); without it the broker answers UNSUPPORTED_COMPRESSION_TYPE
  const skip = codec === 'zstd' ? (zstdUnavailableReason() ?? false) : false;
  test(`kcat produces keyed records compressed with ${codec} (acks=all) and consumes them back in order`, { skip }, async () => {
    const topic = `kcat-${codec}`;
    const lines = Array.from({ length: 200 }, (_, i) => `key${i % 7}\tvalue-${codec}-${i}`);
    await kcatOk(['-P', '-t', topic, '-K', '\t', '-z', codec, '-X', 'acks=all', '-X', 'linger.ms=50'], lines.join('\n') + '\n');
    const out = await kcatOk(['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k=%s@%o\n']);
    assert.deepEqual(
      out.trim().split('\n'),
      lines.map((l, i) => `${l.replace('\t', '=')}@${i}`),
    );
  });
}

test('kcat consumes from an absolute offset and from the end minus N', async () => {
  const topic = 'kcat-offsets';
  await kcatOk(['-P', '-t', topic, '-X', 'acks=all'], Array.from({ length: 30 }, (_, i) => `m${i}`).join('\n') + '\n');
  const fromTen = await kcatOk(['-C', '-t', topic, '-o', '10', '-e', '-q', '-f', '%o ']);
  assert.deepEqual(
    fromTen.trim().split(' ').map(Number),
    Array.from({ length: 20 }, (_, i) => 10 + i),
  );
  const lastFive = await kcatOk(['-C', '-t', topic, '-o', '-5', '-e', '-q', '-f', '%s ']);
  assert.deepEqual(lastFive.trim().split(' '), ['m25', 'm26', 'm27', 'm28', 'm29']);
});

test('kcat sees the record timestamps the producer set and reads by timestamp (-o s@)', async () => {
  const topic = 'kcat-times';
  const base = Date.now() - 60_000;
  // kcat -P cannot set a timestamp per line, so produce three runs at different times and look them up
  await kcatOk(['-P', '-t', topic, '-X', 'acks=all'], 'early\n');
  const out = await kcatOk(['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%T\n']);
  const timestamp = Number(out.trim());
  assert.ok(timestamp > base, `timestamp ${timestamp} should be recent`);
  await kcatOk(['-P', '-t', topic, '-X', 'acks=all'], 'late\n');
  const fromTime = await kcatOk(['-C', '-t', topic, '-o', `s@${timestamp + 1}`, '-e', '-q', '-f', '%s\n']);
  assert.deepEqual(fromTime.trim().split('\n'), ['late']);
});
