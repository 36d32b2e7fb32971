import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SegmentLog } from './log.js';
import { SyncScheduler, type FsyncPolicy } from './sync.js';
import { installFaults, parseFaultPlan } from './faults.js';
import { PartitionLog } from './partition/partition-log.js';
import { batchId, encodeBatch, splitBatches } from '../format/kafka/test-batches.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  installFaults(null);
});

function temporaryDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-faults-'));
  createdDirs.push(dir);
  return dir;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Records what the scheduler told its listeners: completed and failed rounds. */
function watch(scheduler: SyncScheduler): { durable: number[]; failed: number[]; errors: Error[] } {
  const seen = { durable: [] as number[], failed: [] as number[], errors: [] as Error[] };
  scheduler.addListener({
    onDurable: (round) => seen.durable.push(round),
    onFailed: (through, error) => {
      seen.failed.push(through);
      seen.errors.push(error);
    },
  });
  return seen;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function payloads(log: SegmentLog): string[] {
  return log.takeRecovered().map((r) => r.payload.toString());
}

for (const policy of ['always', 'never'] as FsyncPolicy[]) {
  test(`a write that fails with ENOSPC fails its round, its records are never recovered, and appends work again once space is back (policy ${policy})`, async () => {
    const dir = temporaryDir();
    const free = path.join(dir, 'free-now');
    const errors: Error[] = [];
    const scheduler = new SyncScheduler(policy, { onError: (error) => errors.push(error) });
    const seen = watch(scheduler);
    const log = SegmentLog.open({ dir: path.join(dir, 'q'), scheduler, logger: () => {} });
    log.append([Buffer.from('before')], 6);
    const first = scheduler.requestRound();
    await until(() => scheduler.completedRound >= first, 'the first round');
    assert.deepEqual(seen.failed, []);

    // a disk with room for 10 more bytes: the next flush fails, and so does every write until "freed"
    const injector = installFaults(parseFaultPlan(`quota=10,free-file=${free}`))!;
    log.append([Buffer.from('lost one')], 8);
    log.append([Buffer.from('lost two')], 8);
    const failedRound = scheduler.requestRound();
    await until(() => seen.failed.length > 0, 'the failure');
    assert.ok(seen.failed[0]! >= failedRound, 'the failure covers the round the lost records waited for');
    assert.equal((seen.errors[0] as NodeJS.ErrnoException).code, 'ENOSPC');
    assert.equal(errors.length >= 1, true, 'onError heard it');
    assert.ok(scheduler.failure !== null, 'storage reports the failure while it lasts');
    assert.ok(!seen.durable.includes(failedRound), 'the failed round is never reported durable');
    assert.equal(log.liveRecords, 1, 'the failed records are gone from the log');
    assert.ok(injector.counts.enospc >= 1);

    // still full: a new append fails too (its round fails), the log stays unrepaired
    log.append([Buffer.from('lost three')], 10);
    const stillFull = scheduler.requestRound();
    await until(() => seen.failed.some((through) => through >= stillFull), 'the second failure');
    assert.equal(log.liveRecords, 1);

    // space is back: the next append repairs the log (a new segment) and its round completes
    fs.writeFileSync(free, '');
    await until(() => scheduler.brokenLogCount === 0 || scheduler.failure === null, 'the retry');
    log.append([Buffer.from('after')], 5);
    const later = scheduler.requestRound();
    await until(() => scheduler.completedRound >= later && scheduler.failure === null, 'recovery');
    assert.ok(seen.durable.includes(later) || scheduler.completedRound >= later);
    await scheduler.close();
    log.close();

    installFaults(null);
    const reopened = SegmentLog.open({ dir: path.join(dir, 'q'), scheduler: new SyncScheduler(policy), logger: () => {} });
    assert.deepEqual(payloads(reopened), ['before', 'after'], 'exactly the records of completed rounds');
    reopened.close();
  });

  test(`a torn write leaves no partial record behind, and later appends are whole (policy ${policy})`, async () => {
    const dir = temporaryDir();
    const scheduler = new SyncScheduler(policy, { onError: () => {} });
    const seen = watch(scheduler);
    const log = SegmentLog.open({ dir, scheduler, logger: () => {} });
    installFaults(parseFaultPlan('every=1,torn=1,seed=7'));
    log.append([Buffer.alloc(300, 1)], 300);
    const round = scheduler.requestRound();
    await until(() => seen.failed.some((through) => through >= round), 'the failure');
    installFaults(null);
    log.append([Buffer.alloc(200, 2)], 200);
    const next = scheduler.requestRound();
    await until(() => scheduler.completedRound >= next && scheduler.failure === null, 'the next round');
    await scheduler.close();
    log.close();
    const reopened = SegmentLog.open({ dir, scheduler: new SyncScheduler(policy), logger: () => {} });
    const records = reopened.takeRecovered();
    assert.equal(records.length, 1);
    assert.equal(records[0]!.length, 200);
    reopened.close();
  });
}

test('a failed fsync fails the round: its records are cut off the file and new appends go to a new segment', async () => {
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('always', { onError: () => {} });
  const seen = watch(scheduler);
  const log = SegmentLog.open({ dir, scheduler, logger: () => {} });
  log.append([Buffer.from('kept')], 4);
  const first = scheduler.requestRound();
  await until(() => scheduler.completedRound >= first, 'the first round');
  const segmentBefore = log.activeSegment;
  installFaults(parseFaultPlan('fsync=1'));
  log.append([Buffer.from('unsynced')], 8);
  const round = scheduler.requestRound();
  await until(() => seen.failed.some((through) => through >= round), 'the failed fsync');
  installFaults(null);
  // storage repairs itself (a new segment, a round that syncs it) before anything else is appended
  await until(() => scheduler.failure === null, 'recovery');
  // the record was written to the page cache, but its fsync failed: it must not come back after a crash
  // (the file is cut back now, before the publisher hears the nack)
  const onDisk = fs.readdirSync(dir).filter((name) => name.endsWith('.seg'));
  let bytes = 0;
  for (const name of onDisk) bytes += fs.readFileSync(path.join(dir, name)).includes('unsynced') ? 1 : 0;
  assert.equal(bytes, 0, 'the unsynced record is no longer in any file');
  log.append([Buffer.from('next')], 4);
  assert.ok(log.activeSegment > segmentBefore, 'appends after a failed fsync go to a new segment');
  const next = scheduler.requestRound();
  await until(() => scheduler.completedRound >= next, 'the next round');
  assert.ok(seen.durable.includes(next), 'the next round completed');
  await scheduler.close();
  log.close();
  const reopened = SegmentLog.open({ dir, scheduler: new SyncScheduler('always'), logger: () => {} });
  assert.deepEqual(payloads(reopened), ['kept', 'next']);
  reopened.close();
});

test('a partition log cut back after a failed write hands the lost offsets out again and keeps every durable batch', async () => {
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('always', { onError: () => {} });
  const seen = watch(scheduler);
  const log = PartitionLog.open({ dir, scheduler, logger: () => {} });
  log.append(encodeBatch({ id: 1, recordCount: 2 }), Date.now());
  const first = scheduler.requestRound();
  await until(() => scheduler.completedRound >= first, 'the first round');
  assert.equal(log.highWatermark, 2n);
  installFaults(parseFaultPlan('every=1,enospc=1'));
  const lost = log.append(encodeBatch({ id: 2, recordCount: 3 }), Date.now());
  assert.equal(lost.baseOffset, 2n);
  const round = scheduler.requestRound();
  await until(() => seen.failed.some((through) => through >= round), 'the failure');
  installFaults(null);
  await until(() => scheduler.failure === null, 'recovery');
  assert.equal(log.highWatermark, 2n, 'the end went back to the durable end');
  const again = log.append(encodeBatch({ id: 3 }), Date.now());
  assert.equal(again.baseOffset, 2n, 'the offsets nobody saw are handed out again');
  const next = scheduler.requestRound();
  await until(() => scheduler.completedRound >= next, 'the next round');
  assert.ok(seen.durable.includes(next), 'the next round completed');
  await scheduler.close();
  log.close();
  const reopened = PartitionLog.open({ dir, scheduler: new SyncScheduler('always'), logger: () => {} });
  assert.equal(reopened.highWatermark, 3n);
  // a read stops at a segment's end: the batch after the repair is in a new segment
  const ids = [...splitBatches(reopened.read(0n, 1 << 20)), ...splitBatches(reopened.read(2n, 1 << 20))].map(batchId);
  assert.deepEqual(ids, [1, 3], 'the durable batch and the one after recovery, not the lost one');
  reopened.close();
});

test('the scheduler calls the free-space check after every given number of bytes written', async () => {
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('never');
  let checks = 0;
  scheduler.checkEvery(64 * 1024, () => checks++);
  const log = SegmentLog.open({ dir, scheduler, logger: () => {} });
  const payload = Buffer.alloc(1000, 7);
  for (let i = 0; i < 1000; i++) {
    log.append([payload], payload.length);
    if (i % 50 === 0) await nextTurn();
  }
  await scheduler.close();
  log.close();
  // about 1 MB written in flushes of up to 256 KiB (the write buffer): a check after every 64 KiB at
  // the least, so between 1 MB / (64 KiB + 256 KiB) and 1 MB / 64 KiB checks
  const written = scheduler.bytesWritten;
  assert.ok(written > 1_000_000);
  assert.ok(checks >= Math.floor(written / (320 * 1024)) && checks <= Math.ceil(written / (64 * 1024)), `${checks} checks for ${written} bytes`);
});

test('POSTBOX_FAULTS is parsed strictly: unknown keys and probabilities above 1 are errors', () => {
  assert.throws(() => parseFaultPlan('enospc=2'), /probability/);
  assert.throws(() => parseFaultPlan('nospace=0.1'), /unknown key/);
  const plan = parseFaultPlan('seed=9, enospc=0.01, fsync=0.5, after=1000');
  assert.equal(plan.seed, 9);
  assert.equal(plan.enospc, 0.01);
  assert.equal(plan.fsync, 0.5);
  assert.equal(plan.afterBytes, 1000);
});
