/**
 * Measures a partition log of about 1 GB: append throughput, open with trusted index files (clean
 * shutdown), open scanning and CRC-checking every batch (what a crash costs for segments whose index
 * files were not written; normally only the active one), and fetch latency from old offsets.
 *
 *   node dist/src/storage/partition/partition-log.bench.js [megabytes=1024] [batchBytes=16384]
 *
 * The files are in os.tmpdir() and stay in the page cache: scans measure CPU + memory copy, not disk.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SyncScheduler } from '../sync.js';
import { PartitionLog } from './partition-log.js';
import { encodeBatch } from '../../format/kafka/test-batches.js';

const megabytes = Number(process.argv[2] ?? 1024);
const batchBytes = Number(process.argv[3] ?? 16 * 1024);
const RECORDS_PER_BATCH = 10;
const TEMPLATES = 16;

function milliseconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-partition-bench-'));
try {
  const templates = Array.from({ length: TEMPLATES }, (_, id) =>
    encodeBatch({ id, recordCount: RECORDS_PER_BATCH, recordBytes: batchBytes - 61, baseTimestamp: id }),
  );
  const batches = Math.ceil((megabytes * 1024 * 1024) / batchBytes);
  const options = { dir, scheduler: new SyncScheduler('never'), logger: (line: string) => console.log('  log: ' + line) };
  const log = PartitionLog.open(options);
  let started = process.hrtime.bigint();
  for (let n = 0; n < batches; n++) {
    log.append(templates[n % TEMPLATES]!, n);
    if (n % 16 === 0) log.flush();
  }
  log.close();
  const appendMs = milliseconds(started);
  const bytes = log.sizeBytes;
  console.log(
    `append: ${batches} batches of ${batchBytes} B, ${(bytes / 1e6).toFixed(0)} MB in ${appendMs.toFixed(0)} ms = ${(bytes / 1e6 / (appendMs / 1000)).toFixed(0)} MB/s (no fsync)`,
  );

  started = process.hrtime.bigint();
  const trusted = PartitionLog.open(options);
  console.log(`open, index files trusted: ${milliseconds(started).toFixed(1)} ms`);
  const fetches = 2000;
  started = process.hrtime.bigint();
  let seed = 1;
  for (let i = 0; i < fetches; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    trusted.read(BigInt(seed % batches) * BigInt(RECORDS_PER_BATCH), 1);
  }
  const perFetch = milliseconds(started) / fetches;
  const counters = trusted.readCounters;
  console.log(
    `random fetches: ${(perFetch * 1000).toFixed(1)} us each; per fetch ${(counters.locateBytesRead / fetches).toFixed(0)} B of headers ` +
      `and ${(counters.indexBytesRead / fetches).toFixed(0)} B of index read to locate`,
  );
  trusted.close();

  started = process.hrtime.bigint();
  const scanned = PartitionLog.open({ ...options, verifyAllOnOpen: true });
  const scanMs = milliseconds(started);
  console.log(`open, every batch scanned and CRC-checked: ${scanMs.toFixed(0)} ms = ${(bytes / 1e6 / (scanMs / 1000)).toFixed(0)} MB/s`);
  scanned.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
