import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SegmentLog } from './log.js';
import { SyncScheduler, type FsyncPolicy } from './sync.js';
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentFileName } from './format.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-sync-'));
  createdDirs.push(dir);
  return dir;
}

function openLog(dir: string, scheduler: SyncScheduler, segmentBytes?: number): SegmentLog {
  return SegmentLog.open({ dir, scheduler, logger: () => {}, ...(segmentBytes === undefined ? {} : { segmentBytes }) });
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function waitForRound(scheduler: SyncScheduler, round: number): Promise<void> {
  return new Promise((resolve) => {
    if (scheduler.completedRound >= round) return resolve();
    const listener = {
      onDurable(done: number): void {
        if (done < round) return;
        scheduler.removeListener(listener);
        resolve();
      },
    };
    scheduler.addListener(listener);
  });
}

for (const policy of ['always', 'never'] as FsyncPolicy[]) {
  test(`requests in one turn share a round and rounds only grow (policy ${policy})`, async () => {
    const scheduler = new SyncScheduler(policy);
    const log = openLog(temporaryDir(), scheduler);
    const heard: number[] = [];
    scheduler.addListener({ onDurable: (round) => heard.push(round) });
    let previous = 0;
    for (let turn = 0; turn < 20; turn++) {
      log.append([Buffer.from(`turn ${turn} a`)], `turn ${turn} a`.length);
      const first = scheduler.requestRound();
      log.append([Buffer.from(`turn ${turn} b`)], `turn ${turn} b`.length);
      const second = scheduler.requestRound();
      assert.equal(first, second, 'same turn, same round');
      assert.ok(first >= previous, 'rounds never go back');
      previous = first;
      if (turn % 2 === 0) await waitForRound(scheduler, first);
      else await nextTurn();
    }
    await scheduler.close();
    log.close();
    assert.ok(heard.length > 0);
    for (let i = 1; i < heard.length; i++) assert.ok(heard[i]! > heard[i - 1]!, `strictly increasing: ${heard.join(',')}`);
    assert.equal(scheduler.completedRound, heard[heard.length - 1]);
    assert.ok(scheduler.completedRound >= previous, 'close() completed the last requested round');
  });
}

test('a request made while a round is syncing goes to the next round', async () => {
  const scheduler = new SyncScheduler('always');
  const log = openLog(temporaryDir(), scheduler);
  log.append([Buffer.from('one')], 3);
  const first = scheduler.requestRound();
  await nextTurn(); // the scheduler's turn-end callback ran first: round `first` is now in fdatasync
  assert.ok(scheduler.completedRound < first, 'fdatasync callbacks arrive in a later loop iteration');
  log.append([Buffer.from('two')], 3);
  const second = scheduler.requestRound();
  assert.equal(second, first + 1);
  await waitForRound(scheduler, first);
  assert.equal(scheduler.completedRound, first, 'the first round completes alone');
  await waitForRound(scheduler, second);
  assert.equal(scheduler.completedRound, second);
  await scheduler.close();
  log.close();
});

test('a listener hears a round only after its records are readable through a fresh fd', async () => {
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('always');
  const log = openLog(dir, scheduler, 4096);
  const pending: Array<{ round: number; segment: number; offset: number; payload: Buffer }> = [];
  let checked = 0;
  scheduler.addListener({
    onDurable(round) {
      while (pending.length > 0 && pending[0]!.round <= round) {
        const record = pending.shift()!;
        const fd = fs.openSync(path.join(dir, segmentFileName(record.segment)), 'r');
        const bytes = Buffer.alloc(record.payload.length);
        fs.readSync(fd, bytes, 0, bytes.length, record.offset + RECORD_HEADER_BYTES);
        fs.closeSync(fd);
        assert.deepEqual(bytes, record.payload);
        checked++;
      }
    },
  });
  let lastRound = 0;
  for (let turn = 0; turn < 30; turn++) {
    for (let i = 0; i < 10; i++) {
      const payload = Buffer.from(`record ${turn}/${i} `.repeat(1 + (i % 5)));
      const offset = log.append([payload], payload.length);
      pending.push({ round: 0, segment: log.lastSegment, offset, payload });
    }
    lastRound = scheduler.requestRound();
    for (const record of pending) if (record.round === 0) record.round = lastRound;
    await nextTurn();
  }
  await waitForRound(scheduler, lastRound);
  assert.equal(checked, 300);
  await scheduler.close();
  log.close();
});

test('close() flushes, syncs and completes every pending round', async () => {
  for (const policy of ['always', 'never'] as FsyncPolicy[]) {
    const dir = temporaryDir();
    const scheduler = new SyncScheduler(policy);
    const log = openLog(dir, scheduler);
    const heard: number[] = [];
    scheduler.addListener({ onDurable: (round) => heard.push(round) });
    log.append([Buffer.from('last words')], 10);
    const round = scheduler.requestRound();
    await scheduler.close(); // same turn: nothing flushed yet
    assert.equal(scheduler.completedRound, round);
    assert.deepEqual(heard, [round]);
    assert.ok(fs.statSync(path.join(dir, segmentFileName(1))).size > 16, 'the record reached the file');
    log.close();
  }
});

test('flushNow writes every dirty log to the OS synchronously', () => {
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('never');
  const log = openLog(dir, scheduler);
  const file = path.join(dir, segmentFileName(1));
  log.append([Buffer.from('abc')], 3);
  assert.equal(fs.statSync(file).size, SEGMENT_HEADER_BYTES, 'buffered until the end of the turn (the append created the file)');
  scheduler.flushNow();
  assert.equal(fs.statSync(file).size, SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + 3);
  log.close();
});

test('rolled segments and ack files are synced by the next round, and many logs share one round', async () => {
  const scheduler = new SyncScheduler('always');
  const logs = [0, 1, 2].map(() => openLog(temporaryDir(), scheduler, 256));
  const positions: Array<[number, number]> = [];
  for (let i = 0; i < 40; i++) {
    for (const log of logs) {
      const offset = log.append([Buffer.alloc(50, i)], 50);
      if (log === logs[0]) positions.push([log.lastSegment, offset]);
    }
  }
  const round = scheduler.requestRound();
  await waitForRound(scheduler, round);
  for (const [segment, offset] of positions.slice(0, 20)) logs[0]!.ack(segment, offset);
  const ackRound = scheduler.requestRound();
  assert.equal(ackRound, round + 1);
  await waitForRound(scheduler, ackRound);
  await scheduler.close();
  for (const log of logs) log.close();
  const reopened = openLog(logs[0]!.dir, new SyncScheduler('never'), 256);
  assert.equal(reopened.takeRecovered().length, 20);
  reopened.close();
});

// ---- crash realism: a child process is killed with SIGKILL mid-stream ---------------------------

/** Appends numbered records forever, printing "durable N" whenever the first N records are durable. */
function childSource(logModule: string, syncModule: string): string {
  return `
    const { SegmentLog } = await import(${JSON.stringify(logModule)});
    const { SyncScheduler } = await import(${JSON.stringify(syncModule)});
    const scheduler = new SyncScheduler('always');
    const log = SegmentLog.open({ dir: process.env.LOG_DIR, scheduler, segmentBytes: 64 * 1024, logger: () => {} });
    let next = log.takeRecovered().length;
    const rounds = [];
    scheduler.addListener({ onDurable(round) {
      let durable = -1;
      while (rounds.length > 0 && rounds[0][0] <= round) durable = rounds.shift()[1];
      if (durable >= 0) process.stdout.write('durable ' + durable + '\\n');
    } });
    function payload(n) {
      const length = 8 + (n % 200);
      const bytes = Buffer.alloc(length, n & 0xff);
      bytes.writeUInt32BE(n, 0);
      bytes.writeUInt32BE(length, 4);
      return bytes;
    }
    function batch() {
      for (let i = 0; i < 40; i++) {
        const bytes = payload(next++);
        log.append([bytes.subarray(0, 6), bytes.subarray(6)], bytes.length);
      }
      const round = scheduler.requestRound();
      if (rounds.length > 0 && rounds[rounds.length - 1][0] === round) rounds[rounds.length - 1][1] = next;
      else rounds.push([round, next]);
      setImmediate(batch);
    }
    process.stdout.write('started ' + next + '\\n');
    batch();
  `;
}

function runChildUntil(dir: string, durableTarget: number): Promise<{ durable: number; started: number }> {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const source = childSource(path.join(here, 'log.js'), path.join(here, 'sync.js'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], {
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

test('every record reported durable survives kill -9, exactly once and in order', async () => {
  const dir = temporaryDir();
  let expectedAtLeast = 0;
  for (let cycle = 1; cycle <= 3; cycle++) {
    const { durable, started } = await runChildUntil(dir, expectedAtLeast + 3000);
    assert.ok(started >= expectedAtLeast, `cycle ${cycle}: the child recovered ${started} records`);
    assert.ok(durable >= expectedAtLeast + 3000, `cycle ${cycle}: child reported ${durable} durable before the kill`);
    const lines: string[] = [];
    const log = SegmentLog.open({ dir, scheduler: new SyncScheduler('never'), segmentBytes: 64 * 1024, logger: (l) => lines.push(l) });
    const records = log.takeRecovered();
    log.close();
    assert.ok(records.length >= durable, `cycle ${cycle}: ${records.length} recovered, ${durable} were durable`);
    records.forEach((record, n) => {
      assert.equal(record.payload.readUInt32BE(0), n, `record ${n} in place, once`);
      const length = record.payload.readUInt32BE(4);
      assert.equal(record.length, length);
      assert.deepEqual(record.payload.subarray(8), Buffer.alloc(length - 8, n & 0xff));
    });
    expectedAtLeast = records.length;
  }
});

test('appends, acks, rolls and reads across many syncing rounds leave the right records and no open fds', async () => {
  const openFds = (): number => fs.readdirSync('/proc/self/fd').length;
  const fdsBefore = openFds();
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('always');
  const log = openLog(dir, scheduler, 700);
  const live = new Map<string, Buffer>();
  const order: string[] = [];
  let seed = 7;
  const random = (limit: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % limit;
  };
  let lastRound = 0;
  for (let turn = 0; turn < 200; turn++) {
    for (let i = 0; i < 1 + random(12); i++) {
      const payload = Buffer.alloc(1 + random(150), turn & 0xff);
      const offset = log.append([payload], payload.length);
      const key = `${log.lastSegment}:${offset}`;
      live.set(key, payload);
      order.push(key);
    }
    for (let i = 0; i < random(12) && live.size > 0; i++) {
      const key = order[random(order.length)]!;
      if (!live.has(key)) continue;
      const [segment, offset] = key.split(':').map(Number) as [number, number];
      assert.deepEqual(log.read(segment, offset, live.get(key)!.length), live.get(key));
      assert.equal(log.ack(segment, offset), true);
      live.delete(key);
    }
    lastRound = scheduler.requestRound();
    if (turn % 7 === 0) await waitForRound(scheduler, lastRound);
    else await nextTurn();
  }
  assert.equal(log.liveRecords, live.size);
  await scheduler.close();
  assert.ok(scheduler.completedRound >= lastRound);
  log.close();
  assert.equal(openFds(), fdsBefore, 'every fd closed');
  const reopened = openLog(dir, new SyncScheduler('never'), 700);
  const recovered = reopened.takeRecovered();
  assert.deepEqual(
    recovered.map((r) => `${r.segment}:${r.offset}`),
    order.filter((key) => live.has(key)),
  );
  for (const record of recovered) assert.deepEqual(record.payload, live.get(`${record.segment}:${record.offset}`));
  reopened.close();
});

test('an append nobody waits for starts no round of its own: deferRound hands out the covering round, which the next request or the deferred timer completes', async () => {
  const scheduler = new SyncScheduler('always');
  const log = openLog(temporaryDir(), scheduler);
  log.append([Buffer.from('unawaited 1')], 'unawaited 1'.length);
  const deferred = scheduler.deferRound();
  assert.equal(deferred, scheduler.completedRound + 1);
  await nextTurn();
  await nextTurn();
  assert.ok(scheduler.completedRound < deferred, 'no round started at the end of the turn, as a request would have');
  // someone asks for a round: it covers the deferred append too
  log.append([Buffer.from('awaited')], 'awaited'.length);
  const requested = scheduler.requestRound();
  assert.equal(requested, deferred, 'the round a request gets is the one the deferred append was told');
  await waitForRound(scheduler, requested);
  // with nobody asking, the deferred timer starts one (it is unref'd, as a broker's listeners keep the
  // process alive: a guard timer stands in for them here, and fails the test should the round never come)
  log.append([Buffer.from('unawaited 2')], 'unawaited 2'.length);
  const later = scheduler.deferRound();
  assert.ok(later > requested);
  let guard: NodeJS.Timeout | null = null;
  await Promise.race([
    waitForRound(scheduler, later),
    new Promise<void>((_, reject) => (guard = setTimeout(() => reject(new Error('the deferred round never came')), 10_000))),
  ]);
  if (guard !== null) clearTimeout(guard);
  await scheduler.close();
  log.close();
});
