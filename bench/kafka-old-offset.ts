/**
 * Does a Kafka partition stay as cheap to read and write as it grows? One partition is filled with
 * `--gib` GiB of 1 KiB records by kcat, one slice (`--slice-mib`) at a time; every slice's produce is timed,
 * so the first GiB and the last show whether appending slows as data accumulates. Then kcat reads one slice
 * from several places: from offset 0 when the topic holds only that first slice (the small-topic baseline),
 * and, once the topic is full, from offset 0 (the oldest data, `--gib` GiB behind the tail), from the middle
 * and from the tail. Each read is timed, and the broker's own CPU per record is taken from /proc, since
 * kcat's per-record work dominates the wall time on a small machine.
 *
 * Reads run twice: "warm" as they come, and "cold" after the page cache is dropped (root only; skipped
 * otherwise), so the old data is not favoured or penalised by what the cache happens to hold.
 *
 *   node dist/bench/kafka-old-offset.js [--gib 10] [--slice-mib 1024] [--json out.json]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostbox } from './lib/brokers.js';
import { fmtInt, intFlag, machineInfo, parseArgs, table } from './lib/common.js';
import { runKcat, writeRecordsFile, type KcatRun } from './lib/kcat.js';

const RECORD_BYTES = 1024;
const TOPIC = 'history';

interface ReadResult {
  label: string;
  cache: 'warm' | 'cold';
  /** bytes of records the partition held when this read ran */
  topicBytes: number;
  fromOffset: number;
  records: number;
  run: KcatRun;
}

/** Drops the page cache (needs root); false when that is not allowed here. */
function dropPageCache(): boolean {
  const sync = spawnSync('sync');
  if (sync.status !== 0) return false;
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2), ['gib', 'slice-mib', 'json']);
  const totalBytes = intFlag(flags, 'gib', 10) * 2 ** 30;
  const sliceBytes = intFlag(flags, 'slice-mib', 1024) * 2 ** 20;
  const slices = Math.ceil(totalBytes / sliceBytes);
  const sliceRecords = Math.floor(sliceBytes / RECORD_BYTES);
  const work = mkdtempSync(join(tmpdir(), 'postbox-kafka-old-offset-'));
  const file = join(work, 'records');
  writeRecordsFile(file, RECORD_BYTES, sliceRecords);
  const broker = await startPostbox();
  const bootstrap = `127.0.0.1:${broker.kafkaPort}`;
  const produces: KcatRun[] = [];
  const reads: ReadResult[] = [];
  const canDrop = dropPageCache();
  const readSlice = async (label: string, fromOffset: number, topicBytes: number): Promise<void> => {
    for (const cache of canDrop ? (['warm', 'cold'] as const) : (['warm'] as const)) {
      if (cache === 'cold') dropPageCache();
      const run = await runKcat(
        ['-C', '-b', bootstrap, '-t', TOPIC, '-p', '0', '-o', String(fromOffset), '-c', String(sliceRecords), '-e', '-q', '-f', '%s\n'],
        broker.pid,
      );
      reads.push({ label, cache, topicBytes, fromOffset, records: sliceRecords, run });
    }
  };
  try {
    for (let slice = 0; slice < slices; slice++) {
      produces.push(
        await runKcat(
          [
            '-P',
            '-b',
            bootstrap,
            '-t',
            TOPIC,
            '-p',
            '0',
            '-X',
            'acks=all',
            '-X',
            'linger.ms=5',
            '-X',
            'batch.num.messages=10000',
            '-X',
            'queue.buffering.max.messages=1000000',
            '-l',
            file,
          ],
          broker.pid,
        ),
      );
      if (slice === 0) await readSlice('offset 0, topic holding one slice', 0, sliceRecords * RECORD_BYTES);
    }
    const records = slices * sliceRecords;
    const held = records * RECORD_BYTES;
    await readSlice('offset 0 (oldest)', 0, held);
    await readSlice('middle', Math.floor(records / 2), held);
    await readSlice('tail (last slice)', records - sliceRecords, held);
  } finally {
    await broker.stop();
    rmSync(work, { recursive: true, force: true });
  }

  const mbps = (records: number, seconds: number): string => ((records * RECORD_BYTES) / seconds / 1e6).toFixed(1);
  const usPerRecord = (run: KcatRun, records: number): string =>
    run.brokerCpuSeconds === undefined ? 'n/a' : ((run.brokerCpuSeconds * 1e6) / records).toFixed(2);
  const gib = (bytes: number): string => (bytes / 2 ** 30).toFixed(1);
  console.log(`# Kafka: reading old offsets and appending as a partition grows, Postbox with kcat — ${machineInfo()}`);
  console.log(
    `\n${slices} slices of ${fmtInt(sliceRecords)} records of ${RECORD_BYTES} B (${gib(sliceBytes)} GiB each) into one partition; produce acks=all\n`,
  );
  const produceRows = produces.map((run, i) => [
    `slice ${i + 1} (partition at ${gib(i * sliceRecords * RECORD_BYTES)} GiB)`,
    fmtInt(sliceRecords / run.seconds),
    mbps(sliceRecords, run.seconds),
    usPerRecord(run, sliceRecords),
    `${run.stealPct.toFixed(0)}%`,
  ]);
  console.log(table(['produce', 'records/s', 'MB/s', 'broker CPU µs/record', 'CPU stolen by host'], produceRows));
  console.log(canDrop ? '' : '\n(page cache not dropped: not root, so only warm reads)\n');
  const readRows = reads.map((r) => [
    r.label,
    r.cache,
    gib(r.topicBytes),
    fmtInt(r.fromOffset),
    fmtInt(r.records / r.run.seconds),
    mbps(r.records, r.run.seconds),
    usPerRecord(r.run, r.records),
    `${r.run.stealPct.toFixed(0)}%`,
  ]);
  console.log(table(['read one slice from', 'cache', 'topic GiB', 'from offset', 'records/s', 'MB/s', 'broker CPU µs/record', 'CPU stolen by host'], readRows));
  const json = flags.get('json');
  if (json !== undefined)
    writeFileSync(json, JSON.stringify({ machine: machineInfo(), recordBytes: RECORD_BYTES, sliceRecords, produces, reads }, null, 2) + '\n');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
