/**
 * Group commit for every SegmentLog of a broker.
 *
 * Appends land in each log's write buffer. At the end of the event-loop turn (one setImmediate
 * shared by all logs) the scheduler flushes every dirty log: one write() per log. A caller that
 * needs durability asks for a round; all requests made while no sync is running share one round.
 * A round is:
 *
 *   flush all dirty logs ──► fdatasync, in parallel, every fd written since its last sync
 *                            (segment data, ack files, and fsync of the directory after a new segment)
 *                        ──► completedRound = round; every DurabilityListener.onDurable(round)
 *
 * While a round's syncs are in flight, new requests go to the next round, which starts at the end
 * of the turn in which the current one completes (so requests made by the listeners join it).
 * Round numbers only grow; a round covers every byte appended before requestRound() returned it.
 *
 * Policy 'never' skips the fdatasync: a round completes once its bytes were handed to the OS.
 *
 * A failed fsync is not retried (after a failed fsync the kernel may already have dropped the
 * dirty pages, so a retry can succeed without the data being on disk). The scheduler stops
 * completing rounds and reports the error: a broker must not confirm anything after that.
 */

import fs from 'node:fs';

export type FsyncPolicy = 'always' | 'never';

export interface DurabilityListener {
  onDurable(round: number): void;
}

/** What the scheduler needs from a log (SegmentLog implements it). */
export interface SyncableLog {
  /** In the scheduler's list of logs to flush at the end of this turn; owned by the scheduler. */
  flushQueued: boolean;
  /** In the scheduler's list of logs with bytes written since their last sync; owned by the scheduler. */
  syncQueued: boolean;
  /** Writes buffered bytes to the OS. */
  flush(): void;
  /**
   * Pushes every fd written since its last sync: files to `dataFds` (fdatasync), directories to
   * `directoryFds` (fsync), and treats them as synced from now on. Closing those fds must wait
   * for onSyncDone().
   */
  collectSyncFds(dataFds: number[], directoryFds: number[]): void;
  /** The syncs collected from this log have all finished (successfully or not). */
  onSyncDone(): void;
}

/** Upper bounds of the fsync-round duration histogram, ms (a round is one fdatasync per written file, in parallel). */
export const SYNC_DURATION_BOUNDS_MS: readonly number[] = Object.freeze([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]);

/** How long completed fsync rounds took: counts per bucket of SYNC_DURATION_BOUNDS_MS (the last one is +Inf). */
export class SyncDurations {
  readonly counts = new Float64Array(SYNC_DURATION_BOUNDS_MS.length + 1);
  count = 0;
  sumMs = 0;

  record(ms: number): void {
    let i = 0;
    while (i < SYNC_DURATION_BOUNDS_MS.length && ms > SYNC_DURATION_BOUNDS_MS[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sumMs += ms;
  }
}

export interface SyncSchedulerOptions {
  /** Called once with the first write or fsync error; without it the error is thrown (crashing the process). */
  onError?: (error: Error) => void;
}

export class SyncScheduler {
  readonly policy: FsyncPolicy;
  private completed = 0;
  private failed: Error | null = null;

  /** Round whose syncs are in flight, 0 when none. */
  private inFlightRound = 0;
  /** Someone asked for the open round (inFlightRound + 1, or completedRound + 1 when idle). */
  private roundRequested = false;
  private tickScheduled = false;
  private dirtyLogs: SyncableLog[] = [];
  private unsyncedLogs: SyncableLog[] = [];
  private syncingLogs: SyncableLog[] = [];
  private readonly dataFds: number[] = [];
  private readonly directoryFds: number[] = [];
  private syncsOutstanding = 0;
  private roundError: Error | null = null;
  /** when the syncs of the round in flight were issued (performance.now()) */
  private roundStartedAt = 0;
  /** durations of rounds that issued syncs (policy 'always'), for metrics */
  readonly durations = new SyncDurations();
  /** Replaced (never mutated) on add/remove, so completing a round iterates without allocating. */
  private listeners: readonly DurabilityListener[] = [];
  private closeWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private readonly onError: ((error: Error) => void) | undefined;

  private readonly tickCallback: () => void;
  private readonly syncCallback: (error: NodeJS.ErrnoException | null) => void;

  constructor(policy: FsyncPolicy, options: SyncSchedulerOptions = {}) {
    if (policy !== 'always' && policy !== 'never') throw new TypeError(`unknown fsync policy ${String(policy)}`);
    this.policy = policy;
    this.onError = options.onError;
    this.tickCallback = () => this.tick();
    this.syncCallback = (error) => this.syncFinished(error);
  }

  /** Highest round whose bytes are durable (policy 'always') or written to the OS (policy 'never'). */
  get completedRound(): number {
    return this.completed;
  }

  /** First write or fsync error; once set, no round completes again. */
  get failure(): Error | null {
    return this.failed;
  }

  /** The log has buffered bytes: flush it at the end of this event-loop turn. */
  markDirty(log: SyncableLog): void {
    if (log.flushQueued) return;
    log.flushQueued = true;
    this.dirtyLogs.push(log);
    this.scheduleTick();
  }

  /** The log wrote bytes to the OS that the next round must sync (called by the log). */
  markUnsynced(log: SyncableLog): void {
    if (log.syncQueued || this.policy === 'never') return;
    log.syncQueued = true;
    this.unsyncedLogs.push(log);
  }

  /** Returns the round covering every byte appended so far, and schedules it. */
  requestRound(): number {
    this.roundRequested = true;
    if (this.inFlightRound !== 0) return this.inFlightRound + 1;
    this.scheduleTick();
    return this.completed + 1;
  }

  addListener(listener: DurabilityListener): void {
    this.listeners = [...this.listeners, listener];
  }

  removeListener(listener: DurabilityListener): void {
    const index = this.listeners.indexOf(listener);
    if (index < 0) return;
    const next = this.listeners.slice();
    next.splice(index, 1);
    this.listeners = next;
  }

  /**
   * A sync issued outside a round failed (the FdCache syncs a file before closing its descriptor):
   * the scheduler fails exactly as if a round's fdatasync had.
   */
  reportFailure(error: Error): void {
    this.fail(error);
  }

  /** Synchronously writes every dirty log's buffered bytes to the OS. */
  flushNow(): void {
    const logs = this.dirtyLogs;
    if (logs.length === 0) return;
    this.dirtyLogs = [];
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i]!;
      log.flushQueued = false;
      log.flush();
    }
  }

  /** Flushes, syncs everything written so far, completes every requested round; then resolves. */
  close(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure !== null) {
        reject(this.failure);
        return;
      }
      this.closeWaiters.push({ resolve, reject });
      if (!this.flushGuarded()) return;
      if (this.unsyncedLogs.length > 0) this.roundRequested = true;
      if (this.inFlightRound === 0) {
        if (this.roundRequested) this.startRound();
        else this.settleClose();
      }
    });
  }

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(this.tickCallback);
  }

  private tick(): void {
    this.tickScheduled = false;
    if (this.failure !== null) return;
    if (!this.flushGuarded()) return;
    if (this.inFlightRound !== 0) return;
    if (this.roundRequested) this.startRound();
    else if (this.closeWaiters.length > 0) this.settleClose();
  }

  private startRound(): void {
    if (!this.flushGuarded()) return; // bytes appended earlier in this turn belong to this round
    this.roundRequested = false;
    const round = this.completed + 1;
    const logs = this.unsyncedLogs;
    if (logs.length === 0) {
      this.completeRound(round);
      return;
    }
    this.unsyncedLogs = [];
    const dataFds = this.dataFds;
    const directoryFds = this.directoryFds;
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i]!;
      log.syncQueued = false;
      log.collectSyncFds(dataFds, directoryFds);
    }
    const total = dataFds.length + directoryFds.length;
    if (total === 0) {
      for (let i = 0; i < logs.length; i++) logs[i]!.onSyncDone();
      this.completeRound(round);
      return;
    }
    this.inFlightRound = round;
    this.syncingLogs = logs;
    this.syncsOutstanding = total;
    this.roundError = null;
    this.roundStartedAt = performance.now();
    for (let i = 0; i < dataFds.length; i++) fs.fdatasync(dataFds[i]!, this.syncCallback);
    for (let i = 0; i < directoryFds.length; i++) fs.fsync(directoryFds[i]!, this.syncCallback);
    dataFds.length = 0;
    directoryFds.length = 0;
  }

  private syncFinished(error: NodeJS.ErrnoException | null): void {
    if (error !== null && this.roundError === null) this.roundError = error;
    if (--this.syncsOutstanding !== 0) return;
    const logs = this.syncingLogs;
    this.syncingLogs = [];
    for (let i = 0; i < logs.length; i++) logs[i]!.onSyncDone();
    const round = this.inFlightRound;
    this.inFlightRound = 0;
    if (this.roundError !== null) {
      this.fail(this.roundError);
      return;
    }
    this.durations.record(performance.now() - this.roundStartedAt);
    this.completeRound(round);
  }

  private completeRound(round: number): void {
    this.completed = round;
    // The next round (or the end of close()) starts at the end of this turn: requests made by the
    // listeners below join it, and a throwing listener cannot stall the scheduler.
    if (this.roundRequested || this.closeWaiters.length > 0) this.scheduleTick();
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.onDurable(round);
  }

  private settleClose(): void {
    // close() syncs what was written before it; anything written by listeners since gets one more round
    if (this.unsyncedLogs.length > 0) {
      this.roundRequested = true;
      this.startRound();
      return;
    }
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** flushNow(); on a write error fails the scheduler and returns false. */
  private flushGuarded(): boolean {
    try {
      this.flushNow();
      return true;
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
  }

  private fail(error: Error): void {
    if (this.failed !== null) return;
    this.failed = error;
    this.roundRequested = false;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    if (this.onError !== undefined) this.onError(error);
    else if (waiters.length === 0) throw error;
  }
}
