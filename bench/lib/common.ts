/**
 * Small helpers shared by the bench drivers and workers: a clock that means the same thing in every process
 * on this machine, flag parsing, percentiles, table printing, machine facts, process sampling.
 */
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * Wall-clock milliseconds with microsecond resolution: the process's time origin plus the monotonic clock
 * since then. Two processes can disagree by up to about a millisecond (each derives its origin from the
 * system clock once), so drivers measure each worker's offset over IPC and correct for it (see ClockSync).
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Messages exchanged between a driver and a worker over the fork IPC channel. */
export type WorkerMessage =
  | { type: 'clock-ping'; seq: number }
  | { type: 'clock-pong'; seq: number; at: number }
  | { type: 'ready'; server: string }
  | { type: 'progress'; count: number }
  | { type: 'done'; result: WorkerResult }
  | { type: 'error'; message: string };

/** What a worker reports when it finishes. Times are in the worker's own clock (nowMs). */
export interface WorkerResult {
  /** messages published (publisher) or consumed (consumer) */
  count: number;
  firstAt: number;
  lastAt: number;
  /** publisher with confirms: when the last confirm arrived */
  confirmedAt?: number;
  /** consumer in latency mode: latency percentiles, ms, after warm-up is dropped */
  latency?: LatencySummary;
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Parses `--name value` and `--name=value` flags; bare `--flag` becomes 'true'. */
export function parseArgs(argv: string[], known: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!known.includes(name)) throw new Error(`unknown flag --${name}; known: ${known.map((k) => '--' + k).join(' ')}`);
    if (eq > 0) out.set(name, arg.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) out.set(name, argv[++i]!);
    else out.set(name, 'true');
  }
  return out;
}

export function intFlag(flags: Map<string, string>, name: string, fallback: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got '${raw}'`);
  return Math.floor(n);
}

export function listFlag<T extends string>(flags: Map<string, string>, name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const raw = flags.get(name);
  if (raw === undefined) return [...fallback];
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new Error(`--${name}: '${item}' is not one of ${allowed.join(', ')}`);
  }
  return items as T[];
}

/** Percentiles by nearest rank over a sorted copy of `values[0..n)`. */
export function summarize(values: Float64Array, n: number): LatencySummary {
  const sorted = values.slice(0, n).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const rank = (q: number): number => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!);
  return { samples: n, p50: rank(0.5), p99: rank(0.99), p999: rank(0.999), max: n === 0 ? NaN : sorted[n - 1]!, mean: n === 0 ? NaN : sum / n };
}

/** Renders rows as a Markdown table with right-aligned numeric columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string => '| ' + cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function fmtInt(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

export function fmtMs(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

export function fmtRatio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '-' : (a / b).toFixed(2) + 'x';
}

export function machineInfo(): string {
  const model = cpus()[0]?.model ?? 'unknown';
  return `${cpus().length} CPUs (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** Resident set size of a process, bytes, or undefined when it is gone (Linux only). */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU time of a process, seconds, or undefined when it is gone (Linux only). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the command name: state(0) ... utime(11) stime(12), in clock ticks (100 Hz on Linux)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Samples a process's peak RSS and CPU time over one run. */
export class ProcessSampler {
  private timer: NodeJS.Timeout | undefined;
  peakRss = 0;
  private cpuStart: number | undefined;
  cpuUsed: number | undefined;

  constructor(private readonly pid: number | undefined) {}

  start(): void {
    if (this.pid === undefined) return;
    this.cpuStart = cpuSeconds(this.pid);
    this.peakRss = rssBytes(this.pid) ?? 0;
    this.timer = setInterval(() => {
      const rss = rssBytes(this.pid!);
      if (rss !== undefined && rss > this.peakRss) this.peakRss = rss;
    }, 250);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pid === undefined) return;
    const end = cpuSeconds(this.pid);
    this.cpuUsed = end !== undefined && this.cpuStart !== undefined ? end - this.cpuStart : undefined;
  }
}

/** Rejects after `ms` with a message naming the phase, unless the promise settles first. */
export function withTimeout<T>(promise: Promise<T>, ms: number, phase: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${phase}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
