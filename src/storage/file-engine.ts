/**
 * The file engine: queue logs, partition logs, the group-offsets log, the definitions files and the topic
 * catalogue (streams/) in the data directory, made durable by one group-commit fsync per round (sync.ts),
 * with every descriptor under one budget (fd-cache.ts). The composition root builds it and hands it to the
 * core.
 */
import { FdCache, storageOpenFileBudget } from './fd-cache.js';
import { SyncScheduler, type FsyncPolicy } from './sync.js';
import type { Logger } from '../log/logger.js';
import type { StorageCounters, StorageEngine } from './stores.js';
import { FileMetaStore } from './file-meta-store.js';
// ---- queue stores
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SegmentLog } from './log.js';
import type { QueueStoreKind, QueueStoreOptions } from './queue-store.js';
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
  /** the data directory (locked by the caller): definitions, group offsets and queue stores (queues/, delayed/, transient/) live in it */
  readonly dataDir: string;
  readonly fsync: FsyncPolicy;
  /** descriptors the storage may hold open at once; 0 or absent = half the soft RLIMIT_NOFILE (fd-cache.ts) */
  readonly openFiles?: number;
  readonly logger: Logger;
  // ---- queue stores
  /** size at which a queue store's active segment rolls (default log.ts's DEFAULT_SEGMENT_BYTES) */
  readonly queueSegmentBytes?: number;
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
  /** definitions.json and its journal, groups/offsets.log */
  readonly meta: FileMetaStore;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly failureListeners: Array<(error: Error) => void> = [];
  private closed = false;
  // ---- queue stores
  private readonly queueSegmentBytes: number | undefined;
  /** durable queues' stores, one directory each (named by the core, kept in the definitions) */
  private readonly queuesDir: string;
  /** the held messages of durable x-delayed-message exchanges, one directory each */
  private readonly delayedDir: string;
  /** every transient store (queues and delayed exchanges): removed at startup and shutdown */
  private readonly transientDir: string;

  constructor(options: FileEngineOptions) {
    this.queueSegmentBytes = options.queueSegmentBytes;
    this.queuesDir = join(options.dataDir, 'queues');
    this.delayedDir = join(options.dataDir, 'delayed');
    this.transientDir = join(options.dataDir, 'transient');
    // the engine owns its directory: created here, before any store opens in it (broker.ts locked it already)
    mkdirSync(options.dataDir, { recursive: true });
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
    this.meta = new FileMetaStore({ dataDir: options.dataDir, scheduler: this.durable, logger });
    this.sweepTimer = setInterval(() => this.files.sweep(), STORAGE_IDLE_SWEEP_MS);
    this.sweepTimer.unref();
    logger.debug(() => `storage keeps at most ${this.openFileBudget} files open`);
  }

  storageCounters(): StorageCounters {
    const schedulers = [this.durable, this.transient];
    let failures = 0;
    let unrepairedStores = 0;
    let bytesWritten = 0;
    for (const s of schedulers) {
      failures += s.failureCount;
      unrepairedStores += s.brokenLogCount;
      bytesWritten += s.bytesWritten;
    }
    return { failures, unrepairedStores, bytesWritten };
  }

  /** `check` runs whenever about `everyBytes` more were written to any store (the disk-free check). */
  checkEvery(everyBytes: number, check: () => void): void {
    this.durable.checkEvery(everyBytes, check);
    this.transient.checkEvery(everyBytes, check);
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

  // ---- queue stores (queue-store.ts): a SegmentLog in a directory per store

  openQueueStore(options: QueueStoreOptions): SegmentLog {
    const dir = this.queueStoreDir(options.kind, options.name, options.durable);
    // a new store starts empty: files a deleted queue or exchange of the same name left behind go first
    if (!options.restore && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    const logger = options.logger ?? ignoreLine;
    try {
      return SegmentLog.open({
        dir,
        scheduler: options.durable ? this.durable : this.transient,
        segmentBytes: this.queueSegmentBytes,
        files: this.files,
        logger,
        errorLogger: options.errorLogger ?? logger,
        onRecovered: options.onRecovered,
      });
    } catch (error) {
      // a full or failing disk: nothing half-made stays behind (a restored store keeps its files)
      if (!options.restore) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  dropTransientQueueStores(): void {
    rmSync(this.transientDir, { recursive: true, force: true });
    if (this.closed) return; // at shutdown: nothing is created again
    mkdirSync(this.queuesDir, { recursive: true });
    mkdirSync(this.transientDir, { recursive: true });
  }

  dropQueueStoresExcept(kind: QueueStoreKind, keep: ReadonlySet<string>): void {
    const dir = kind === 'queue' ? this.queuesDir : this.delayedDir;
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (!keep.has(name)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  private queueStoreDir(kind: QueueStoreKind, name: string, durable: boolean): string {
    if (kind === 'queue') return join(durable ? this.queuesDir : this.transientDir, name);
    return durable ? join(this.delayedDir, name) : join(this.transientDir, `delayed-${name}`);
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

function ignoreLine(_line: string): void {}
