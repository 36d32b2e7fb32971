/**
 * Micro-benchmark of the SegmentLog append path (not run by the tests).
 *
 *   node dist/src/storage/log.bench.js [records] [policy]
 *
 * Appends RECORDS records of PAYLOAD_BYTES (two parts each, like a header + body) in batches of
 * BATCH_RECORDS per event-loop turn, asking for a durability round after every batch without
 * waiting for it (as a broker does), and stops the clock when the last round completes.
 * Then reads every record back once in order, then acks every record in order (one ack-file entry
 * each, one requestRound() per BATCH_RECORDS acks, the clock stopped when the last round completes).
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SegmentLog } from './log.js';
import { SyncScheduler, type FsyncPolicy } from './sync.js';

/** Default record count: 1,000,000. */
const DEFAULT_RECORDS = 1_000_000;
/** Payload size of each record, in bytes. */
const PAYLOAD_BYTES = 100;
/** Records appended per event-loop turn, followed by one requestRound(). */
const BATCH_RECORDS = 1000;
/** Bytes of the first payload part (a stand-in for a message header). */
const HEADER_PART_BYTES = 20;

const MEGABYTE = 1024 * 1024;

async function runAppend(policy: FsyncPolicy, records: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-log-bench-'));
  const scheduler = new SyncScheduler(policy);
  const log = SegmentLog.open({ dir, scheduler, logger: () => {} });
  const headerPart = Buffer.alloc(HEADER_PART_BYTES, 0x68);
  const bodyPart = Buffer.alloc(PAYLOAD_BYTES - HEADER_PART_BYTES, 0x62);
  const parts = [headerPart, bodyPart];
  const segments = new Uint32Array(records);
  const offsets = new Uint32Array(records);

  let lastRound = 0;
  let rounds = 0;
  const done = new Promise<void>((resolve) => {
    scheduler.addListener({
      onDurable(round) {
        rounds++;
        if (appended === records && round >= lastRound) resolve();
      },
    });
  });

  let appended = 0;
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const batch = (): void => {
      const end = Math.min(records, appended + BATCH_RECORDS);
      for (let n = appended; n < end; n++) {
        offsets[n] = log.append(parts, PAYLOAD_BYTES);
        segments[n] = log.lastSegment;
      }
      appended = end;
      lastRound = scheduler.requestRound();
      if (appended < records) setImmediate(batch);
      else resolve();
    };
    batch();
  });
  await done;
  const appendSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const readStarted = process.hrtime.bigint();
  let checksum = 0;
  for (let n = 0; n < records; n++) checksum += log.read(segments[n]!, offsets[n]!, PAYLOAD_BYTES)[0]!;
  const readSeconds = Number(process.hrtime.bigint() - readStarted) / 1e9;
  if (checksum !== records * 0x68) throw new Error('read back the wrong bytes');

  const ackStarted = process.hrtime.bigint();
  let ackRound = 0;
  const acksDone = new Promise<void>((resolve) => {
    scheduler.addListener({
      onDurable(round) {
        if (acked === records && round >= ackRound) resolve();
      },
    });
  });
  let acked = 0;
  await new Promise<void>((resolve) => {
    const batch = (): void => {
      const end = Math.min(records, acked + BATCH_RECORDS);
      for (let n = acked; n < end; n++) log.ack(segments[n]!, offsets[n]!);
      acked = end;
      ackRound = scheduler.requestRound();
      if (acked < records) setImmediate(batch);
      else resolve();
    };
    batch();
  });
  await acksDone;
  const ackSeconds = Number(process.hrtime.bigint() - ackStarted) / 1e9;

  await scheduler.close();
  log.destroy();
  const megabytes = (records * PAYLOAD_BYTES) / MEGABYTE;
  const line = (what: string, seconds: number): string =>
    `${what.padEnd(28)} ${(records / seconds).toFixed(0).padStart(10)} records/s ` +
    `${(megabytes / seconds).toFixed(1).padStart(8)} MB/s  (${seconds.toFixed(3)} s)`;
  console.log(line(`append, fsync ${policy}`, appendSeconds) + `  ${rounds} rounds`);
  console.log(line(`read back, fsync ${policy}`, readSeconds));
  console.log(line(`ack, fsync ${policy}`, ackSeconds));
}

const records = Number(process.argv[2] ?? DEFAULT_RECORDS);
const policies: FsyncPolicy[] = process.argv[3] !== undefined ? [process.argv[3] as FsyncPolicy] : ['never', 'always'];
console.log(`${records} records of ${PAYLOAD_BYTES} bytes, requestRound every ${BATCH_RECORDS}`);
for (const policy of policies) await runAppend(policy, records);
