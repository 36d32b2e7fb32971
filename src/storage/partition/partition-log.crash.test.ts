import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SyncScheduler } from '../sync.js';
import { PartitionLog } from './partition-log.js';
import { batchId, encodeBatch, splitBatches } from '../../format/kafka/test-batches.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Small segments, so the child rolls (and seals, and writes index files) many times before the kill. */
const SEGMENT_BYTES = 64 * 1024;
const INDEX_INTERVAL_BYTES = 1024;
const DURABLE_BATCHES_PER_CYCLE = 3000;

/** Every batch of the log, in order. */
function allBatches(log: PartitionLog): Buffer[] {
  const batches: Buffer[] = [];
  let offset = log.logStartOffset;
  while (offset < log.highWatermark) {
    for (const batch of splitBatches(log.read(offset, 256 * 1024))) {
      batches.push(batch);
      offset = batch.readBigInt64BE(0) + BigInt(batch.readInt32BE(23)) + 1n;
    }
  }
  return batches;
}

/**
 * The child appends batch n (id n, 1 + n % 3 records) forever, one produce request of a few batches per
 * turn, and prints "durable N" once the round covering batches 0..N-1 has completed.
 */
function childSource(here: string): string {
  const module = (name: string): string => JSON.stringify(path.join(here, name));
  return `
    const { PartitionLog } = await import(${module('partition-log.js')});
    const { SyncScheduler } = await import(${module('../sync.js')});
    const { encodeBatch, splitBatches } = await import(${module('../../format/kafka/test-batches.js')});
    const scheduler = new SyncScheduler('always');
    const log = PartitionLog.open({ dir: process.env.LOG_DIR, scheduler, segmentBytes: ${SEGMENT_BYTES},
      indexIntervalBytes: ${INDEX_INTERVAL_BYTES}, logger: () => {} });
    let next = 0;
    for (let offset = log.logStartOffset; offset < log.highWatermark; ) {
      for (const batch of splitBatches(log.read(offset, 1 << 20))) {
        next++;
        offset = batch.readBigInt64BE(0) + BigInt(batch.readInt32BE(23)) + 1n;
      }
    }
    const rounds = [];
    scheduler.addListener({ onDurable(round) {
      let durable = -1;
      while (rounds.length > 0 && rounds[0][0] <= round) durable = rounds.shift()[1];
      if (durable >= 0) process.stdout.write('durable ' + durable + '\\n');
    } });
    function produce() {
      const batches = [];
      for (let i = 0; i < 1 + (next % 5); i++) {
        batches.push(encodeBatch({ id: next, recordCount: 1 + (next % 3), recordBytes: 16 + (next % 400) }));
        next++;
      }
      log.append(Buffer.concat(batches), Date.now());
      const round = scheduler.requestRound();
      if (rounds.length > 0 && rounds[rounds.length - 1][0] === round) rounds[rounds.length - 1][1] = next;
      else rounds.push([round, next]);
      setImmediate(produce);
    }
    process.stdout.write('started ' + next + '\\n');
    produce();
  `;
}

function runChildUntil(dir: string, durableTarget: number): Promise<{ durable: number; started: number }> {
  const here = path.dirname(new URL(import.meta.url).pathname);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', childSource(here)], {
      env: { ...process.env, LOG_DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let durable = 0;
    let started = -1;
    let text = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      text += chunk;
      let newline: number;
      while ((newline = text.indexOf('\n')) >= 0) {
        const [word, value] = text.slice(0, newline).split(' ');
        text = text.slice(newline + 1);
        if (word === 'started') started = Number(value);
        if (word === 'durable') durable = Math.max(durable, Number(value));
        if (durable >= durableTarget) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited without being killed (${signal})`));
      else resolve({ durable, started });
    });
  });
}

test('every batch reported durable survives kill -9, once, in order, at its offset', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-partition-crash-'));
  createdDirs.push(dir);
  let expectedAtLeast = 0;
  for (let cycle = 1; cycle <= 3; cycle++) {
    const { durable, started } = await runChildUntil(dir, expectedAtLeast + DURABLE_BATCHES_PER_CYCLE);
    assert.ok(started >= expectedAtLeast, `cycle ${cycle}: the child recovered ${started} batches`);
    assert.ok(durable >= expectedAtLeast + DURABLE_BATCHES_PER_CYCLE, `cycle ${cycle}: child reported ${durable} durable before the kill`);
    const lines: string[] = [];
    const log = PartitionLog.open({
      dir,
      scheduler: new SyncScheduler('never'),
      segmentBytes: SEGMENT_BYTES,
      indexIntervalBytes: INDEX_INTERVAL_BYTES,
      verifyAllOnOpen: cycle === 3,
      logger: (line) => lines.push(line),
    });
    const batches = allBatches(log);
    assert.ok(batches.length >= durable, `cycle ${cycle}: ${batches.length} recovered, ${durable} were durable\n${lines.join('\n')}`);
    let offset = 0n;
    batches.forEach((batch, n) => {
      assert.equal(batchId(batch), n, `batch ${n} in place, once`);
      assert.equal(batch.readBigInt64BE(0), offset, `batch ${n} at its offset`);
      assert.deepEqual(batch.subarray(12 + 4), encodeBatch({ id: n, recordCount: 1 + (n % 3), recordBytes: 16 + (n % 400) }).subarray(12 + 4));
      offset += BigInt(1 + (n % 3));
    });
    assert.equal(log.highWatermark, offset);
    t.diagnostic(`cycle ${cycle}: ${durable} durable at the kill, ${batches.length} recovered; ${lines.join(' | ')}`);
    log.close();
    expectedAtLeast = batches.length;
  }
});
