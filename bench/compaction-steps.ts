/**
 * How long a compaction pass holds the event loop: a partition log of `--mib` MiB of 1 KiB records over
 * 100,000 keys (so about two thirds are superseded) is compacted with PartitionLog.compactionSteps(), and
 * each step is timed. The broker runs one step per event-loop turn, so the longest step is the longest a
 * client waits behind compaction; the pass total is what the whole pass costs.
 *
 *   node dist/bench/compaction-steps.js [--mib 300]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PartitionLog } from '../src/storage/partition/partition-log.js';
import { CompressionCodec, encodeBatch } from '../src/format/kafka/records.js';
import { SyncScheduler } from '../src/storage/sync.js';
import { intFlag, machineInfo, parseArgs, table } from './lib/common.js';

const KEYS = 100_000;
const RECORDS_PER_BATCH = 100;

function main(): void {
  const flags = parseArgs(process.argv.slice(2), ['mib']);
  const mib = intFlag(flags, 'mib', 300);
  const dir = mkdtempSync(join(tmpdir(), 'postbox-compaction-'));
  const log = PartitionLog.open({ dir, scheduler: new SyncScheduler('never'), logger: () => undefined });
  try {
    const value = Buffer.alloc(1000, 0x61);
    const t0 = Date.now();
    let n = 0;
    while (log.sizeBytes < mib * 1024 * 1024) {
      const records = [];
      for (let i = 0; i < RECORDS_PER_BATCH; i++, n++) records.push({ key: Buffer.from(`key-${n % KEYS}`), value, timestampDelta: i });
      log.append(encodeBatch({ compression: CompressionCodec.None, baseTimestamp: t0, producerId: -1n, producerEpoch: -1, baseSequence: -1, records }), t0);
    }
    log.flush();
    const before = log.sizeBytes;
    const segments = log.segmentCount;
    const steps = log.compactionSteps(t0 + 1000, { deleteRetentionMs: 3_600_000 });
    let longest = 0;
    let count = 0;
    let removed = 0;
    const start = performance.now();
    for (;;) {
      const stepStart = performance.now();
      const next = steps.next();
      longest = Math.max(longest, performance.now() - stepStart);
      count++;
      if (next.done === true) {
        removed = next.value.recordsRemoved;
        break;
      }
    }
    const total = performance.now() - start;
    console.log(`# compaction in steps — ${machineInfo()}\n`);
    console.log(
      table(
        ['log MB', 'segments', 'records', 'removed', 'MB after', 'pass ms', 'steps', 'longest step ms'],
        [
          [
            (before / 1e6).toFixed(0),
            String(segments),
            String(n),
            String(removed),
            (log.sizeBytes / 1e6).toFixed(0),
            total.toFixed(0),
            String(count),
            longest.toFixed(1),
          ],
        ],
      ),
    );
  } finally {
    log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
