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
 * Appends nobody waits for (no confirm, no answer: see core/queue/queue.ts) do not request a round; they
 * deferRound(): the next round anyone requests covers them, or one started DEFERRED_SYNC_INTERVAL_MS after
 * the first of them, which bounds what a power loss or a failure's rollback can take of them.
 *
 * Failures. A failed write (ENOSPC, EIO, a short write that cannot finish) or a failed fsync is not
 * retried in place: after a failed fsync the kernel may already have dropped the dirty pages, so a retry
 * can succeed without the data being on disk. Instead the scheduler fails every round issued so far:
 *
 *   write or fsync error ──► (the round in flight, if any, finishes first)
 *                        ──► every exposed log rolls back: it drops, in memory and on disk, every byte
 *                            no completed round covers (rollBack), so none of it is ever read, delivered
 *                            or found again by recovery
 *                        ──► completedRound = the last round issued; every listener.onFailed(through):
 *                            whatever waited for those rounds is refused (basic.nack, a Kafka error)
 *                        ──► each log gets ready to append again (repair: a new segment file); a log
 *                            that cannot yet (the disk is still full) is retried every
 *                            STORAGE_RETRY_INTERVAL_MS, and on its next append
 *
 * `failure` stays set from the error until a later round completes with every log repaired: while it
 * is set the broker reports unhealthy storage (health checks, metrics). Nothing is confirmed that a
 * completed round does not cover, and storage recovers by itself once writes and syncs succeed again.
 */

import { withListener, withoutListener } from './listeners.js';
import { dataSync, directorySync } from './faults.js';
import type { Durability, DurabilityListener } from './stores.js';

export type FsyncPolicy = 'always' | 'never';

export type { DurabilityListener } from './stores.js';

/**
 * Longest wait, ms, between an append nobody waits for (a persistent message from a publisher not in
 * confirm mode, a dead-lettered copy: see deferRound) and the start of a round that covers it. Such an
 * append does not start a round of its own (as before delivery waited for durability, and as RabbitMQ's
 * message store syncs on a timer), but it is not left unsynced for long either: what a power loss, or a
 * later failed write's rollback, can take away stays within about this window. 100 ms costs at most ten
 * fdatasync rounds a second to a broker whose publishers never ask for confirms.
 */
export const DEFERRED_SYNC_INTERVAL_MS = 100;

/** How often a log that could not be repaired after a failure (the disk still full) is tried again, ms. */
export const STORAGE_RETRY_INTERVAL_MS = 1000;

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
  /** In the scheduler's list of logs holding bytes no completed round covers; owned by the scheduler. */
  exposed: boolean;
  /**
   * A round completed: what the log handed to it (collectSyncFds; with policy 'never', what flush()
   * wrote) is durable now. Returns true while the log holds bytes that no completed round covers.
   */
  roundCompleted(): boolean;
  /**
   * A write or fsync failed: drop every byte no completed round covers, from memory and from the files
   * (truncate), so it is never read or recovered. Must not write anything new.
   */
  rollBack(): void;
  /** After rollBack: be ready to append again (e.g. start a new segment). False: not yet, try again later. */
  repair(): boolean;
}

/** Upper bounds of the fsync-round duration histogram, ms (a round is one fdatasync per written file, in parallel). */
export const SYNC_DURATION_BOUNDS_MS: readonly number[] = Object.freeze([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]);

/** How long completed fsync rounds took: counts per bucket of SYNC_DURATION_BOUNDS_MS (the last one is +Inf). */
export class SyncDurations {
  /** the buckets' upper bounds, ms (SYNC_DURATION_BOUNDS_MS) */
  readonly boundsMs: readonly number[] = SYNC_DURATION_BOUNDS_MS;
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
  /**
   * Called with each write or fsync error after the rounds it failed were refused (`first`: the first
   * error since storage was last healthy). Without it the error is thrown (crashing the process).
   */
  onError?: (error: Error, first: boolean) => void;
  /** Called when storage is healthy again after failures: a round completed with every log repaired. */
  onRecovered?: (failedRounds: number) => void;
}

export class SyncScheduler implements Durability {
  readonly policy: FsyncPolicy;
  private completed = 0;
  /** the highest round requestRound() returned */
  private issued = 0;
  private failed: Error | null = null;
  /** a write failed: the rounds are failed as soon as no round is in flight */
  private pendingFailure: Error | null = null;
  /** logs holding bytes no completed round covers (rolled back on a failure) */
  private exposedLogs: SyncableLog[] = [];
  /** logs rolled back after a failure that could not be repaired yet */
  private readonly brokenLogs = new Set<SyncableLog>();
  private retryTimer: NodeJS.Timeout | null = null;
  /** rounds failed since storage was last healthy */
  private failedSinceHealthy = 0;
  /** write and fsync failures since start (each failed every round issued before it) */
  failureCount = 0;
  /** the last write or fsync error and when it happened (performance.now()), kept after recovery */
  lastFailure: Error | null = null;
  lastFailureAt = 0;
  /** bytes written by the logs since start (noteWritten), for the disk alarm's check by bytes */
  bytesWritten = 0;
  private bytesAtLastCheck = 0;
  private writeCheckBytes = 0;
  private writeCheck: (() => void) | null = null;

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
  private readonly onError: SyncSchedulerOptions['onError'];
  private readonly onRecovered: SyncSchedulerOptions['onRecovered'];
  private readonly retryCallback: () => void;
  /** the periodic round for appends nobody waits for (deferRound), while one is owed */
  private deferredTimer: NodeJS.Timeout | null = null;
  /** the round deferRound() last handed out */
  private deferredRound = 0;
  private readonly deferredCallback: () => void;

  private readonly tickCallback: () => void;
  private readonly syncCallback: (error: NodeJS.ErrnoException | null) => void;

  constructor(policy: FsyncPolicy, options: SyncSchedulerOptions = {}) {
    if (policy !== 'always' && policy !== 'never') throw new TypeError(`unknown fsync policy ${String(policy)}`);
    this.policy = policy;
    this.onError = options.onError;
    this.onRecovered = options.onRecovered;
    this.retryCallback = () => this.retryRepairs();
    this.deferredCallback = () => this.deferredDue();
    this.tickCallback = () => this.tick();
    this.syncCallback = (error) => this.syncFinished(error);
  }

  /** Highest round whose bytes are durable (policy 'always') or written to the OS (policy 'never'). */
  get completedRound(): number {
    return this.completed;
  }

  /** The last write or fsync error, while storage has not recovered from it; null when healthy. */
  get failure(): Error | null {
    return this.failed;
  }

  /** Logs that could not be repaired after a failure yet (0 when healthy). */
  get brokenLogCount(): number {
    return this.brokenLogs.size;
  }

  /**
   * Calls `check` (synchronously, from a log's flush) each time another `everyBytes` were written: the
   * disk alarm re-checks free space by bytes written, not only by time.
   */
  checkEvery(everyBytes: number, check: () => void): void {
    this.writeCheckBytes = everyBytes;
    this.writeCheck = check;
    this.bytesAtLastCheck = this.bytesWritten;
  }

  /** A log wrote `bytes` to the OS. */
  noteWritten(bytes: number): void {
    this.bytesWritten += bytes;
    if (this.writeCheck !== null && this.bytesWritten - this.bytesAtLastCheck >= this.writeCheckBytes) {
      this.bytesAtLastCheck = this.bytesWritten;
      this.writeCheck();
    }
  }

  /**
   * A log's write failed outside flush() (e.g. a roll, a write straight to the file): every round issued
   * so far fails at the end of this turn (or when the round in flight finishes).
   */
  writeFailed(error: Error): void {
    if (this.pendingFailure === null) this.pendingFailure = error;
    this.scheduleTick();
  }

  /** The log appended bytes that no completed round covers (called by markDirty and markUnsynced too). */
  expose(log: SyncableLog): void {
    if (log.exposed) return;
    log.exposed = true;
    this.exposedLogs.push(log);
  }

  /** The log has buffered bytes: flush it at the end of this event-loop turn. */
  markDirty(log: SyncableLog): void {
    if (log.flushQueued) return;
    log.flushQueued = true;
    if (!log.exposed) this.expose(log);
    this.dirtyLogs.push(log);
    this.scheduleTick();
  }

  /** The log wrote bytes to the OS that the next round must sync (called by the log). */
  markUnsynced(log: SyncableLog): void {
    if (!log.exposed) this.expose(log);
    if (log.syncQueued || this.policy === 'never') return;
    log.syncQueued = true;
    this.unsyncedLogs.push(log);
  }

  /** Returns the round covering every byte appended so far, and schedules it. */
  requestRound(): number {
    this.roundRequested = true;
    if (this.inFlightRound !== 0) {
      this.issued = this.inFlightRound + 1;
      return this.issued;
    }
    this.scheduleTick();
    this.issued = this.completed + 1;
    return this.issued;
  }

  /**
   * The round that will cover every byte appended so far, without starting it now: nobody waits for
   * these bytes, so they join the next round anyone requests, or the one DEFERRED_SYNC_INTERVAL_MS
   * from the first such append, whichever comes first. Appending alone (no request, no deferral)
   * leaves bytes to be synced by whatever round comes next, with no bound.
   */
  deferRound(): number {
    const round = this.inFlightRound !== 0 ? this.inFlightRound + 1 : this.completed + 1;
    this.deferredRound = round;
    // a requested round not yet started covers these bytes too
    if (this.roundRequested || this.deferredTimer !== null) return round;
    this.deferredTimer = setTimeout(this.deferredCallback, DEFERRED_SYNC_INTERVAL_MS);
    this.deferredTimer.unref();
    return round;
  }

  private deferredDue(): void {
    this.deferredTimer = null;
    if (this.completed >= this.deferredRound) return; // someone else's round covered them already
    this.requestRound();
  }

  addListener(listener: DurabilityListener): void {
    this.listeners = withListener(this.listeners, listener);
  }

  removeListener(listener: DurabilityListener): void {
    this.listeners = withoutListener(this.listeners, listener);
  }

  /**
   * A sync issued outside a round failed (the FdCache syncs a file before closing its descriptor, possibly
   * from inside an append): the rounds fail as if a round's fdatasync had, deferred to the end of the turn
   * (see writeFailed) since rolling logs back synchronously there is unsafe.
   */
  reportFailure(error: Error): void {
    this.writeFailed(error);
  }

  /**
   * Synchronously writes every dirty log's buffered bytes to the OS. A write error fails the rounds
   * (at the end of the turn, see writeFailed); the other logs are flushed all the same.
   */
  flushNow(): void {
    const logs = this.dirtyLogs;
    if (logs.length === 0) return;
    this.dirtyLogs = [];
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i]!;
      log.flushQueued = false;
      try {
        log.flush();
      } catch (error) {
        this.writeFailed(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** Flushes, syncs everything written so far, completes every requested round; then resolves. */
  close(): Promise<void> {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.deferredTimer !== null) clearTimeout(this.deferredTimer);
    this.deferredTimer = null;
    return new Promise<void>((resolve, reject) => {
      // logs still unrepaired after a failure hold nothing unsynced (they were cut back): nothing to wait for
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
    if (this.inFlightRound !== 0) {
      this.flushNow(); // a write error waits for the round in flight (syncFinished)
      return;
    }
    if (!this.flushGuarded()) return;
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
    for (let i = 0; i < dataFds.length; i++) dataSync(dataFds[i]!, this.syncCallback);
    for (let i = 0; i < directoryFds.length; i++) directorySync(directoryFds[i]!, this.syncCallback);
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
    const failure = this.roundError ?? this.pendingFailure;
    this.roundError = null;
    if (failure !== null) {
      this.fail(failure);
      return;
    }
    this.durations.record(performance.now() - this.roundStartedAt);
    this.completeRound(round);
  }

  private completeRound(round: number): void {
    this.completed = round;
    const exposed = this.exposedLogs;
    if (exposed.length > 0) {
      let kept = 0;
      for (let i = 0; i < exposed.length; i++) {
        const log = exposed[i]!;
        if (log.roundCompleted()) exposed[kept++] = log;
        else log.exposed = false;
      }
      exposed.length = kept;
    }
    if (this.failed !== null && this.brokenLogs.size === 0 && this.pendingFailure === null) this.recovered();
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

  /** flushNow(); when a write failed (now or earlier in the turn) fails the rounds and returns false. */
  private flushGuarded(): boolean {
    this.flushNow();
    const error = this.pendingFailure;
    if (error === null) return true;
    this.fail(error);
    return false;
  }

  /**
   * Fails every round issued so far (no round is in flight): the exposed logs drop what no completed
   * round covers, the listeners refuse what waited for those rounds, the logs are repaired.
   */
  private fail(error: Error): void {
    this.pendingFailure = null;
    const through = Math.max(this.issued, this.completed + 1);
    // nothing buffered or written since the last completed round survives
    const dirty = this.dirtyLogs;
    this.dirtyLogs = [];
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flushQueued = false;
    const unsynced = this.unsyncedLogs;
    this.unsyncedLogs = [];
    for (let i = 0; i < unsynced.length; i++) unsynced[i]!.syncQueued = false;
    const exposed = this.exposedLogs;
    this.exposedLogs = [];
    let rollBackError: Error | null = null;
    for (let i = 0; i < exposed.length; i++) {
      const log = exposed[i]!;
      log.exposed = false;
      try {
        log.rollBack();
      } catch (problem) {
        rollBackError ??= problem instanceof Error ? problem : new Error(String(problem));
      }
      this.brokenLogs.add(log);
    }
    this.completed = through;
    this.issued = through;
    this.roundRequested = false;
    const first = this.failed === null;
    this.failed = error;
    this.failureCount++;
    this.lastFailure = error;
    this.lastFailureAt = performance.now();
    this.failedSinceHealthy += 1;
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.onFailed?.(through, error);
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    if (this.onError !== undefined) {
      this.onError(error, first);
      // the cut itself failed: a nacked record might come back after a restart; say so as loudly
      if (rollBackError !== null) this.onError(new Error(`cutting a log back after that failure failed too: ${rollBackError.message}`), true);
    } else if (waiters.length === 0) {
      throw error;
    }
    this.retryRepairs();
  }

  /** Repairs the logs rolled back after a failure; those that cannot be yet are tried again later. */
  private retryRepairs(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const broken = this.brokenLogs;
    for (const log of broken) {
      let repaired = false;
      try {
        repaired = log.repair();
      } catch {
        repaired = false;
      }
      if (repaired) broken.delete(log);
    }
    if (broken.size > 0) {
      this.retryTimer = setTimeout(this.retryCallback, STORAGE_RETRY_INTERVAL_MS);
      this.retryTimer.unref();
      return;
    }
    // every log is ready again: one round (it syncs the new segments) tells whether the disk is back
    if (this.failed !== null && this.closeWaiters.length === 0) this.requestRound();
  }

  /** `log` is gone (closed, destroyed): never roll it back or repair it again. */
  forget(log: SyncableLog): void {
    this.brokenLogs.delete(log);
    const exposed = this.exposedLogs.indexOf(log);
    if (exposed >= 0) this.exposedLogs.splice(exposed, 1);
    log.exposed = false;
  }

  private recovered(): void {
    const failedRounds = this.failedSinceHealthy;
    this.failed = null;
    this.failedSinceHealthy = 0;
    if (this.onRecovered !== undefined) this.onRecovered(failedRounds);
  }
}
