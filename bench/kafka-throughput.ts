/**
 * Kafka-protocol throughput of Postbox with kcat (librdkafka), next to the physical limit: the disk's
 * sequential write bandwidth, measured in the same run on the same file system as the broker's data.
 *
 * For each record size: kcat produces N records read from a file (acks=all, so every produce request is
 * answered after the fsync covering it), then a second kcat consumes them all from the beginning and exits
 * with the last one, then the raw fetch client (workers/raw-fetch-consumer.ts) reads them all again counting
 * records from batch headers: what the broker serves when the client costs next to nothing per record. Each
 * is timed from process start to exit, with the broker's CPU per record from /proc. The disk figure is the device's sequential
 * write bandwidth for the same total size (dd with O_DIRECT), measured at least three times (before the broker starts and
 * after each record size) because a virtual disk's speed moves by up to 2x within minutes; the ratios are
 * against the median. Also shown: buffered writes ended by one fdatasync.
 *
 * kcat runs with librdkafka's defaults but for acks=all, linger.ms=5 and batch.num.messages=10000. Its default
 * queue.buffering.max.messages (100,000) is kept: a queue of a million 1 KiB records makes kcat copy the whole
 * file into new memory first, which on the benchmark VM cost kcat about 1 CPU-s more per GiB, taken from the
 * two cores it shares with the broker (bench/results/2026-12-06-kafka-direct-io.md). kcat also runs with glibc
 * malloc settings that keep the memory it frees for reuse (KCAT_ENV in lib/kcat.ts): without them kcat's
 * consumer spent most of its CPU taking new memory on the benchmark VM.
 *
 *   node dist/bench/kafka-throughput.js [--sizes 100,1024] [--mib 1024] [--json out.json]
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledRoot, startPostbox } from './lib/brokers.js';
import { fmtInt, intFlag, machineInfo, nowMs, parseArgs, summarize, table } from './lib/common.js';
import { KCAT_ENV, runKcat, runTimed, writeRecordsFile, type KcatRun } from './lib/kcat.js';

/** Block size of the disk write test: large enough that syscall cost is noise. */
const DISK_BLOCK_BYTES = 1024 * 1024;

/** Partition fetch size of the raw consumer, bytes: librdkafka's fetch.message.max.bytes and the Java client's default. */
const RAW_FETCH_MAX_BYTES = 1024 * 1024;

interface RunResult {
  label: string;
  recordBytes: number;
  records: number;
  run: KcatRun;
}

/**
 * The device's sequential write bandwidth under tmpdir(), MB/s (10^6 bytes): `dd oflag=direct` with 1 MiB
 * blocks, which bypasses the page cache (the physical limit a log writer can approach). NaN when dd fails.
 */
function directWriteMBps(totalBytes: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'postbox-disk-'));
  try {
    const result = spawnSync(
      'dd',
      ['if=/dev/zero', `of=${join(dir, 'direct')}`, 'bs=1M', `count=${Math.ceil(totalBytes / DISK_BLOCK_BYTES)}`, 'oflag=direct'],
      { encoding: 'utf8' },
    );
    const match = /(\d+) bytes .* copied, ([\d.]+) s/.exec(result.stderr ?? '');
    return match === null ? NaN : Number(match[1]) / Number(match[2]) / 1e6;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sequential write bandwidth through the page cache, ended by one fdatasync, MB/s (10^6 bytes). */
function bufferedWriteMBps(totalBytes: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'postbox-disk-'));
  const file = join(dir, 'sequential');
  const block = Buffer.alloc(DISK_BLOCK_BYTES, 0x61);
  try {
    const fd = openSync(file, 'w');
    const start = nowMs();
    for (let written = 0; written < totalBytes; written += DISK_BLOCK_BYTES) writeSync(fd, block);
    fdatasyncSync(fd);
    const seconds = (nowMs() - start) / 1000;
    closeSync(fd);
    return totalBytes / seconds / 1e6;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2), ['sizes', 'mib', 'json']);
  const sizes = (flags.get('sizes') ?? '100,1024').split(',').map(Number);
  // 1 GiB per size: long enough that kcat's start and the last linger are noise
  const totalBytes = intFlag(flags, 'mib', 1024) * 1024 * 1024;
  const work = mkdtempSync(join(tmpdir(), 'postbox-kafka-bench-'));
  const bufferedMBps = bufferedWriteMBps(totalBytes);
  const directRuns = [directWriteMBps(totalBytes)];
  const broker = await startPostbox();
  const results: RunResult[] = [];
  const rawConsumer = join(compiledRoot(), 'bench', 'workers', 'raw-fetch-consumer.js');
  try {
    const bootstrap = `127.0.0.1:${broker.kafkaPort}`;
    for (const recordBytes of sizes) {
      const records = Math.floor(totalBytes / recordBytes);
      const file = join(work, `records-${recordBytes}`);
      writeRecordsFile(file, recordBytes, records);
      const topic = `bench-${recordBytes}`;
      const push = (label: string, run: KcatRun): void => void results.push({ label: `${recordBytes} B ${label}`, recordBytes, records, run });
      push(
        'produce (acks=all)',
        await runKcat(['-P', '-b', bootstrap, '-t', topic, '-X', 'acks=all', '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-l', file], broker.pid),
      );
      // -c: exit with the last record; -e alone would add the final long-poll at the end of the log
      // (fetch.wait.max.ms, 500 ms) to the time, as it would against any Kafka broker
      push('consume', await runKcat(['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-c', String(records), '-e', '-q', '-f', '%s\n'], broker.pid));
      const raw = await runTimed(process.execPath, [rawConsumer, String(broker.kafkaPort), topic, String(records), String(RAW_FETCH_MAX_BYTES)], broker.pid);
      const counted = (JSON.parse(raw.stdout.trim().split('\n').pop()!) as { records: number }).records;
      if (counted < records) throw new Error(`the raw consumer counted ${counted} of ${records} records`);
      push('consume (raw fetch client)', raw.run);
      rmSync(file, { force: true });
      directRuns.push(directWriteMBps(totalBytes));
    }
    while (directRuns.length < 3) directRuns.push(directWriteMBps(totalBytes));
  } finally {
    await broker.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const measured = Float64Array.from(directRuns.filter((v) => !Number.isNaN(v)));
  const directMBps = summarize(measured, measured.length).p50; // NaN when dd never ran
  // the physical limit: the device's direct-I/O bandwidth; the buffered figure when dd is unavailable
  const diskMBps = Number.isNaN(directMBps) ? bufferedMBps : directMBps;
  const mbps = (r: RunResult): number => (r.records * r.recordBytes) / r.run.seconds / 1e6;
  const usPerRecord = (r: RunResult): string => (r.run.brokerCpuSeconds === undefined ? 'n/a' : ((r.run.brokerCpuSeconds * 1e6) / r.records).toFixed(2));
  const rows = results.map((r) => [
    r.label,
    fmtInt(r.records / r.run.seconds),
    mbps(r).toFixed(1),
    `${((100 * mbps(r)) / diskMBps).toFixed(0)}%`,
    usPerRecord(r),
    `${r.run.stealPct.toFixed(0)}%`,
  ]);
  console.log(`# Kafka throughput, Postbox with kcat — ${machineInfo()}`);
  console.log(
    `\n${(totalBytes / 2 ** 20).toFixed(0)} MiB of records per size; disk sequential write: ${directMBps.toFixed(1)} MB/s direct ` +
      `(median of dd oflag=direct, 1 MiB blocks: ${directRuns.map((v) => v.toFixed(1)).join(', ')}), ` +
      `${bufferedMBps.toFixed(1)} MB/s buffered (1 MiB writes + one fdatasync); the ratios below are against ${diskMBps.toFixed(1)} MB/s\n`,
  );
  console.log(
    `kcat environment: ${Object.entries(KCAT_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}\n`,
  );
  console.log(table(['run', 'records/s', 'MB/s', 'of disk write', 'broker CPU µs/record', 'CPU stolen by host'], rows));
  const json = flags.get('json');
  if (json !== undefined)
    writeFileSync(json, JSON.stringify({ machine: machineInfo(), kcatEnv: KCAT_ENV, directMBps, directRuns, bufferedMBps, results }, null, 2) + '\n');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
