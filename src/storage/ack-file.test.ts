import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { SegmentLog, type SegmentLogOptions } from './log.js';
import { SyncScheduler } from './sync.js';
import { ACK_DELIVERED_BIT, ACK_ENTRY_BYTES, ACK_FORMAT_VERSION, ACK_HEADER_BYTES, ACK_MAGIC, ackFileName, crc32cOfUint32 } from './format.js';
import { parseAckFile } from './ack-file.js';
import { checkDataDirFormats } from './format-check.js';
import { UnsupportedFormatError } from './format-error.js';
import { seededRandom } from '../util/seeded-random.js';
import { installFaults, parseFaultPlan } from './faults.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-ack-'));
  createdDirs.push(dir);
  return dir;
}

function openLog(dir: string, lines: string[] = [], extra: Partial<SegmentLogOptions> = {}): SegmentLog {
  return SegmentLog.open({ dir, scheduler: new SyncScheduler('never'), logger: (line) => lines.push(line), ...extra });
}

/** Appends records 0..count-1 (each payload starts with its number) into segment 1; returns their offsets. */
function appendNumbered(log: SegmentLog, count: number): number[] {
  const offsets: number[] = [];
  for (let n = 0; n < count; n++) {
    const payload = Buffer.alloc(20, n);
    payload.writeUInt32BE(n, 0);
    offsets.push(log.append([payload], payload.length));
    assert.equal(log.lastSegment, 1);
  }
  return offsets;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

function liveNumbers(log: SegmentLog): number[] {
  return log.takeRecovered().map((record) => record.payload.readUInt32BE(0));
}

test("the ack entry checksum is the CRC-32C of the entry's four bytes", () => {
  const random = seededRandom(7);
  const bytes = Buffer.alloc(4);
  for (const value of [0, 1, 16, 0x7fffffff, 0x80000010, 0xffffffff, ...Array.from({ length: 1000 }, () => Math.floor(random() * 2 ** 32))]) {
    bytes.writeUInt32BE(value >>> 0, 0);
    assert.equal(crc32cOfUint32(value >>> 0), crc32c(bytes), `value ${value}`);
  }
});

test('new ack files are written in version 2: a header, then each entry with its checksum', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const offsets = appendNumbered(log, 5);
  log.markDelivered(1, offsets[2]!);
  log.ack(1, offsets[1]!);
  log.close();
  const bytes = fs.readFileSync(path.join(dir, ackFileName(1)));
  assert.equal(bytes.length, ACK_HEADER_BYTES + 2 * ACK_ENTRY_BYTES);
  assert.equal(bytes.readUInt32BE(0), ACK_MAGIC);
  assert.equal(bytes.readUInt32BE(4), ACK_FORMAT_VERSION);
  assert.equal(bytes.readUInt32BE(8), (offsets[2]! | ACK_DELIVERED_BIT) >>> 0);
  assert.equal(bytes.readUInt32BE(12), crc32cOfUint32((offsets[2]! | ACK_DELIVERED_BIT) >>> 0));
  assert.equal(bytes.readUInt32BE(16), offsets[1]);
  assert.equal(bytes.readUInt32BE(20), crc32cOfUint32(offsets[1]!));
});

test('a version-1 ack file (no header, no checksums) is read as before and converted to version 2 once', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const offsets = appendNumbered(log, 12);
  log.close();
  // what a Postbox before ack checksums wrote: acks of 0, 3, 5, two markers on 7, one on 8, a torn entry
  const old = Buffer.alloc(6 * 4 + 2);
  [
    offsets[0]!,
    offsets[3]!,
    (offsets[7]! | ACK_DELIVERED_BIT) >>> 0,
    offsets[5]!,
    (offsets[7]! | ACK_DELIVERED_BIT) >>> 0,
    (offsets[8]! | ACK_DELIVERED_BIT) >>> 0,
  ].forEach((entry, i) => old.writeUInt32BE(entry, i * 4));
  fs.writeFileSync(path.join(dir, ackFileName(1)), old);
  assert.equal(parseAckFile('x', old).version, 1);

  const lines: string[] = [];
  const upgraded = openLog(dir, lines);
  const recovered = upgraded.takeRecovered();
  assert.deepEqual(
    recovered.map((r) => r.payload.readUInt32BE(0)),
    [1, 2, 4, 6, 7, 8, 9, 10, 11],
  );
  assert.deepEqual(
    recovered.filter((r) => r.deliveries > 0).map((r) => [r.payload.readUInt32BE(0), r.deliveries]),
    [
      [7, 2],
      [8, 1],
    ],
  );
  assert.ok(
    lines.some((line) => line.includes('kept 6 of 6 ack entries, converted from format version 1 to 2')),
    lines.join('\n'),
  );
  const converted = fs.readFileSync(path.join(dir, ackFileName(1)));
  assert.equal(converted.readUInt32BE(0), ACK_MAGIC);
  assert.equal(converted.length, ACK_HEADER_BYTES + 6 * ACK_ENTRY_BYTES);
  // the upgraded broker appends version-2 entries to the converted file
  upgraded.ack(1, offsets[10]!);
  upgraded.close();
  const again: string[] = [];
  const reopened = openLog(dir, again);
  assert.deepEqual(liveNumbers(reopened), [1, 2, 4, 6, 7, 8, 9, 11]);
  assert.deepEqual(
    again.filter((line) => line.includes('ack entries')),
    [],
    'converted once: nothing to rewrite now',
  );
  reopened.close();
  checkDataDirFormats(temporaryDir()); // (an empty directory passes)
});

test('a damaged ack entry is ignored: the record it named stays live, the bytes are kept aside, one error line', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const offsets = appendNumbered(log, 20);
  for (let n = 0; n < 20; n += 2) log.ack(1, offsets[n]!); // acks of 0, 2, ..., 18 (entries 0..9)
  log.close();
  const ackPath = path.join(dir, ackFileName(1));
  const bytes = fs.readFileSync(ackPath);
  // turn entry 5 (the ack of record 10) into an ack of record 11: a one-byte change in its offset
  const at = ACK_HEADER_BYTES + 5 * ACK_ENTRY_BYTES;
  assert.equal(bytes.readUInt32BE(at), offsets[10]);
  assert.equal(offsets[11]! - offsets[10]! < 256 && offsets[10]! >>> 8 === offsets[11]! >>> 8, true, 'the two offsets differ in the last byte only');
  bytes[at + 3] = offsets[11]! & 0xff;
  fs.writeFileSync(ackPath, bytes);

  const lines: string[] = [];
  const errors: string[] = [];
  const reopened = openLog(dir, lines, { errorLogger: (line) => errors.push(line) });
  const live = liveNumbers(reopened);
  assert.ok(live.includes(11), 'record 11 (live, never acked) is not hidden by the damaged entry');
  assert.ok(live.includes(10), 'record 10 stays live: its ack is unreadable (a redelivery, not a loss)');
  assert.deepEqual(live, [1, 3, 5, 7, 9, 10, 11, 13, 15, 17, 19]);
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /00000001\.ack is DAMAGED: 1 of 10 ack entries failed their checksum/);
  const side = `${ackPath}.damaged-${at}`;
  assert.deepEqual(fs.readFileSync(side), bytes.subarray(at, at + ACK_ENTRY_BYTES));
  reopened.close();
  // the file was rewritten without the damaged entry: the next open finds nothing to report
  const quiet: string[] = [];
  const third = openLog(dir, [], { errorLogger: (line) => quiet.push(line) });
  assert.deepEqual(liveNumbers(third), [1, 3, 5, 7, 9, 10, 11, 13, 15, 17, 19]);
  assert.deepEqual(quiet, []);
  third.close();
});

test('every single flipped byte in a version-2 ack file leaves each unacked record live', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const offsets = appendNumbered(log, 12);
  for (let n = 0; n < 12; n += 3) log.ack(1, offsets[n]!);
  log.markDelivered(1, offsets[4]!);
  log.close();
  const ackPath = path.join(dir, ackFileName(1));
  const original = fs.readFileSync(ackPath);
  const unacked = [1, 2, 4, 5, 7, 8, 10, 11];
  const random = seededRandom(11);
  for (let at = 0; at < original.length; at++) {
    const bytes = Buffer.from(original);
    bytes[at] = bytes[at]! ^ (1 + Math.floor(random() * 255));
    fs.writeFileSync(ackPath, bytes);
    for (const name of fs.readdirSync(dir)) if (name.includes('.damaged-')) fs.rmSync(path.join(dir, name));
    let reopened: SegmentLog;
    try {
      reopened = openLog(dir, [], { errorLogger: () => {} });
    } catch (error) {
      // a flip in the version field names a version this Postbox does not read: refused, nothing changed
      assert.ok(error instanceof UnsupportedFormatError && at >= 4 && at < 8, `byte ${at}: ${(error as Error).message}`);
      continue;
    }
    const live = liveNumbers(reopened);
    reopened.close();
    for (const n of unacked) assert.ok(live.includes(n), `byte ${at}: record ${n} is live`);
    fs.writeFileSync(ackPath, original);
  }
});

test('a torn final ack entry and a torn header are dropped; a damaged header with sound entries keeps them', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const offsets = appendNumbered(log, 6);
  log.ack(1, offsets[0]!);
  log.ack(1, offsets[1]!);
  log.close();
  const ackPath = path.join(dir, ackFileName(1));
  const sound = fs.readFileSync(ackPath);

  fs.writeFileSync(ackPath, sound.subarray(0, sound.length - 3)); // the second entry is torn
  let reopened = openLog(dir);
  assert.deepEqual(liveNumbers(reopened), [1, 2, 3, 4, 5]);
  reopened.close();
  assert.equal(fs.statSync(ackPath).size, ACK_HEADER_BYTES + ACK_ENTRY_BYTES, 'cut back to whole entries');

  fs.writeFileSync(ackPath, sound.subarray(0, 5)); // a creation torn inside the header
  reopened = openLog(dir);
  assert.deepEqual(liveNumbers(reopened), [0, 1, 2, 3, 4, 5]);
  reopened.ack(1, offsets[3]!);
  reopened.close();
  reopened = openLog(dir);
  assert.deepEqual(liveNumbers(reopened), [0, 1, 2, 4, 5], 'the rewritten file takes new entries');
  reopened.close();

  const damagedHeader = Buffer.from(sound);
  damagedHeader[1] = 0x00;
  fs.writeFileSync(ackPath, damagedHeader);
  const errors: string[] = [];
  reopened = openLog(dir, [], { errorLogger: (line) => errors.push(line) });
  assert.deepEqual(liveNumbers(reopened), [2, 3, 4, 5]);
  reopened.close();
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /its header is damaged \(rewritten\), 0 of 2 ack entries failed/);
  assert.equal(fs.readFileSync(ackPath).readUInt32BE(0), ACK_MAGIC);
});

test('an ack file in a newer format version stops the start before anything is changed', () => {
  const dataDir = temporaryDir();
  const dir = path.join(dataDir, 'queues', 'q1');
  fs.mkdirSync(dir, { recursive: true });
  const log = openLog(dir);
  const offsets = appendNumbered(log, 3);
  log.ack(1, offsets[0]!);
  log.close();
  const ackPath = path.join(dir, ackFileName(1));
  const bytes = fs.readFileSync(ackPath);
  bytes.writeUInt32BE(3, 4);
  fs.writeFileSync(ackPath, bytes);
  assert.throws(
    () => checkDataDirFormats(dataDir),
    (error: Error) => {
      assert.ok(error instanceof UnsupportedFormatError);
      assert.match(error.message, /00000001\.ack: ack file format version 3 \(this Postbox reads 1 \(no header\) and 2\)/);
      return true;
    },
  );
  assert.throws(() => openLog(dir), UnsupportedFormatError);
  assert.deepEqual(fs.readFileSync(ackPath), bytes, 'left as it was');
});

test("acks while the ack file cannot be opened are kept (past one buffer's worth) and written once it can; nothing throws", async () => {
  const dir = temporaryDir();
  const errors: Error[] = [];
  let recovered = 0;
  const log = openLog(dir);
  const offsets = appendNumbered(log, 1500);
  log.close();
  const faults = installFaults(parseFaultPlan('emfile=1,open-match=.ack'));
  try {
    const live = new SyncScheduler('always', { onError: (error) => errors.push(error), onRecovered: () => recovered++ });
    const reopened = SegmentLog.open({ dir, scheduler: live, logger: () => {} });
    assert.equal(reopened.takeRecovered().length, 1500);
    // 1,000 acks: two ack buffers' worth, every open of the ack file failing
    for (let n = 0; n < 1000; n++) assert.equal(reopened.ack(1, offsets[n]!), true);
    assert.equal(reopened.liveRecords, 500, 'the acks hold in memory');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(errors.length > 0 && errors.every((error) => (error as NodeJS.ErrnoException).code === 'EMFILE'), errors.map(String).join('\n'));
    assert.ok(live.failure !== null && live.brokenLogCount === 1, 'storage failed, the log awaits its repair');
    assert.ok(faults!.counts.emfile > 0);
    installFaults(null); // descriptors are back: the repair probe writes the waiting entries
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 10_000;
      const poll = (): void => {
        if (live.brokenLogCount === 0 && recovered > 0) resolve();
        else if (Date.now() > deadline) reject(new Error('no recovery'));
        else setTimeout(poll, 20);
      };
      poll();
    });
    await live.close();
    reopened.close();
  } finally {
    installFaults(null);
  }
  const after = openLog(dir);
  assert.deepEqual(liveNumbers(after), range(1000, 1500));
  after.close();
});
