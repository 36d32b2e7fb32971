/** Running kcat (librdkafka's command-line client) and other timed clients from the Kafka benchmarks, and the record files kcat produces. */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { cpus } from 'node:os';
import { cpuSeconds, nowMs } from './common.js';

/** A timed run must finish within this, ms. */
const RUN_TIMEOUT_MS = 600_000;

/**
 * glibc malloc settings kcat runs with: memory it frees is kept for its next allocations instead of being
 * given back to the kernel (allocations up to 64 MiB come from the heap, which is trimmed only past 1 GiB
 * free). By default librdkafka's fetch buffers (about 1 MB each) are mapped and unmapped one by one; on a
 * VM where memory new to the process costs a host page fault that made kcat's consumer spend 3.4 CPU-s per
 * GiB of 1 KiB records instead of 1.5, and read 282–332 MB/s instead of 744–1148, while the broker's
 * share stayed under 0.5 CPU-s (bench/results/2026-12-06-kafka-direct-io.md). The load generator is
 * tuned so that the benchmark measures the broker; the broker itself runs with the defaults.
 */
export const KCAT_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: String(64 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(1024 * 1024 * 1024),
});

export interface KcatRun {
  seconds: number;
  /** share of the machine's CPU time the hypervisor gave to others during the run (/proc/stat steal), % */
  stealPct: number;
  /** CPU seconds the broker process used during the run, when its pid was given (Linux) */
  brokerCpuSeconds: number | undefined;
}

/** Cumulative steal time of all CPUs in clock ticks (Linux /proc/stat), or NaN elsewhere. */
function stealTicks(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
    return Number(fields[8]);
  } catch {
    return NaN;
  }
}

/**
 * Runs kcat to completion: its wall time, how much CPU a virtual machine's host took away meanwhile (a run
 * with a high steal share measured the neighbours as much as the broker) and, given its pid, the broker's CPU.
 */
export function runKcat(args: string[], brokerPid?: number): Promise<KcatRun> {
  return runTimed('kcat', args, brokerPid).then((r) => r.run);
}

/** Runs a command to completion and times it as runKcat does; also returns the tail of its stdout. */
export function runTimed(command: string, args: string[], brokerPid?: number): Promise<{ run: KcatRun; stdout: string }> {
  return new Promise((resolve, reject) => {
    const start = nowMs();
    const stealStart = stealTicks();
    const cpuStart = brokerPid === undefined ? undefined : cpuSeconds(brokerPid);
    const env = command === 'kcat' ? { ...process.env, ...KCAT_ENV } : process.env;
    const child = spawn(command, args, { stdio: ['ignore', command === 'kcat' ? 'ignore' : 'pipe', 'pipe'], env });
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.stdout?.on('data', (c: Buffer) => (stdout = (stdout + c.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', (err) => reject(new Error(`${command}: ${err.message}${command === 'kcat' ? ' (apt-get install kcat)' : ''}`)));
    child.on('exit', (code) => {
      clearTimeout(timer);
      const seconds = (nowMs() - start) / 1000;
      // steal is counted in USER_HZ (100) ticks per CPU
      const stealPct = (100 * (stealTicks() - stealStart)) / (seconds * 100 * cpus().length);
      const cpuEnd = brokerPid === undefined ? undefined : cpuSeconds(brokerPid);
      const brokerCpuSeconds = cpuStart === undefined || cpuEnd === undefined ? undefined : cpuEnd - cpuStart;
      if (code === 0) resolve({ run: { seconds, stealPct, brokerCpuSeconds }, stdout });
      else reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}:\n${stderr}`));
    });
  });
}

/** A file of `records` lines, each `recordBytes` long including its newline, with varied (incompressible-ish) bytes. */
export function writeRecordsFile(path: string, recordBytes: number, records: number): void {
  const line = Buffer.alloc(recordBytes);
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(recordBytes * 1024);
  let filled = 0;
  let seed = 12345;
  for (let i = 0; i < records; i++) {
    for (let j = 0; j < recordBytes - 1; j++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      line[j] = 97 + (seed % 26);
    }
    line[recordBytes - 1] = 10;
    line.copy(chunk, filled);
    filled += recordBytes;
    if (filled === chunk.length) {
      writeSync(fd, chunk);
      filled = 0;
    }
  }
  if (filled > 0) writeSync(fd, chunk.subarray(0, filled));
  closeSync(fd);
}
