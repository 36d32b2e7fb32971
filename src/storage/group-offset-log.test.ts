/** The offsets log's DELETE GROUP record (the tombstone a deleted group leaves): layout, replay, compaction. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { SyncScheduler } from './sync.js';
import { installFaults, parseFaultPlan } from './faults.js';
import { FileGroupOffsetStore } from './group-offsets-file.js';
import type { StoredOffset } from './meta-store.js';
import { OFFSET_LOG_FILE, encodeCommitRecord, encodeDeleteGroupRecord, replayOffsetLog, type OffsetRecord } from './group-offset-log.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-offset-log-'));
  dirs.push(dir);
  return dir;
}

interface Opened {
  readonly store: FileGroupOffsetStore;
  close(): Promise<void>;
}

function openStore(dir: string): Opened {
  const scheduler = new SyncScheduler('always');
  const store = FileGroupOffsetStore.open({ dir, scheduler, warn: () => {}, info: () => {} });
  return {
    store,
    async close() {
      store.close();
      await scheduler.close();
    },
  };
}

function offset(topic: string, partition: number, at: bigint, metadata: string | null = null): StoredOffset {
  return { topic, partition, offset: at, leaderEpoch: -1, commitTimestampMs: 1_700_000_000_000, metadata };
}

/** topic → partition → offset of one group, as plain arrays for deepEqual */
function offsetsOf(store: FileGroupOffsetStore, groupId: string): Array<[string, number, bigint]> | undefined {
  const group = store.offsetsOf(groupId);
  if (group === undefined) return undefined;
  const out: Array<[string, number, bigint]> = [];
  for (const [topic, partitions] of group) for (const [p, o] of partitions) out.push([topic, p, o.offset]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
}

// ---- the layout, byte by byte as group-offset-log.ts draws it (not through its encoder) -----------------

const FILE_HEADER = Buffer.from([0x50, 0x42, 0x47, 0x4f, 0x00, 0x01, 0x00, 0x00]);

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function i64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
}

/** length u32 | crc32c u32 | type u8 | reserved u8 | group len u16 | group | body */
function handRecord(type: number, groupId: string, body: Buffer): Buffer {
  const group = Buffer.from(groupId, 'utf8');
  const payload = Buffer.concat([Buffer.from([type, 0]), u16(group.length), group, body]);
  return Buffer.concat([u32(payload.length), u32(crc32c(payload)), payload]);
}

/** COMMIT body: count u32, then per entry topic len u16 | topic | partition u32 | offset i64 | epoch i32 | time i64 | metadata len i32 | metadata */
function handCommit(groupId: string, entries: Array<{ topic: string; partition: number; offset: bigint }>): Buffer {
  const parts: Buffer[] = [u32(entries.length)];
  for (const e of entries) {
    const topic = Buffer.from(e.topic, 'utf8');
    parts.push(u16(topic.length), topic, u32(e.partition), i64(e.offset), u32(0xffffffff), i64(1_700_000_000_000n), u32(0xffffffff));
  }
  return handRecord(1, groupId, Buffer.concat(parts));
}

function handTombstone(groupId: string): Buffer {
  return handRecord(2, groupId, Buffer.alloc(0));
}

test('a DELETE GROUP record is type 2 with an empty body, exactly as the format draws it', () => {
  const encoded = encodeDeleteGroupRecord('orders-group');
  assert.deepEqual(encoded, handTombstone('orders-group'));
  // length = type + reserved + group length + 12 bytes of group id
  assert.equal(encoded.readUInt32BE(0), 4 + 12);
  assert.equal(encoded.readUInt8(8), 2);
});

test('replaying a tombstone forgets everything committed for the group before it, and only that group', async () => {
  const image = Buffer.concat([
    FILE_HEADER,
    handCommit('a', [
      { topic: 't', partition: 0, offset: 5n },
      { topic: 'u', partition: 3, offset: 9n },
    ]),
    handCommit('b', [{ topic: 't', partition: 1, offset: 7n }]),
    handTombstone('a'),
    handCommit('a', [{ topic: 't', partition: 2, offset: 1n }]),
    handTombstone('never-committed'),
  ]);
  const seen: OffsetRecord[] = [];
  const result = replayOffsetLog(image, (r) => seen.push(r));
  assert.equal(result.validBytes, image.length);
  assert.deepEqual(
    seen.map((r) => [r.type, r.groupId]),
    [
      [1, 'a'],
      [1, 'b'],
      [2, 'a'],
      [1, 'a'],
      [2, 'never-committed'],
    ],
  );

  // a log in this layout (the first and only format, which had the tombstone from the start) opens as it is
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, OFFSET_LOG_FILE), image);
  const opened = openStore(dir);
  try {
    assert.deepEqual(offsetsOf(opened.store, 'a'), [['t', 2, 1n]]);
    assert.deepEqual(offsetsOf(opened.store, 'b'), [['t', 1, 7n]]);
    assert.equal(opened.store.has('never-committed'), false);
    assert.deepEqual([...opened.store.groupIds()].sort(), ['a', 'b']);
  } finally {
    await opened.close();
  }
});

test('a deletion shows only once its tombstone is durable, and the group stays deleted across a reopen', async () => {
  const dir = tempDir();
  const first = openStore(dir);
  await first.store.commit('gone', [offset('t', 0, 10n, 'm'), offset('t', 1, 11n)], null);
  await first.store.commit('kept', [offset('t', 0, 3n)], null);
  const deleting = first.store.deleteGroup('gone');
  assert.equal(first.store.has('gone'), true, 'still there until the fsync covering the tombstone');
  await deleting;
  assert.equal(first.store.has('gone'), false);
  assert.equal(first.store.offsetsOf('gone'), undefined);
  await first.close();

  const second = openStore(dir);
  try {
    assert.equal(second.store.has('gone'), false);
    assert.deepEqual(offsetsOf(second.store, 'kept'), [['t', 0, 3n]]);
    // the same id committed again is a new group with only the new offsets
    await second.store.commit('gone', [offset('t', 2, 1n)], null);
  } finally {
    await second.close();
  }
  const third = openStore(dir);
  try {
    assert.deepEqual(offsetsOf(third.store, 'gone'), [['t', 2, 1n]]);
  } finally {
    await third.close();
  }
});

test('compaction drops a deleted group entirely: no commit of it and no tombstone stays in the rewritten log', async () => {
  const dir = tempDir();
  const opened = openStore(dir);
  try {
    for (let i = 0; i < 20; i++) await opened.store.commit('deleted-group-id', [offset('topic-of-deleted', 0, BigInt(i))], null);
    await opened.store.commit('kept', [offset('t', 0, 3n)], null);
    await opened.store.deleteGroup('deleted-group-id');
    opened.store.compact();
    const bytes = fs.readFileSync(path.join(dir, OFFSET_LOG_FILE));
    assert.equal(bytes.indexOf('deleted-group-id'), -1);
    assert.equal(bytes.indexOf('topic-of-deleted'), -1);
    const seen: OffsetRecord[] = [];
    replayOffsetLog(bytes, (r) => seen.push(r));
    assert.deepEqual(
      seen.map((r) => [r.type, r.groupId]),
      [[1, 'kept']],
    );
  } finally {
    await opened.close();
  }
});

test('a compaction while a tombstone waits for its fsync keeps the tombstone after the snapshot', async () => {
  const dir = tempDir();
  const first = openStore(dir);
  await first.store.commit('g', [offset('t', 0, 8n)], null);
  const deleting = first.store.deleteGroup('g');
  // the snapshot still holds g's offsets (the deletion is not durable); the pending tombstone follows them
  first.store.compact();
  await deleting;
  assert.equal(first.store.has('g'), false);
  const seen: OffsetRecord[] = [];
  replayOffsetLog(fs.readFileSync(path.join(dir, OFFSET_LOG_FILE)), (r) => seen.push(r));
  assert.deepEqual(
    seen.map((r) => [r.type, r.groupId]),
    [
      [1, 'g'],
      [2, 'g'],
    ],
  );
  await first.close();
  const second = openStore(dir);
  try {
    assert.equal(second.store.has('g'), false);
  } finally {
    await second.close();
  }
});

test('a torn tombstone (a deletion never acknowledged) is cut off at open and the group keeps its offsets', async () => {
  const dir = tempDir();
  const first = openStore(dir);
  await first.store.commit('g', [offset('t', 0, 8n)], null);
  await first.close();
  const file = path.join(dir, OFFSET_LOG_FILE);
  const goodBytes = fs.statSync(file).size;
  const tombstone = encodeDeleteGroupRecord('g');
  fs.appendFileSync(file, tombstone.subarray(0, tombstone.length - 1));
  const second = openStore(dir);
  try {
    assert.equal(fs.statSync(file).size, goodBytes);
    assert.deepEqual(offsetsOf(second.store, 'g'), [['t', 0, 8n]]);
  } finally {
    await second.close();
  }
});

test('a damaged commit in the middle of the offsets log costs only that commit: the later ones replay, the bytes are set aside', async () => {
  const dir = tempDir();
  const first = openStore(dir);
  await first.store.commit('a', [offset('t', 0, 1n)], null);
  const file = path.join(dir, OFFSET_LOG_FILE);
  const damagedAt = fs.statSync(file).size;
  await first.store.commit('a', [offset('t', 0, 2n)], null);
  const damagedEnd = fs.statSync(file).size;
  await first.store.commit('b', [offset('t', 1, 30n)], null);
  await first.store.commit('a', [offset('t', 2, 40n)], null);
  await first.close();
  const bytes = fs.readFileSync(file);
  bytes[damagedAt + 20]! ^= 0x10;
  fs.writeFileSync(file, bytes);
  const errors: string[] = [];
  const scheduler = new SyncScheduler('always');
  const store = FileGroupOffsetStore.open({ dir, scheduler, warn: () => {}, error: (line) => errors.push(line), info: () => {} });
  try {
    assert.deepEqual(
      offsetsOf(store, 'a'),
      [
        ['t', 0, 1n],
        ['t', 2, 40n],
      ],
      'the damaged commit falls back to the one before it',
    );
    assert.deepEqual(offsetsOf(store, 'b'), [['t', 1, 30n]]);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /DAMAGED: skipped \d+ byte\(s\) in 1 range\(s\).*replayed the 3 intact record\(s\)/);
    assert.deepEqual(fs.readFileSync(`${file}.damaged-${damagedAt}`), bytes.subarray(damagedAt, damagedEnd));
    await store.commit('b', [offset('t', 1, 31n)], null);
  } finally {
    store.close();
    await scheduler.close();
  }
  const again = openStore(dir);
  try {
    assert.deepEqual(offsetsOf(again.store, 'b'), [['t', 1, 31n]], 'appends after the damage replay');
  } finally {
    await again.close();
  }
});

test('an offsets log in an unknown format version stops the open, naming the file and both versions', async () => {
  const dir = tempDir();
  const first = openStore(dir);
  await first.store.commit('a', [offset('t', 0, 1n)], null);
  await first.close();
  const file = path.join(dir, OFFSET_LOG_FILE);
  const bytes = fs.readFileSync(file);
  bytes.writeUInt16BE(99, 4);
  fs.writeFileSync(file, bytes);
  assert.throws(
    () => openStore(dir),
    (error: Error) => error.message.includes(file) && error.message.includes('version 99 (this Postbox reads 1)'),
  );
  assert.deepEqual(fs.readFileSync(file), bytes);
});

test('random flipped bytes in the offsets log each cost at most the commit they hit; every commit replayed is an original one', () => {
  const records = Array.from({ length: 120 }, (_, n) => encodeCommitRecord(`group-${n % 7}`, [offset(`topic-${n % 3}`, n % 5, BigInt(n * 10))]));
  const image = Buffer.concat([FILE_HEADER, ...records]);
  const originals = new Set(records.map((record) => record.toString('hex')));
  let state = 11;
  const next = (): number => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
  for (let round = 0; round < 300; round++) {
    const damaged = Buffer.from(image);
    const flips = 1 + Math.floor(next() * 3);
    for (let f = 0; f < flips; f++) {
      const at = FILE_HEADER.length + Math.floor(next() * (damaged.length - FILE_HEADER.length));
      damaged[at]! ^= 1 << Math.floor(next() * 8);
    }
    const replayed: OffsetRecord[] = [];
    const result = replayOffsetLog(damaged, (record) => replayed.push(record));
    for (const record of replayed) {
      assert.equal(record.type, 1);
      if (record.type !== 1) continue;
      assert.ok(originals.has(encodeCommitRecord(record.groupId, record.offsets).toString('hex')), `round ${round}: a commit never written`);
    }
    assert.equal(result.records, replayed.length);
    assert.ok(records.length - replayed.length <= flips, `round ${round}: ${flips} flip(s) cost ${records.length - replayed.length} commit(s)`);
  }
});

/** Resolves once `done()` holds (checked every 10 ms), rejects after 10 s. */
function waitFor(done: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const poll = (): void => {
      if (done()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

test('an offset commit whose write is torn by a full disk is refused and its bytes cut off; commits after the disk recovers are durable', async () => {
  const dir = tempDir();
  const file = path.join(dir, OFFSET_LOG_FILE);
  const errors: Error[] = [];
  const scheduler = new SyncScheduler('always', { onError: (error) => errors.push(error) });
  const store = FileGroupOffsetStore.open({ dir, scheduler, warn: () => {}, info: () => {} });
  await store.commit('g', [offset('t', 0, 10n)], null);
  const durableBytes = fs.statSync(file).size;
  installFaults(parseFaultPlan('seed=7,torn=1'));
  try {
    await assert.rejects(store.commit('g', [offset('t', 0, 20n, 'x'.repeat(1000))], null), /ENOSPC/);
  } finally {
    installFaults(null);
  }
  assert.equal(fs.statSync(file).size, durableBytes, 'whatever the torn write left is cut off');
  assert.deepEqual(offsetsOf(store, 'g'), [['t', 0, 10n]], 'the refused commit is not visible');
  assert.ok(errors.length > 0 && scheduler.failure !== null);
  scheduler.requestRound(); // storage is reported healthy again once a round completes
  await waitFor(() => scheduler.failure === null);
  await store.commit('g', [offset('t', 0, 30n)], null);
  assert.deepEqual(offsetsOf(store, 'g'), [['t', 0, 30n]]);
  store.close();
  await scheduler.close();
  const reopened = openStore(dir);
  assert.deepEqual(offsetsOf(reopened.store, 'g'), [['t', 0, 30n]]);
  await reopened.close();
});
