/** Running kcat (librdkafka's command-line client) and other timed clients from the Kafka benchmarks, and the record files kcat produces. */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { cpus } from 'node:os';
import { cpuSeconds, nowMs } from './common.js';

/** A timed run must finish within this, ms. */
const RUN_TIMEOUT_MS = 600_000;

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
    const child = spawn(command, args, { stdio: ['ignore', command === 'kcat' ? 'ignore' : 'pipe', 'pipe'] });
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
