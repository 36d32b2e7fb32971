/**
 * Postbox through the Python Kafka clients from Debian (.ci/run installs them): confluent-kafka (librdkafka
 * 2.0.2) and kafka-python 2.0.2. Each script prints a line per step; the test checks the lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker } from '../helpers/broker.js';
import { findPython, findRepoFile, run } from '../helpers/external.js';
import { zstdUnavailableReason } from '../../src/format/kafka/zstd.js';

async function runSmoke(module: string, hint: string, script: string): Promise<string[]> {
  const python = await findPython(module, hint);
  const broker = await startTestBroker();
  try {
    const { code, stdout, stderr } = await run(python, [findRepoFile(script), String(broker.kafkaPort)]);
    assert.equal(code, 0, `${script} failed (exit ${String(code)}):\n${stdout}\n${stderr}`);
    return stdout.trim().split('\n');
  } finally {
    await broker.stop();
  }
}

// zstd needs node:zlib's (Node 22.15+, 23.8+); without it the broker answers UNSUPPORTED_COMPRESSION_TYPE
test(
  'confluent-kafka creates a topic, produces idempotently with zstd, consumes in a group, commits and deletes',
  { skip: zstdUnavailableReason() ?? false },
  async () => {
    const lines = await runSmoke('confluent_kafka', 'install it with `apt-get install python3-confluent-kafka`', 'test/compat/kafka_confluent_smoke.py');
    assert.deepEqual(lines, [
      'created ck-events',
      'produced 100 idempotent',
      'consumed 100 in key order',
      'committed 100',
      'watermarks match',
      'deleted ck-events',
    ]);
  },
);

test('kafka-python creates a topic, produces with gzip, reads from the beginning and by time, consumes in a group and commits', async () => {
  const lines = await runSmoke('kafka', 'install it with `apt-get install python3-kafka`', 'test/compat/kafka_python_smoke.py');
  assert.deepEqual(lines, [
    'created kp-orders',
    'produced 60',
    'read 60 from the beginning',
    'offsets by time',
    'group consumed and committed 60',
    'deleted kp-orders',
  ]);
});

test("kafka-python's delete_consumer_groups deletes a group with committed offsets and reports an unknown one", async () => {
  const lines = await runSmoke('kafka', 'install it with `apt-get install python3-kafka`', 'test/compat/kafka_python_delete_groups.py');
  assert.deepEqual(lines, ['committed for kp-old', 'deleted kp-old, kp-missing not found', 'kp-old is gone']);
});
