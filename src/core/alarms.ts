/**
 * Resource alarms. The disk alarm goes off when the data directory's file system has less free space than
 * the configured limit (RabbitMQ's disk_free_limit); protocol adapters then block publishers
 * (AMQP connection.blocked) until it clears. Checked on a coarse timer.
 */
import { statfsSync } from 'node:fs';
import type { Logger } from '../log/logger.js';

/** How often free disk space is checked, ms (RabbitMQ checks about every 10 s; we check more often). */
export const DISK_CHECK_INTERVAL_MS = 2000;

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
