import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SegmentLog, type SegmentLogOptions } from './log.js';
import { SyncScheduler } from './sync.js';
import { SEGMENT_HEADER_BYTES, RECORD_HEADER_BYTES, ackFileName, segmentFileName } from './format.js';

interface Position {
  segment: number;
  offset: number;
  payload: Buffer;
}

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-log-'));
  createdDirs.push(dir);
  return dir;
}

function openLog(dir: string, extra: Partial<SegmentLogOptions> = {}, lines: string[] = []): SegmentLog {
  return SegmentLog.open({
    dir,
    scheduler: new SyncScheduler('never'),
    logger: (line) => lines.push(line),
    ...extra,
  });
}

/** A deterministic payload of `length` bytes for record `n`. */
function payloadFor(n: number, length = 10 + (n % 97)): Buffer {
  const payload = Buffer.alloc(length);
  for (let i = 0; i < length; i++) payload[i] = (n * 31 + i * 7) & 0xff;
  payload.writeUInt32BE(n, 0);
  return payload;
}

/** Appends `payload` split into up to three parts. */
function appendSplit(log: SegmentLog, payload: Buffer): Position {
  const cut1 = Math.floor(payload.length / 3);
  const cut2 = Math.floor((payload.length * 2) / 3);
  const parts = [payload.subarray(0, cut1), payload.subarray(cut1, cut2), payload.subarray(cut2)];
  const offset = log.append(parts, payload.length);
  return { segment: log.lastSegment, offset, payload };
}

function appendMany(log: SegmentLog, count: number, first = 0): Position[] {
  const positions: Position[] = [];
  for (let n = first; n < first + count; n++) positions.push(appendSplit(log, payloadFor(n)));
  return positions;
}

function segmentFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.seg'))
    .sort();
}

function recoveredPayloads(log: SegmentLog): Buffer[] {
  return log.takeRecovered().map((record) => record.payload);
}

test('records read back byte for byte across segment rolls, before and after flush', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 512, readAheadBytes: 300 });
  const positions = appendMany(log, 200);
  assert.ok(new Set(positions.map((p) => p.segment)).size > 10, 'small segments rolled many times');
  for (const position of positions) {
    assert.deepEqual(log.read(position.segment, position.offset, position.payload.length), position.payload);
  }
  log.flush();
  for (const position of positions.slice().reverse()) {
    assert.deepEqual(log.read(position.segment, position.offset, position.payload.length), position.payload);
  }
  assert.equal(segmentFiles(dir).length, new Set(positions.map((p) => p.segment)).size);
  log.close();
});

test('a multi-part payload is stored as the concatenation of its parts with a matching CRC', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { verifyOnRead: true });
  const parts = [Buffer.from('head|'), Buffer.alloc(0), Buffer.from('middle|'), Buffer.from('tail')];
  const offset = log.append(parts, 16);
  assert.equal(offset, SEGMENT_HEADER_BYTES);
  log.flush();
  assert.equal(log.read(log.lastSegment, offset, 16).toString(), 'head|middle|tail');
  assert.throws(() => log.append([Buffer.from('abc')], 4), RangeError);
  assert.throws(() => log.append([Buffer.from('abcde')], 4), RangeError);
  assert.throws(() => log.append([], 0), RangeError);
  log.close();
});

test('interleaved appends and reads return the right bytes, and returned payloads never change', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 4096, readAheadBytes: 1024, verifyOnRead: true });
  const positions: Position[] = [];
  const handedOut: Array<{ view: Buffer; copy: Buffer }> = [];
  let seed = 12345;
  const random = (limit: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % limit;
  };
  for (let n = 0; n < 2000; n++) {
    positions.push(appendSplit(log, payloadFor(n, 4 + random(300))));
    if (n % 3 === 0) log.flush();
    for (let k = 0; k < 2; k++) {
      const position = positions[random(positions.length)]!;
      const view = log.read(position.segment, position.offset, position.payload.length);
      assert.deepEqual(view, position.payload);
      if (handedOut.length < 500) handedOut.push({ view, copy: Buffer.from(view) });
    }
  }
  for (const { view, copy } of handedOut) assert.deepEqual(view, copy);
  log.close();
});

test('a record larger than the write buffer is written directly and reads back', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 64 * 1024 });
  const small = appendSplit(log, payloadFor(1));
  const big = appendSplit(log, payloadFor(2, 700 * 1024));
  const after = appendSplit(log, payloadFor(3));
  assert.notEqual(big.segment, small.segment, 'a record past segmentBytes starts a new segment');
  assert.notEqual(after.segment, big.segment);
  for (const position of [small, big, after]) {
    assert.deepEqual(log.read(position.segment, position.offset, position.payload.length), position.payload);
  }
  log.close();
  const reopened = openLog(dir);
  assert.deepEqual(recoveredPayloads(reopened), [small.payload, big.payload, after.payload]);
  reopened.close();
});

test('reopening shows only the unacked records, in append order', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 1024 });
  const positions = appendMany(log, 100);
  for (let n = 0; n < 100; n++) if (n % 3 === 0) assert.equal(log.ack(positions[n]!.segment, positions[n]!.offset), true);
  log.close();
  const reopened = openLog(dir, { segmentBytes: 1024 });
  const expected = positions.filter((_, n) => n % 3 !== 0);
  const recovered = reopened.takeRecovered();
  assert.deepEqual(
    recovered.map((r) => [r.segment, r.offset, r.length]),
    expected.map((p) => [p.segment, p.offset, p.payload.length]),
  );
  assert.deepEqual(
    recovered.map((r) => r.payload),
    expected.map((p) => p.payload),
  );
  assert.deepEqual(reopened.takeRecovered(), [], 'recovered records are handed out once');
  assert.equal(reopened.liveRecords, expected.length);
  assert.equal(
    reopened.liveBytes,
    expected.reduce((sum, p) => sum + p.payload.length, 0),
  );
  reopened.close();
});

test("delivered markers come back as each live record's delivery count; acked records and old ack files are unaffected", () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 1024 });
  const positions = appendMany(log, 30);
  const mark = (n: number) => log.markDelivered(positions[n]!.segment, positions[n]!.offset);
  mark(1);
  mark(2);
  mark(2);
  mark(3);
  log.ack(positions[3]!.segment, positions[3]!.offset); // delivered, then acked: gone
  for (let k = 0; k < 300; k++) mark(29); // saturates
  mark(4);
  log.markDelivered(999, 16); // unknown segment: ignored
  assert.equal(log.liveRecords, 29, 'markers are not acks');
  log.close();
  const reopened = openLog(dir, { segmentBytes: 1024 });
  const recovered = reopened.takeRecovered();
  const counts = new Map(recovered.map((r) => [r.payload.readUInt32BE(0), r.deliveries]));
  assert.equal(counts.has(3), false);
  assert.deepEqual([counts.get(0), counts.get(1), counts.get(2), counts.get(4), counts.get(5), counts.get(29)], [0, 1, 2, 1, 0, 255]);
  assert.equal(recovered.length, 29);
  reopened.close();

  // an ack file written before markers existed (acks only) reads as before: no deliveries
  const old = temporaryDir();
  const oldLog = openLog(old);
  const oldPositions = appendMany(oldLog, 5);
  oldLog.ack(oldPositions[0]!.segment, oldPositions[0]!.offset);
  oldLog.close();
  const visited: Array<[number, number]> = [];
  openLog(old, { onRecovered: (_segment, _offset, _length, payload, deliveries) => visited.push([payload.readUInt32BE(0), deliveries]) }).close();
  assert.deepEqual(visited, [
    [1, 0],
    [2, 0],
    [3, 0],
    [4, 0],
  ]);
});

test('a delivered marker pointing into a dropped tail is discarded with it, and never marks a later record', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const positions = appendMany(log, 5);
  log.markDelivered(positions[4]!.segment, positions[4]!.offset);
  log.markDelivered(positions[0]!.segment, positions[0]!.offset);
  log.close();
  fs.truncateSync(path.join(dir, segmentFileName(1)), positions[4]!.offset + 4); // the marked record is torn
  const reopened = openLog(dir);
  assert.deepEqual(
    reopened.takeRecovered().map((r) => r.deliveries),
    [1, 0, 0, 0],
  );
  const replacement = appendSplit(reopened, payloadFor(99));
  assert.equal(replacement.offset, positions[4]!.offset, 'the new record reuses the torn offset');
  reopened.close();
  const again = openLog(dir);
  assert.deepEqual(
    again.takeRecovered().map((r) => r.deliveries),
    [1, 0, 0, 0, 0],
  );
  again.close();
});

test('liveRecords and liveBytes follow appends and acks; unknown and repeated acks are ignored', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const positions = appendMany(log, 10);
  const total = positions.reduce((sum, p) => sum + p.payload.length, 0);
  assert.equal(log.liveRecords, 10);
  assert.equal(log.liveBytes, total);
  const first = positions[0]!;
  assert.equal(log.ack(first.segment, first.offset), true);
  assert.equal(log.ack(first.segment, first.offset), false, 'second ack of the same record');
  assert.equal(log.ack(first.segment, first.offset + 1), false, 'offset inside a record');
  assert.equal(log.ack(999, first.offset), false, 'unknown segment');
  assert.equal(log.liveRecords, 9);
  assert.equal(log.liveBytes, total - first.payload.length);
  log.close();
});

test('a fully acked sealed segment is deleted with its ack file; the active one stays until it rolls', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 600 });
  const positions = appendMany(log, 30);
  log.flush();
  const firstSegment = positions[0]!.segment;
  const inFirst = positions.filter((p) => p.segment === firstSegment);
  for (const position of inFirst.slice(0, -1)) log.ack(position.segment, position.offset);
  log.flush();
  assert.ok(fs.existsSync(path.join(dir, ackFileName(firstSegment))), 'acks are written to the ack file');
  const last = inFirst[inFirst.length - 1]!;
  log.ack(last.segment, last.offset);
  assert.equal(fs.existsSync(path.join(dir, segmentFileName(firstSegment))), false);
  assert.equal(fs.existsSync(path.join(dir, ackFileName(firstSegment))), false);
  assert.throws(() => log.read(last.segment, last.offset, last.payload.length), /does not exist/);

  const activeSegment = log.activeSegment;
  for (const position of positions) log.ack(position.segment, position.offset);
  assert.equal(log.liveRecords, 0);
  assert.deepEqual(segmentFiles(dir), [segmentFileName(activeSegment)], 'only the active segment is left');
  const big = appendSplit(log, payloadFor(100, 550)); // cannot fit: rolls, and the fully acked old segment goes
  assert.equal(big.segment, activeSegment + 1);
  assert.equal(fs.existsSync(path.join(dir, segmentFileName(activeSegment))), false);
  log.flush();
  assert.deepEqual(segmentFiles(dir), [segmentFileName(activeSegment + 1)]);
  log.close();
});

test('fully acked segments left by a crash are deleted at open', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 600 });
  const positions = appendMany(log, 30);
  const firstSegment = positions[0]!.segment;
  log.flush();
  // simulate: all acks of segment 1 reached the ack file, but the delete did not happen
  const acks = Buffer.alloc(4 * positions.filter((p) => p.segment === firstSegment).length);
  positions.filter((p) => p.segment === firstSegment).forEach((p, i) => acks.writeUInt32BE(p.offset, i * 4));
  log.close();
  fs.writeFileSync(path.join(dir, ackFileName(firstSegment)), acks);
  const reopened = openLog(dir, { segmentBytes: 600 });
  assert.equal(fs.existsSync(path.join(dir, segmentFileName(firstSegment))), false);
  assert.equal(fs.existsSync(path.join(dir, ackFileName(firstSegment))), false);
  assert.equal(reopened.takeRecovered().length, positions.filter((p) => p.segment !== firstSegment).length);
  reopened.close();
});

test('purge drops every record and continues with the next segment number', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 600 });
  appendMany(log, 40);
  const before = log.activeSegment;
  log.purge();
  assert.equal(log.liveRecords, 0);
  assert.equal(log.liveBytes, 0);
  assert.equal(log.activeSegment, before + 1);
  assert.deepEqual(segmentFiles(dir), [], 'an empty segment has no file until its first write');
  const position = appendSplit(log, payloadFor(7));
  assert.equal(position.segment, before + 1);
  log.flush();
  assert.deepEqual(segmentFiles(dir), [segmentFileName(before + 1)]);
  assert.deepEqual(log.read(position.segment, position.offset, position.payload.length), position.payload);
  log.close();
  const reopened = openLog(dir);
  assert.deepEqual(recoveredPayloads(reopened), [position.payload]);
  reopened.close();
});

test('destroy removes every file and the directory; reset makes the log usable again', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 600 });
  const positions = appendMany(log, 40);
  log.ack(positions[0]!.segment, positions[0]!.offset);
  log.flush();
  log.destroy();
  assert.equal(fs.existsSync(dir), false);
  assert.throws(() => log.append([Buffer.from('x')], 1), /destroyed/);
  log.reset();
  const position = appendSplit(log, payloadFor(1));
  assert.equal(position.segment, 1);
  assert.deepEqual(log.read(position.segment, position.offset, position.payload.length), position.payload);
  log.close();
});

test('an empty directory starts at segment 1, and reopening appends after the recovered records', () => {
  const dir = path.join(temporaryDir(), 'nested', 'queue');
  const log = openLog(dir);
  assert.equal(log.activeSegment, 1);
  const first = appendMany(log, 5);
  log.close();
  const reopened = openLog(dir);
  assert.equal(reopened.activeSegment, 1);
  reopened.takeRecovered();
  const second = appendMany(reopened, 5, 5);
  assert.ok(second[0]!.offset > first[4]!.offset);
  reopened.close();
  const third = openLog(dir);
  assert.deepEqual(
    recoveredPayloads(third),
    [...first, ...second].map((p) => p.payload),
  );
  third.close();
});

// ---- torn and corrupt tails -------------------------------------------------------------------

/** Writes 20 records into one segment, closes, damages the file, reopens. */
function damageAndReopen(damage: (file: string, positions: Position[]) => void): {
  dir: string;
  positions: Position[];
  lines: string[];
  log: SegmentLog;
  recovered: Buffer[];
} {
  const dir = temporaryDir();
  const log = openLog(dir);
  const positions = appendMany(log, 20);
  log.close();
  damage(path.join(dir, segmentFileName(1)), positions);
  const lines: string[] = [];
  const reopened = openLog(dir, {}, lines);
  return { dir, positions, lines, log: reopened, recovered: recoveredPayloads(reopened) };
}

function assertAppendsStillWork(dir: string, log: SegmentLog, kept: Buffer[]): void {
  const added = appendMany(log, 3, 1000);
  for (const position of added) {
    assert.deepEqual(log.read(position.segment, position.offset, position.payload.length), position.payload);
  }
  log.close();
  const lines: string[] = [];
  const again = openLog(dir, {}, lines);
  assert.deepEqual(recoveredPayloads(again), [...kept, ...added.map((p) => p.payload)]);
  assert.ok(!lines.some((line) => line.includes('dropped') && !line.includes('dropped 0 byte')), lines.join('\n'));
  again.close();
}

test('a segment truncated mid-record loses only the torn record', () => {
  const result = damageAndReopen((file, positions) => {
    const last = positions[19]!;
    fs.truncateSync(file, last.offset + RECORD_HEADER_BYTES + 3);
  });
  const expected = result.positions.slice(0, 19).map((p) => p.payload);
  assert.deepEqual(result.recovered, expected);
  const size = fs.statSync(path.join(result.dir, segmentFileName(1))).size;
  assert.equal(size, result.positions[19]!.offset, 'file truncated at the torn record');
  const dropLine = result.lines.find((line) => line.includes(`dropped ${RECORD_HEADER_BYTES + 3} byte(s) at offset ${size}`));
  assert.ok(dropLine, result.lines.join('\n'));
  assertAppendsStillWork(result.dir, result.log, expected);
});

test('a segment cut inside a record header loses only that record', () => {
  const result = damageAndReopen((file, positions) => fs.truncateSync(file, positions[12]!.offset + 5));
  const expected = result.positions.slice(0, 12).map((p) => p.payload);
  assert.deepEqual(result.recovered, expected);
  assert.ok(
    result.lines.some((line) => line.includes('dropped 5 byte(s)')),
    result.lines.join('\n'),
  );
  assertAppendsStillWork(result.dir, result.log, expected);
});

test('a corrupted payload byte costs only that record: the records after it are recovered and the bytes saved aside', () => {
  const errors: string[] = [];
  const dir = temporaryDir();
  const log = openLog(dir);
  const positions = appendMany(log, 20);
  log.close();
  const file = path.join(dir, segmentFileName(1));
  const bytes = fs.readFileSync(file);
  const damaged = positions[7]!;
  bytes[damaged.offset + RECORD_HEADER_BYTES + 2]! ^= 0x40;
  fs.writeFileSync(file, bytes);
  const reopened = openLog(dir, { errorLogger: (line) => errors.push(line) });
  const expected = positions.filter((_, n) => n !== 7).map((p) => p.payload);
  assert.deepEqual(recoveredPayloads(reopened), expected);
  assert.equal(fs.statSync(file).size, bytes.length, 'nothing truncated');
  const side = `${file}.damaged-${damaged.offset}`;
  assert.deepEqual(fs.readFileSync(side), bytes.subarray(damaged.offset, damaged.offset + RECORD_HEADER_BYTES + damaged.payload.length));
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /DAMAGED: skipped \d+ byte\(s\) in 1 range\(s\).*CRC mismatch.*recovered the 19 intact record\(s\)/);
  assert.ok(errors[0]!.includes(side), errors[0]);
  // acks and appends after the hole land on the right records, and survive another restart
  reopened.ack(positions[8]!.segment, positions[8]!.offset);
  assert.equal(reopened.ack(damaged.segment, damaged.offset), false, 'the damaged record is not live');
  assertAppendsStillWork(
    dir,
    reopened,
    expected.filter((_, n) => n !== 7),
  );
  // the reopen inside found the same damage again: the side file was kept, not written twice
  assert.deepEqual(
    fs.readdirSync(dir).filter((name) => name.includes('.damaged-')),
    [path.basename(side)],
  );
});

test('a corrupted length or CRC byte costs only that record, found by scanning forward', () => {
  for (const at of [0, 1, 5]) {
    const result = damageAndReopen((file, positions) => {
      const bytes = fs.readFileSync(file);
      bytes[positions[15]!.offset + at]! ^= 0x01 << at;
      fs.writeFileSync(file, bytes);
    });
    const expected = result.positions.filter((_, n) => n !== 15).map((p) => p.payload);
    assert.deepEqual(result.recovered, expected, `byte ${at}`);
    assert.ok(fs.existsSync(path.join(result.dir, `${segmentFileName(1)}.damaged-${result.positions[15]!.offset}`)));
    assertAppendsStillWork(result.dir, result.log, expected);
  }
});

test('damage in the last record with nothing valid after it is a torn tail: truncated, no side file', () => {
  const result = damageAndReopen((file, positions) => {
    const bytes = fs.readFileSync(file);
    bytes[positions[19]!.offset + RECORD_HEADER_BYTES]! ^= 0x08;
    fs.writeFileSync(file, bytes);
  });
  const expected = result.positions.slice(0, 19).map((p) => p.payload);
  assert.deepEqual(result.recovered, expected);
  assert.equal(
    fs.readdirSync(result.dir).some((name) => name.includes('.damaged-')),
    false,
  );
  assert.ok(
    result.lines.some((line) => line.includes('CRC mismatch') && line.includes('dropped')),
    result.lines.join('\n'),
  );
  assertAppendsStillWork(result.dir, result.log, expected);
});

test('garbage and zero-filled tails after the last record are dropped', () => {
  for (const tail of [Buffer.from('this is not a record at all, just noise'), Buffer.alloc(4096)]) {
    const result = damageAndReopen((file) => fs.appendFileSync(file, tail));
    const expected = result.positions.map((p) => p.payload);
    assert.deepEqual(result.recovered, expected);
    assert.ok(
      result.lines.some((line) => line.includes(`dropped ${tail.length} byte(s)`)),
      result.lines.join('\n'),
    );
    assertAppendsStillWork(result.dir, result.log, expected);
  }
});

test('an ack entry pointing into a dropped tail never acks a later record at that offset', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const positions = appendMany(log, 10);
  log.ack(positions[9]!.segment, positions[9]!.offset);
  log.ack(positions[0]!.segment, positions[0]!.offset);
  log.close();
  fs.truncateSync(path.join(dir, segmentFileName(1)), positions[9]!.offset + 4); // the acked record is torn
  fs.appendFileSync(path.join(dir, ackFileName(1)), Buffer.from([0, 0])); // and the ack file has a partial entry
  const reopened = openLog(dir);
  assert.deepEqual(
    recoveredPayloads(reopened),
    positions.slice(1, 9).map((p) => p.payload),
  );
  const replacement = appendSplit(reopened, payloadFor(99));
  assert.equal(replacement.offset, positions[9]!.offset, 'the new record reuses the torn offset');
  reopened.close();
  const again = openLog(dir);
  assert.deepEqual(recoveredPayloads(again), [...positions.slice(1, 9).map((p) => p.payload), replacement.payload]);
  again.close();
});

test('a segment whose header is damaged but whose records check out keeps its records; the header is rewritten', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 600 });
  const positions = appendMany(log, 30);
  log.close();
  const damaged = path.join(dir, segmentFileName(2));
  const bytes = fs.readFileSync(damaged);
  bytes[0] = 0x51;
  fs.writeFileSync(damaged, bytes);
  const errors: string[] = [];
  const reopened = openLog(dir, { segmentBytes: 600, errorLogger: (line) => errors.push(line) });
  assert.deepEqual(
    recoveredPayloads(reopened),
    positions.map((p) => p.payload),
  );
  assert.ok(
    errors.some((line) => line.includes('DAMAGED header (bad magic')),
    errors.join('\n'),
  );
  assert.equal(fs.readFileSync(damaged)[0], 0x50, 'rewritten');
  assert.equal(fs.readFileSync(`${damaged}.damaged-0`)[0], 0x51, 'the old header is kept');
  reopened.close();
});

test('a segment with a bad magic and no record that checks out is moved aside as .corrupt at error level and the rest recovers', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 600 });
  const positions = appendMany(log, 30);
  log.close();
  const damaged = path.join(dir, segmentFileName(2));
  const bytes = fs.readFileSync(damaged);
  bytes[0] = 0x51;
  bytes.fill(0xee, SEGMENT_HEADER_BYTES); // and nothing after the header is a record
  fs.writeFileSync(damaged, bytes);
  const errors: string[] = [];
  const reopened = openLog(dir, { segmentBytes: 600, errorLogger: (line) => errors.push(line) });
  assert.ok(fs.existsSync(damaged + '.corrupt'));
  assert.equal(fs.existsSync(damaged), false);
  assert.ok(
    errors.some((line) => line.includes('bad magic') && line.includes('moved aside')),
    errors.join('\n'),
  );
  const expected = positions.filter((p) => p.segment !== 2).map((p) => p.payload);
  assert.deepEqual(recoveredPayloads(reopened), expected);
  const added = appendSplit(reopened, payloadFor(500));
  assert.deepEqual(reopened.read(added.segment, added.offset, added.payload.length), added.payload);
  reopened.close();
});

test('a segment in an unknown format version stops the open, naming the file and both versions', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  appendMany(log, 5);
  log.close();
  const file = path.join(dir, segmentFileName(1));
  const bytes = fs.readFileSync(file);
  bytes.writeUInt16BE(99, 4);
  fs.writeFileSync(file, bytes);
  assert.throws(
    () => openLog(dir),
    (error: Error) => error.message.includes(file) && error.message.includes('version 99 (this Postbox reads 1)'),
  );
  assert.deepEqual(fs.readFileSync(file), bytes, 'the file is left as it was');
  assert.deepEqual(segmentFiles(dir), [segmentFileName(1)]);
});

test('a segment header torn before it landed holds no record and is removed', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const positions = appendMany(log, 3);
  log.close();
  fs.writeFileSync(path.join(dir, segmentFileName(2)), Buffer.alloc(16)); // zero-filled header
  const reopened = openLog(dir);
  assert.deepEqual(
    recoveredPayloads(reopened),
    positions.map((p) => p.payload),
  );
  assert.equal(
    fs.readdirSync(dir).some((name) => name.endsWith('.corrupt')),
    false,
  );
  reopened.close();
});

test('an empty segment file left by a crash during a roll is removed', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const positions = appendMany(log, 3);
  log.close();
  fs.writeFileSync(path.join(dir, segmentFileName(2)), Buffer.alloc(0));
  const reopened = openLog(dir);
  assert.deepEqual(
    recoveredPayloads(reopened),
    positions.map((p) => p.payload),
  );
  assert.equal(reopened.activeSegment, 3);
  reopened.close();
});
