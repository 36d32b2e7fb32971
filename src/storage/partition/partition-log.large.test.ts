import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SyncScheduler } from '../sync.js';
import { PartitionLog } from './partition-log.js';
import { batchId, encodeBatch } from '../../format/kafka/test-batches.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const BATCHES = 100_000;
const RECORDS_PER_BATCH = 5;
const RECORD_BYTES = 2_000; // ~2 KiB a batch: 200 MB in all
const TEMPLATES = 16;
/** What locating a batch may read: about one index interval of headers (one 8 KiB block), twice at worst. */
const LOCATE_BUDGET_BYTES = 2 * 8 * 1024;
/** Index bytes a binary search may read: log2(entries) probes of 8 bytes, plus a few. */
const INDEX_BUDGET_BYTES = 32 * 8;

test('a fetch from an old offset of a 200 MB partition reads only about one index interval to find it', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-partition-large-'));
  createdDirs.push(dir);
  // the CRC does not cover baseOffset, so the same few batches can be appended over and over
  const templates = Array.from({ length: TEMPLATES }, (_, id) =>
    encodeBatch({ id, recordCount: RECORDS_PER_BATCH, recordBytes: RECORD_BYTES, baseTimestamp: id }),
  );
  const options = { dir, scheduler: new SyncScheduler('never'), logger: (line: string) => t.diagnostic(line) };
  const log = PartitionLog.open(options);
  let started = process.hrtime.bigint();
  for (let n = 0; n < BATCHES; n++) {
    log.append(templates[n % TEMPLATES]!, n);
    if (n % 64 === 0) log.flush();
  }
  log.flush();
  const appendMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.diagnostic(`appended ${BATCHES} batches, ${(log.sizeBytes / 1e6).toFixed(0)} MB, ${log.segmentCount} segments in ${appendMs.toFixed(0)} ms`);
  assert.ok(log.sizeBytes > 200e6);
  assert.equal(log.highWatermark, BigInt(BATCHES * RECORDS_PER_BATCH));

  const fetchAndCount = (partition: PartitionLog, batch: number, label: string): void => {
    const counters = partition.readCounters;
    counters.logBytesRead = counters.indexBytesRead = counters.locateBytesRead = 0;
    const offset = BigInt(batch * RECORDS_PER_BATCH + 3); // inside the batch
    const bytes = partition.read(offset, 1);
    assert.equal(bytes.readBigInt64BE(0), BigInt(batch * RECORDS_PER_BATCH), label);
    assert.equal(batchId(bytes), batch % TEMPLATES, label);
    assert.ok(counters.locateBytesRead <= LOCATE_BUDGET_BYTES, `${label}: located with ${counters.locateBytesRead} log bytes`);
    assert.ok(counters.indexBytesRead <= INDEX_BUDGET_BYTES, `${label}: ${counters.indexBytesRead} index bytes`);
    assert.equal(counters.logBytesRead - counters.locateBytesRead, bytes.length, `${label}: then read only the answer`);
  };
  for (const batch of [1, 777, 12_345, 33_333, 50_001, 77_777, BATCHES - 2]) fetchAndCount(log, batch, `live, batch ${batch}`);

  // a consumer reading on from where its last fetch ended does not search at all
  const counters = log.readCounters;
  const first = log.read(BigInt(40_000 * RECORDS_PER_BATCH), 64 * 1024);
  const next = first.readBigInt64BE(first.length - templates[0]!.length) + BigInt(RECORDS_PER_BATCH);
  counters.locateBytesRead = counters.indexBytesRead = 0;
  log.read(next, 64 * 1024);
  assert.equal(counters.locateBytesRead + counters.indexBytesRead, 0);
  log.close();

  started = process.hrtime.bigint();
  const reopened = PartitionLog.open(options);
  const trustedMs = Number(process.hrtime.bigint() - started) / 1e6;
  for (const batch of [2, 12_345, 66_666, BATCHES - 1]) fetchAndCount(reopened, batch, `reopened, batch ${batch}`);
  assert.equal(reopened.offsetForTimestamp(TEMPLATES - 1), BigInt((TEMPLATES - 1) * RECORDS_PER_BATCH));
  reopened.close();

  started = process.hrtime.bigint();
  const scanned = PartitionLog.open({ ...options, verifyAllOnOpen: true });
  const scanMs = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(scanned.highWatermark, BigInt(BATCHES * RECORDS_PER_BATCH));
  fetchAndCount(scanned, 4_321, 'after a full scan');
  scanned.close();
  t.diagnostic(`open with trusted indexes: ${trustedMs.toFixed(1)} ms; open scanning and CRC-checking every batch: ${scanMs.toFixed(0)} ms`);
});
