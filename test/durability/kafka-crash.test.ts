import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tempDataDir } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';
import { RawKafkaClient, encodeBatch } from '../helpers/kafka-raw.js';

const TOPIC = 'crash-stream';
const PARTITIONS = 3;
const RECORDS_PER_BATCH = 10;
/** produce requests in flight at once, so the kill lands with many unacknowledged */
const IN_FLIGHT = 24;
/** kill once this many batches were acknowledged */
const KILL_AFTER_ACKED = 300;

test('every record acknowledged with acks=-1 is at its acknowledged offset after kill -9', async () => {
  const dir = tempDataDir('postbox-kafka-crash-');
  try {
    const first = await spawnBroker(dir, ['--kafka-partitions', String(PARTITIONS)]);
    const producer = await RawKafkaClient.connect(first.kafkaPort);
    // acknowledged: partition → (base offset → the values of that batch)
    const acked = Array.from({ length: PARTITIONS }, () => new Map<bigint, string[]>());
    let ackedBatches = 0;
    let killed = false;
    let sent = 0;
    await new Promise<void>((resolve, reject) => {
      let inFlight = 0;
      const pump = (): void => {
        while (!killed && inFlight < IN_FLIGHT) {
          const n = sent++;
          const partition = n % PARTITIONS;
          const values = Array.from({ length: RECORDS_PER_BATCH }, (_, j) => `b${n}-r${j}`);
          inFlight++;
          void encodeBatch({ records: values.map((value) => ({ value })) })
            .then((batch) => producer.produce(TOPIC, partition, batch, -1))
            .then(
              ({ errorCode, baseOffset }) => {
                inFlight--;
                if (errorCode !== 0) return;
                acked[partition]!.set(baseOffset, values);
                if (++ackedBatches >= KILL_AFTER_ACKED && !killed) {
                  killed = true;
                  first.child.kill('SIGKILL');
                  resolve();
                }
                pump();
              },
              (err: Error) => {
                inFlight--;
                // before the kill nothing may fail; after it every request in flight does
                if (!killed) {
                  killed = true;
                  reject(new Error(`produce failed before the kill: ${err.message}\n${first.output()}`));
                }
              },
            );
        }
      };
      pump();
    });
    assert.equal(await first.exited, 'SIGKILL');
    producer.close();

    const second = await spawnBroker(dir);
    try {
      const reader = await RawKafkaClient.connect(second.kafkaPort);
      for (let p = 0; p < PARTITIONS; p++) {
        const batches = acked[p]!;
        let expectedEnd = 0n;
        for (const [base, values] of batches) if (base + BigInt(values.length) > expectedEnd) expectedEnd = base + BigInt(values.length);
        const { highWatermark } = await reader.fetch(TOPIC, p, 0n);
        assert.ok(highWatermark >= expectedEnd, `partition ${p}: high watermark ${highWatermark} below acknowledged end ${expectedEnd}`);
        const records = await reader.readRecords(TOPIC, p, 0n, Number(highWatermark));
        const byOffset = new Map(records.map((r) => [r.offset, r.value]));
        for (const [base, values] of batches) {
          values.forEach((value, j) => assert.equal(byOffset.get(base + BigInt(j)), value, `partition ${p} offset ${base + BigInt(j)}`));
        }
        // offsets are dense: nothing duplicated or skipped in what survived
        assert.deepEqual(
          records.map((r) => r.offset),
          Array.from({ length: records.length }, (_, i) => BigInt(i)),
        );
      }
      reader.close();
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
