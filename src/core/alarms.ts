/**
 * Resource alarms, as RabbitMQ has them. The disk alarm goes off when the data directory's file system has
 * less free space than the configured limit (RabbitMQ's disk_free_limit); the memory alarm when the broker
 * process's resident memory is above its high watermark (RabbitMQ's vm_memory_high_watermark). While either
 * is on, protocol adapters block publishers (AMQP connection.blocked) until it clears. Checked on coarse
 * timers; ResourceAlarms combines them into the one reason the adapters act on.
 */
import { statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { Logger } from '../log/logger.js';

/** How often resident memory is checked, ms: cheap (one read of /proc), and a burst can grow fast. */
export const MEMORY_CHECK_INTERVAL_MS = 1000;
/** RabbitMQ's default vm_memory_high_watermark: 40% of the machine's memory. */
export const DEFAULT_MEMORY_HIGH_WATERMARK_FRACTION = 0.4;

/** How often free disk space is checked, ms (RabbitMQ checks about every 10 s; we check more often). */
export const DISK_CHECK_INTERVAL_MS = 2000;
/**
 * Free disk space is also checked after every this fraction of the disk free limit written by the
 * storage (a publisher at 130 MB/s writes 260 MB between two timed checks): the alarm goes off while
 * at least 3/4 of the limit is still free, before the disk fills.
 */
export const DISK_CHECK_LIMIT_FRACTION = 1 / 4;
/** ... but never more often than every 1 MiB written (a statfs costs microseconds; a tiny limit must not cost one per write). */
export const MIN_DISK_CHECK_BYTES = 1024 * 1024;
/** ... and at least every 64 MiB written, whatever the limit. */
export const MAX_DISK_CHECK_BYTES = 64 * 1024 * 1024;

/** Bytes written between two free-space checks for a disk free limit of `limitBytes`. */
export function diskCheckBytes(limitBytes: number): number {
  const bytes = Math.floor(limitBytes * DISK_CHECK_LIMIT_FRACTION);
  return Math.min(MAX_DISK_CHECK_BYTES, Math.max(MIN_DISK_CHECK_BYTES, bytes));
}

export type AlarmListener = (reason: string | null) => void;

export class DiskAlarm {
  private timer: NodeJS.Timeout | null = null;
  private listeners: AlarmListener[] = [];
  /** the reason text while the alarm is on, else null */
  reason: string | null = null;

  constructor(
    private readonly dataDir: string,
    private limitBytes: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), DISK_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** change the limit and re-check at once */
  setLimit(bytes: number): void {
    this.limitBytes = bytes;
    this.check();
  }

  get limit(): number {
    return this.limitBytes;
  }

  onChange(listener: AlarmListener): void {
    this.listeners.push(listener);
  }

  freeBytes(): number {
    const s = statfsSync(this.dataDir);
    return Number(s.bavail) * Number(s.bsize);
  }

  check(): void {
    let free: number;
    try {
      free = this.freeBytes();
    } catch (err) {
      this.logger.warn(`disk alarm: cannot stat ${this.dataDir}: ${(err as Error).message}`);
      return;
    }
    const low = free < this.limitBytes;
    if (low && this.reason === null) {
      this.reason = 'low on disk';
      this.logger.warn(`disk alarm set: ${free} bytes free in ${this.dataDir}, limit ${this.limitBytes}; publishers are blocked`);
      for (const l of this.listeners) l(this.reason);
    } else if (!low && this.reason !== null) {
      this.reason = null;
      this.logger.warn(`disk alarm cleared: ${free} bytes free in ${this.dataDir}`);
      for (const l of this.listeners) l(null);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** The memory alarm: resident memory of this process above `limitBytes` (0 = 40% of physical memory). */
export class MemoryAlarm {
  private timer: NodeJS.Timeout | null = null;
  private listeners: AlarmListener[] = [];
  private limitBytes: number;
  reason: string | null = null;

  constructor(
    limitBytes: number,
    private readonly logger: Logger,
    private readonly residentBytes: () => number = () => process.memoryUsage.rss(),
  ) {
    this.limitBytes = MemoryAlarm.effectiveLimit(limitBytes);
  }

  static effectiveLimit(limitBytes: number): number {
    return limitBytes > 0 ? limitBytes : Math.floor(totalmem() * DEFAULT_MEMORY_HIGH_WATERMARK_FRACTION);
  }

  get limit(): number {
    return this.limitBytes;
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), MEMORY_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** change the limit (0 = the default fraction of physical memory) and re-check at once */
  setLimit(bytes: number): void {
    this.limitBytes = MemoryAlarm.effectiveLimit(bytes);
    this.check();
  }

  onChange(listener: AlarmListener): void {
    this.listeners.push(listener);
  }

  check(): void {
    let used: number;
    try {
      used = this.residentBytes();
    } catch {
      return; // reading RSS opens /proc/self/stat: out of descriptors (EMFILE), keep the state until the next check
    }
    const high = used > this.limitBytes;
    if (high && this.reason === null) {
      this.reason = 'memory high watermark';
      this.logger.warn(`memory alarm set: ${used} bytes resident, high watermark ${this.limitBytes}; publishers are blocked`);
      for (const l of this.listeners) l(this.reason);
    } else if (!high && this.reason !== null) {
      this.reason = null;
      this.logger.warn(`memory alarm cleared: ${used} bytes resident, high watermark ${this.limitBytes}`);
      for (const l of this.listeners) l(null);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Both alarms as one: `reason` is set while either is on, and listeners hear every change of it. */
export class ResourceAlarms {
  private listeners: AlarmListener[] = [];
  private last: string | null = null;

  constructor(
    readonly disk: DiskAlarm,
    readonly memory: MemoryAlarm,
  ) {
    const changed = (): void => {
      const now = this.reason;
      if (now === this.last) return;
      this.last = now;
      for (const l of this.listeners) l(now);
    };
    disk.onChange(changed);
    memory.onChange(changed);
  }

  /** 'low on disk', 'memory high watermark', both joined with ' and ', or null */
  get reason(): string | null {
    const reasons = [this.disk.reason, this.memory.reason].filter((r): r is string => r !== null);
    return reasons.length === 0 ? null : reasons.join(' and ');
  }

  /** the alarms in effect, as RabbitMQ's health check lists them */
  active(): Array<{ resource: 'disk_free' | 'memory'; reason: string }> {
    const out: Array<{ resource: 'disk_free' | 'memory'; reason: string }> = [];
    if (this.disk.reason !== null) out.push({ resource: 'disk_free', reason: this.disk.reason });
    if (this.memory.reason !== null) out.push({ resource: 'memory', reason: this.memory.reason });
    return out;
  }

  onChange(listener: AlarmListener): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.disk.start();
    this.memory.start();
    this.last = this.reason;
  }

  stop(): void {
    this.disk.stop();
    this.memory.stop();
  }
}
