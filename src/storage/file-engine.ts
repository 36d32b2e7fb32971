/**
 * The file engine: queue logs, partition logs, the group-offsets log and the definitions files in the data
 * directory, made durable by one group-commit fsync per round (sync.ts), with every descriptor under one
 * budget (fd-cache.ts). The composition root builds it and hands it to the core.
 */
import { FdCache, storageOpenFileBudget } from './fd-cache.js';
import { SyncScheduler, type FsyncPolicy } from './sync.js';
import type { Logger } from '../log/logger.js';
import type { StorageEngine } from './stores.js';
import fs from 'node:fs';
import path from 'node:path';
import type { LogStore, LogStoreOptions } from './log-store.js';
import { PartitionLog } from './partition/partition-log.js';

/**
 * How often descriptors unused since the previous sweep are closed, ms: a queue or partition idle for
 * 30 to 60 s holds no descriptor, while a busy one never notices (reopening costs one open()).
 */
export const STORAGE_IDLE_SWEEP_MS = 30_000;

export interface FileEngineOptions {
  readonly fsync: FsyncPolicy;
  /** descriptors the storage may hold open at once; 0 or absent = half the soft RLIMIT_NOFILE (fd-cache.ts) */
  readonly openFiles?: number;
  readonly logger: Logger;
}

export class FileStorageEngine implements StorageEngine {
  readonly kind = 'file';
  /** rounds of the durable stores: an fdatasync per round under fsync 'always' */
  readonly durable: SyncScheduler;
  /** the logs of transient queues: rounds complete once written (policy 'never'), never fsynced */
  readonly transient: SyncScheduler;
  /** every descriptor of the storage (queue logs, delayed stores, Kafka partitions), under one budget */
  readonly files: FdCache;
  /** the budget `files` was given */
  readonly openFileBudget: number;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly failureListeners: Array<(error: Error) => void> = [];
  private closed = false;

  constructor(options: FileEngineOptions) {
    const logger = options.logger;
    const schedulerOptions = {
      // a failed write or fsync is not retried in place (the kernel may have dropped the pages): what it
      // covered is dropped and refused (nacked), and the logs start new segments (sync.ts)
      onError: (error: Error, first: boolean) => {
        if (first) {
          logger.error(
            `storage write/fsync failed (${error.message}): messages not yet on disk were refused (basic.nack, ` +
              `Kafka error); publishing is retried and recovers by itself once writes succeed again`,
          );
        } else {
          logger.debug(() => `storage write/fsync failed again: ${error.message}`);
        }
        for (const listener of this.failureListeners) listener(error);
      },
      onRecovered: (failedRounds: number) => {
        logger.warn(`storage recovered: writes and fsyncs succeed again (${failedRounds} failure(s) since it was last healthy)`);
      },
    };
    this.durable = new SyncScheduler(options.fsync, schedulerOptions);
    // transient queues lose their messages at a restart anyway: their rounds wait for the write, not an fsync
    this.transient = new SyncScheduler('never', schedulerOptions);
    this.openFileBudget = storageOpenFileBudget(options.openFiles ?? 0);
    this.files = new FdCache({
      capacity: this.openFileBudget,
      syncBeforeClose: options.fsync === 'always',
      onSyncError: (error) => this.durable.reportFailure(error),
    });
    this.sweepTimer = setInterval(() => this.files.sweep(), STORAGE_IDLE_SWEEP_MS);
    this.sweepTimer.unref();
    logger.debug(() => `storage keeps at most ${this.openFileBudget} files open`);
  }

  onFailure(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /** Runs the last rounds (their fsyncs) and stops the sweep; the logs themselves are closed by their owners. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.durable.close();
    await this.transient.close();
  }

  // ---- Kafka partitions (log-store.ts) ----

  /** A PartitionLog in `<topic>/<partition>/` (`topic`: the topic's directory), made durable by `durable`'s rounds. */
  openLogStore(topic: string, partition: number, options: LogStoreOptions): LogStore {
    const limits = options.limits;
    return PartitionLog.open({
      dir: path.join(topic, String(partition)),
      scheduler: this.durable,
      files: this.files,
      segmentBytes: limits.segmentBytes,
      segmentMs: limits.segmentMs ?? null,
      retentionMs: limits.retentionMs,
      retentionBytes: limits.retentionBytes,
      logger: options.logger,
      errorLogger: options.errorLogger,
    });
  }

  /** Removes the partition directories of `topic` numbered `from` and above. */
  removeLogStoresFrom(topic: string, from: number): number[] {
    const removed: number[] = [];
    for (const entry of fs.readdirSync(topic, { withFileTypes: true })) {
      if (!entry.isDirectory() || !/^\d+$/.test(entry.name) || Number(entry.name) < from) continue;
      fs.rmSync(path.join(topic, entry.name), { recursive: true, force: true });
      removed.push(Number(entry.name));
    }
    return removed;
  }
}
