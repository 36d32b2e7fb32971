/**
 * The protocol-neutral broker core: virtual hosts, users, queues and durable definitions, over the storage
 * engine the composition root hands it (storage/stores.ts: its durability rounds, queue stores and metadata
 * store). Protocol adapters talk to this and never to storage directly.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_MAX_QUEUES, type UserConfig } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { isKnownRecordVersion, KNOWN_RECORD_VERSIONS } from './message.js';
import {
  UnsupportedFormatError,
  whenDurable as whenRoundDurable,
  type DefinitionStore,
  type Durability,
  type DurabilityListener,
  type QueueRecoveryVisitor,
  type QueueStore,
  type StorageEngine,
} from '../storage/stores.js';
import {
  emptyDefinitions,
  fromStoredDefinitions,
  toStoredChange,
  toStoredDefinitions,
  type DefinitionChange,
  type Definitions,
  type JournalChange,
} from './definitions.js';
import { VirtualHost, type VhostContext } from './vhost.js';
import type { Queue } from './queue/queue.js';
import type { ResourceAlarms } from './alarms.js';
import { QueueDurabilityGate } from './queue/durability-gate.js';
import { BrokerStats, type SampledExchange, type SampledQueue } from './stats.js';
import { DEFAULT_STATS_INTERVAL_MS } from '../config/defaults.js';
import { ClientRegistry } from './clients.js';
import { UserStore } from './users.js';
import { LoginGuard } from './login-guard.js';
import { BrokerError, brokerError, Errors } from '../errors/errors.js';

/** A storage failure is still reported (health checks, metrics) this long after it ended, ms: see storageFailureReported. */
export const STORAGE_FAILURE_HOLD_MS = 10_000;

/** Longest vhost name accepted, bytes of UTF-8 (it travels as an AMQP shortstr in connection.open). */
export const MAX_VHOST_NAME_BYTES = 255;

export interface CoreOptions {
  /** the storage engine the composition root built; the core closes it last */
  readonly engine: StorageEngine;
  readonly users: readonly UserConfig[];
  readonly vhosts: readonly string[];
  readonly logger: Logger;
  /** how often message rates are sampled, ms (default DEFAULT_STATS_INTERVAL_MS) */
  readonly statsIntervalMs?: number;
  /** most queues in the broker, all vhosts together (0 = no limit; absent = DEFAULT_MAX_QUEUES) */
  readonly maxQueues?: number;
  /** most queues in any one vhost (RabbitMQ's max-queues vhost limit; 0 or absent = no limit) */
  readonly maxQueuesPerVhost?: number;
  /** accept rabbit_password_hashing_md5 hashes in imports and user changes (refused by default: MD5 is fast to crack) */
  readonly allowMd5PasswordHashes?: boolean;
  /** a confirm-mode publisher's persistent messages reach consumers only after their fsync (default: at once, see vhost.ts place()) */
  readonly deliverAfterFsync?: boolean;
}

/**
 * Told when the definitions changes it waited for are durable (an AMQP channel holding its declare-ok,
 * an HTTP request holding its 201): see BrokerCore.whenDefinitionsDurable.
 */
export interface DefinitionsWaiter {
  definitionsDurable(): void;
  /** the round failed: the change may be lost at a crash (memory is being rewritten to disk); answer 541 / 500 */
  definitionsFailed(error: BrokerError): void;
}

/** Told when durability rounds complete (the store's group commit); adapters register one with addDurabilityListener(). */
export type { DurabilityListener } from '../storage/stores.js';

export class BrokerCore implements VhostContext {
  readonly vhosts = new Map<string, VirtualHost>();
  /** the rounds of durable storage (the engine's group commit) */
  readonly scheduler: Durability;
  /** message counters, rates and latency (read by the management API and /metrics) */
  readonly stats = new BrokerStats();
  /** see CoreOptions.deliverAfterFsync and VhostContext */
  readonly deliverAfterFsync: boolean;
  /** open client connections, registered by the protocol adapters */
  readonly clients = new ClientRegistry();
  readonly users: UserStore;
  /** failed logins of every protocol: logged per source and slowed (login-guard.ts); adapters call logins.attempt() */
  readonly logins: LoginGuard;
  /** vhosts named in the config file: they exist at every start, so they are not deleted at run time */
  private readonly configVhosts: ReadonlySet<string>;
  /** > 0 while a batch of changes runs: definitions are written once at its end */
  private batchDepth = 0;
  private batchDirty = false;
  /** the engine's definitions store (set by open()) */
  private definitionsStore!: DefinitionStore;
  private snapshotScheduled = false;
  /** the scheduler round covering every definitions change made so far */
  private definitionsRound = 0;
  /** waiters for definitions rounds, in round order (rounds only grow): parallel arrays, head first */
  private definitionWaiterRounds: number[] = [];
  private definitionWaiters: DefinitionsWaiter[] = [];
  private readonly definitionsListener: DurabilityListener;
  /** the stores of durable delayed exchanges restored at startup; any other one is a leftover */
  private readonly delayedRestored = new Set<string>();
  private transientCounter = 0;
  private loading = true;
  /** holds queued messages back until their records are durable; drops them when the write failed */
  readonly durabilityGate: QueueDurabilityGate;
  /** the logs of transient queues: rounds complete once written (policy 'never'), never fsynced */
  readonly transientScheduler: Durability;
  private readonly transientGate: QueueDurabilityGate;
  /** the disk alarm, when the broker runs one (publishers are blocked while its reason is set) */
  alarm: ResourceAlarms | null = null;
  private closed = false;

  private constructor(private readonly options: CoreOptions) {
    this.deliverAfterFsync = options.deliverAfterFsync === true;
    this.scheduler = options.engine.durable;
    this.transientScheduler = options.engine.transient;
    this.durabilityGate = new QueueDurabilityGate(this.scheduler);
    this.transientGate = new QueueDurabilityGate(this.transientScheduler);
    this.definitionsListener = {
      onDurable: (round) => this.definitionRoundsEnded(round, null),
      onFailed: (through, error) => this.definitionRoundsEnded(through, error),
    };
    this.scheduler.addListener(this.definitionsListener);
    this.users = new UserStore(options.users, () => this.vhosts.keys(), { allowMd5: options.allowMd5PasswordHashes === true });
    this.logins = new LoginGuard({ logger: options.logger, flushTimer: true });
    this.configVhosts = new Set(options.vhosts);
  }

  /** the last write or fsync error while storage has not recovered from it (null: healthy) */
  get storageFailure(): Error | null {
    return this.scheduler.failure ?? this.transientScheduler.failure;
  }

  /** the engine: its counters, for metrics */
  get engine(): StorageEngine {
    return this.options.engine;
  }

  /** both durabilities (durable and transient storage), for health checks */
  get schedulers(): readonly Durability[] {
    return [this.scheduler, this.transientScheduler];
  }

  /**
   * What health checks and metrics report: the current storage failure, or one that ended less than
   * STORAGE_FAILURE_HOLD_MS ago. On a full disk storage recovers between two failing publishes (a new
   * segment fits), so the health check would otherwise flap to OK while every publish is nacked.
   */
  get storageFailureReported(): Error | null {
    const current = this.storageFailure;
    if (current !== null) return current;
    for (const scheduler of this.schedulers) {
      if (scheduler.lastFailure !== null && performance.now() - scheduler.lastFailureAt < STORAGE_FAILURE_HOLD_MS) return scheduler.lastFailure;
    }
    return null;
  }

  /** `listener` runs on every write or fsync failure (after the rounds it failed were refused). */
  onStorageFailure(listener: (error: Error) => void): void {
    this.options.engine.onFailure(listener);
  }

  /** Open the data directory: wipe transient queues, load definitions, recover every durable queue. */
  static open(options: CoreOptions): BrokerCore {
    const core = new BrokerCore(options);
    // read first: definitions of a newer format refuse the start before anything is wiped
    const { store, definitions } = options.engine.meta.openDefinitions({ current: () => toStoredDefinitions(core.currentDefinitions()) });
    core.definitionsStore = store;
    options.engine.dropTransientQueueStores();
    for (const name of options.vhosts) core.vhosts.set(name, new VirtualHost(name, core));
    core.recover(fromStoredDefinitions(definitions));
    core.removeDelayedLeftovers();
    core.loading = false;
    if (store.snapshotDue) core.writeSnapshot(); // fold a long (or damaged) change log in at once
    core.stats.start(
      options.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS,
      () => core.allQueues(),
      () => core.allExchanges(),
      () => core.clients,
    );
    return core;
  }

  private recover(defs: Definitions): void {
    const log = this.options.logger;
    const vhost = (name: string): VirtualHost => {
      let v = this.vhosts.get(name);
      if (v === undefined) {
        v = new VirtualHost(name, this);
        this.vhosts.set(name, v);
      }
      return v;
    };
    for (const name of defs.vhosts) vhost(name);
    try {
      this.users.restore(defs.users, defs.permissions);
    } catch (err) {
      log.warn(`managed users not fully restored: ${(err as Error).message}`);
    }
    if (this.users.md5Restored.length > 0 && this.options.allowMd5PasswordHashes !== true) {
      const names = this.users.md5Restored.map((n) => `'${n}'`).join(', ');
      log.warn(`users ${names} have MD5 password hashes (rabbit_password_hashing_md5, fast to crack): set their passwords again to store SHA-256 hashes`);
    }
    // policies first, so every restored queue starts with the policy that applies to it
    for (const p of defs.policies) {
      try {
        vhost(p.vhost).restorePolicy(p);
      } catch (err) {
        log.warn(`policy '${p.name}' in vhost '${p.vhost}' not restored: ${(err as Error).message}`);
      }
    }
    for (const e of defs.exchanges) vhost(e.vhost).restoreExchange(e);
    let messages = 0;
    let dropped = 0;
    const restored: Queue[] = [];
    for (const q of defs.queues) {
      // the queue exists first, so the log can hand it each live record while it scans: only positions
      // (not bodies) stay in memory
      const queue = vhost(q.vhost).restoreQueue(q);
      const store = this.options.engine.openQueueStore({
        kind: 'queue',
        name: q.storage,
        durable: true,
        restore: true,
        logger: (line) => log.info(`queue '${q.name}' in vhost '${q.vhost}': ${line}`),
        errorLogger: (line) => log.error(`queue '${q.name}' in vhost '${q.vhost}': ${line}`),
        onRecovered: (segment, offset, length, payload, deliveries, opening) => {
          if (!isKnownRecordVersion(payload)) {
            // its CRC holds, so a newer Postbox wrote it: refuse, never drop it
            throw new UnsupportedFormatError(opening.describe(segment, offset), payload[0] ?? -1, KNOWN_RECORD_VERSIONS, 'message record version');
          }
          queue.restoreRecord(segment, offset, length, payload, deliveries);
        },
      });
      // transient messages do not survive a restart (as in RabbitMQ): attachStore acks them away
      dropped += queue.attachStore(store);
      messages += queue.messageCount;
      restored.push(queue);
    }
    for (const b of defs.bindings) vhost(b.vhost).restoreBinding(b);
    // only now can dead-lettering route (every queue, exchange and binding is back)
    for (const queue of restored) queue.started();
    if (defs.queues.length + defs.exchanges.length + defs.policies.length > 0) {
      log.info(
        `recovered ${defs.exchanges.length} exchanges, ${defs.queues.length} queues, ${defs.bindings.length} bindings, ${defs.policies.length} policies, ` +
          `${messages} persistent messages (${dropped} transient messages dropped)`,
      );
    }
  }

  // ---------------------------------------------------------------- VhostContext

  queueAppended(queue: Queue): number {
    return (queue.durable ? this.durabilityGate : this.transientGate).appended(queue);
  }

  requestDurabilityRound(): number {
    return this.scheduler.requestRound();
  }

  /** the newest durability round that completed: everything appended before it was requested is on disk */
  get completedRound(): number {
    return this.scheduler.completedRound;
  }

  addDurabilityListener(listener: DurabilityListener): void {
    this.scheduler.addListener(listener);
  }

  removeDurabilityListener(listener: DurabilityListener): void {
    this.scheduler.removeListener(listener);
  }

  /** Resolves once `round` is durable; rejects with the storage's error when a write or fsync of it failed. */
  whenDurable(round: number): Promise<void> {
    return whenRoundDurable(this.scheduler, round);
  }

  queueAppendedUnawaited(queue: Queue): number {
    return (queue.durable ? this.durabilityGate : this.transientGate).appendedUnawaited(queue);
  }

  checkQueueLimit(vhost: VirtualHost, name: string): void {
    const perVhost = this.options.maxQueuesPerVhost ?? 0;
    if (perVhost > 0 && vhost.queues.size >= perVhost) {
      throw brokerError(Errors.PRECONDITION_FAILED, `cannot declare queue '${name}': queue limit in vhost '${vhost.name}' (${perVhost}) is reached`);
    }
    const total = this.options.maxQueues ?? DEFAULT_MAX_QUEUES;
    if (total > 0) {
      let count = 0;
      for (const v of this.vhosts.values()) count += v.queues.size;
      if (count >= total) throw brokerError(Errors.PRECONDITION_FAILED, `cannot declare queue '${name}': queue limit in cluster (${total}) is reached`);
    }
  }

  openQueueStore(vhost: string, name: string, durable: boolean): { store: QueueStore; storage: string } {
    const hash = createHash('sha256').update(vhost).update('\0').update(name).digest('hex').slice(0, 32);
    // a transient queue's name is unique to this run (a restart drops every transient store)
    const storage = durable ? hash : `${++this.transientCounter}-${hash}`;
    let store: QueueStore;
    try {
      store = this.options.engine.openQueueStore({
        kind: 'queue',
        name: storage,
        durable,
        restore: false,
        logger: (line) => this.options.logger.debug(`queue '${name}' in vhost '${vhost}': ${line}`),
      });
    } catch (err) {
      // a full or failing disk refuses this one declaration (a channel error), nothing else
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EIO' && code !== 'EDQUOT') throw err;
      throw brokerError(Errors.RESOURCE_ERROR, `cannot create the storage of queue '${name}' in vhost '${vhost}': ${(err as Error).message}`);
    }
    return { store, storage };
  }

  openDelayedStore(vhost: string, exchange: string, durable: boolean, restore: boolean, onRecovered: QueueRecoveryVisitor): QueueStore {
    const hash = createHash('sha256').update(vhost).update('\0').update(exchange).digest('hex').slice(0, 32);
    if (restore) this.delayedRestored.add(hash);
    return this.options.engine.openQueueStore({
      kind: 'delayed',
      name: durable ? hash : `${++this.transientCounter}-${hash}`,
      durable,
      restore,
      logger: (line) => {
        const text = `delayed exchange '${exchange}' in vhost '${vhost}': ${line}`;
        if (restore) this.options.logger.info(text);
        else this.options.logger.debug(text);
      },
      errorLogger: (line) => this.options.logger.error(`delayed exchange '${exchange}' in vhost '${vhost}': ${line}`),
      onRecovered,
    });
  }

  undecodableMessageDropped(vhost: string, queue: string, reason: string): void {
    this.options.logger.error(
      `queue '${queue}' in vhost '${vhost}': a stored message was dropped, its properties cannot be decoded (${reason}); it was stored before publish-time checking`,
    );
  }

  delayedMessageLost(vhost: string, exchange: string, reason: string): void {
    this.options.logger.error(`delayed exchange '${exchange}' in vhost '${vhost}': a held message was dropped: ${reason}`);
  }

  /** delete delayed storage no restored exchange owns (the exchange was deleted while files were left behind) */
  private removeDelayedLeftovers(): void {
    this.options.engine.dropQueueStoresExcept('delayed', this.delayedRestored);
    this.delayedRestored.clear();
  }

  /**
   * Records a change of durable definitions, or throws a BrokerError (INTERNAL_ERROR: 541 on AMQP, 500 on
   * HTTP) when the disk refuses the write (ENOSPC, EIO, EMFILE …). Callers record a change BEFORE they
   * apply it in memory, or undo it when this throws: memory never holds a definition the disk refused.
   * With `changes`, one journal record each (O(1)), written at once and made durable by the next
   * group-commit round (pendingDefinitionsRound: answers wait for it); without, a new snapshot of
   * everything (O(n), for imports and vhost deletion), deferred to the end of a batch.
   */
  definitionsChanged(changes?: readonly DefinitionChange[]): void {
    if (this.loading || this.closed) return;
    if (changes === undefined) {
      if (this.batchDepth > 0) {
        this.batchDirty = true;
        return;
      }
      this.guardDefinitionsWrite(() => this.writeSnapshot());
      return;
    }
    const records = changes.map((c) => toStoredChange(this.journalChange(c)));
    this.guardDefinitionsWrite(() => {
      const round = this.definitionsStore.record(records);
      if (round > this.definitionsRound) this.definitionsRound = round;
    });
    // the caller applies the change in memory after this returns: the snapshot, built from memory, waits
    // for the end of the turn (the journal keeps every record until the snapshot holds it)
    if (this.definitionsStore.snapshotDue && !this.snapshotScheduled) {
      this.snapshotScheduled = true;
      setImmediate(() => this.scheduledSnapshot());
    }
  }

  /**
   * The round an answer about definitions waits for: every definitions change made so far is durable
   * once it completes. 0 when none is pending (answer at once). An answer waits for the latest change,
   * whoever made it: a re-declare of a queue another client just declared is answered once that queue
   * is on disk too.
   */
  pendingDefinitionsRound(): number {
    return this.definitionsRound > this.scheduler.completedRound ? this.definitionsRound : 0;
  }

  /** `waiter` is told once `round` (from pendingDefinitionsRound) completed or failed; rounds end in order. */
  whenDefinitionsDurable(round: number, waiter: DefinitionsWaiter): void {
    this.definitionWaiterRounds.push(round);
    this.definitionWaiters.push(waiter);
  }

  /** Resolves once every definitions change made so far is durable; rejects with INTERNAL_ERROR if its round failed. */
  definitionsSettled(): Promise<void> {
    const round = this.pendingDefinitionsRound();
    if (round === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.whenDefinitionsDurable(round, { definitionsDurable: resolve, definitionsFailed: reject });
    });
  }

  /** Rounds up to `through` completed (error null) or failed: tell their waiters, in order. */
  private definitionRoundsEnded(through: number, error: Error | null): void {
    const rounds = this.definitionWaiterRounds;
    if (rounds.length === 0 || rounds[0]! > through) return;
    const waiters = this.definitionWaiters;
    let n = 0;
    while (n < rounds.length && rounds[n]! <= through) n++;
    const ended = waiters.slice(0, n);
    this.definitionWaiterRounds = rounds.slice(n);
    this.definitionWaiters = waiters.slice(n);
    let failure: BrokerError | null = null;
    if (error !== null) {
      const e = error as NodeJS.ErrnoException;
      this.options.logger.error(
        `definitions changes could not be synced to disk (${e.code ?? e.message}): ${ended.length} answer(s) refused with 541 / HTTP 500; ` +
          `the definitions in memory are rewritten to disk as a new snapshot once it takes writes again`,
      );
      failure = brokerError(Errors.INTERNAL_ERROR, `definitions could not be synced to disk (${e.code ?? e.message}); the change may not survive a restart`);
    }
    for (const waiter of ended) {
      try {
        if (failure === null) waiter.definitionsDurable();
        else waiter.definitionsFailed(failure);
      } catch (err) {
        this.options.logger.error(`a definitions waiter failed: ${(err as Error)?.stack ?? String(err)}`);
      }
    }
  }

  private scheduledSnapshot(): void {
    this.snapshotScheduled = false;
    if (this.closed || !this.definitionsStore.snapshotDue) return;
    if (this.batchDepth > 0) {
      this.batchDirty = true;
      return;
    }
    try {
      this.writeSnapshot();
    } catch (err) {
      // every change is durable in the journal; the snapshot is tried again after the next change
      this.options.logger.warn(`definitions snapshot not written (the journal keeps every change): ${(err as Error).message}`);
    }
  }

  /**
   * Runs `change` on the managed users and permissions, then records them; if that fails they are put
   * back as they were and the error is thrown.
   */
  changeUsers<T>(change: () => T): T {
    const before = this.users.managedDefinitions();
    const result = change();
    try {
      this.definitionsChanged([{ set: 'users' }]);
    } catch (err) {
      this.users.resetManaged(before.users, before.permissions);
      throw err;
    }
    return result;
  }

  private journalChange(change: DefinitionChange): JournalChange {
    if (!('set' in change)) return change;
    if (change.set === 'vhosts') return { set: 'vhosts', value: this.runtimeVhosts() };
    if (change.set === 'users') {
      const managed = this.users.managedDefinitions();
      return { set: 'users', users: managed.users, permissions: managed.permissions };
    }
    const policies = [];
    for (const v of this.vhosts.values()) policies.push(...v.listPolicies());
    return { set: 'policies', value: policies };
  }

  private guardDefinitionsWrite(write: () => void): void {
    try {
      write();
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      const e = err as NodeJS.ErrnoException;
      this.options.logger.error(`definitions could not be written, the change is refused: ${e.code ?? ''} ${e.message}`);
      throw brokerError(Errors.INTERNAL_ERROR, `definitions could not be written to disk (${e.code ?? e.message}); the change was not made`);
    }
  }

  private runtimeVhosts(): string[] {
    const names: string[] = [];
    for (const name of this.vhosts.keys()) if (!this.configVhosts.has(name)) names.push(name);
    return names;
  }

  /** Writes every durable definition in memory as the store's new snapshot. */
  private writeSnapshot(): void {
    this.definitionsStore.writeSnapshot(toStoredDefinitions(this.currentDefinitions()));
  }

  /** Every durable definition in memory. */
  private currentDefinitions(): Definitions {
    const all: Definitions = emptyDefinitions();
    for (const name of this.vhosts.keys()) if (!this.configVhosts.has(name)) all.vhosts.push(name);
    const managed = this.users.managedDefinitions();
    all.users = managed.users;
    all.permissions = managed.permissions;
    for (const v of this.vhosts.values()) {
      const d = v.durableDefinitions();
      all.exchanges.push(...d.exchanges);
      all.queues.push(...d.queues);
      all.bindings.push(...d.bindings);
      all.policies.push(...d.policies);
    }
    return all;
  }

  // ---------------------------------------------------------------- users

  /** the user, or undefined when the name/password pair is wrong or the user may not connect from there */
  authenticate(username: string, password: string, fromLoopback: boolean): UserConfig | undefined {
    return this.users.authenticate(username, password, fromLoopback);
  }

  vhostFor(user: UserConfig, name: string): VirtualHost | undefined {
    const v = this.vhosts.get(name);
    if (v === undefined) return undefined;
    return user.vhosts.includes('*') || user.vhosts.includes(name) ? v : undefined;
  }

  // ---------------------------------------------------------------- vhosts, batches, statistics

  /** Run `change` with definitions written once at the end (imports, vhost deletion), not per change. */
  batchDefinitions<T>(change: () => T): T {
    this.batchDepth++;
    try {
      return change();
    } finally {
      if (--this.batchDepth === 0 && this.batchDirty) {
        this.batchDirty = false;
        this.definitionsChanged();
      }
    }
  }

  /** true for vhosts named in the config file (they come back at every start) */
  isConfigVhost(name: string): boolean {
    return this.configVhosts.has(name);
  }

  /** Create a vhost (persisted); returns false when it exists already. */
  addVhost(name: string): boolean {
    if (name === '' || Buffer.byteLength(name) > MAX_VHOST_NAME_BYTES)
      throw brokerError(Errors.PRECONDITION_FAILED, `vhost name must be 1..${MAX_VHOST_NAME_BYTES} bytes`);
    if (this.vhosts.has(name)) return false;
    this.vhosts.set(name, new VirtualHost(name, this));
    try {
      this.definitionsChanged([{ set: 'vhosts' }]);
    } catch (err) {
      this.vhosts.delete(name); // never a vhost that exists only in memory
      throw err;
    }
    return true;
  }

  /**
   * Delete a vhost created at run time: its connections are closed (320 CONNECTION_FORCED), its queues and
   * their messages deleted, managed users' permissions in it dropped.
   */
  deleteVhost(name: string): void {
    const vhost = this.vhosts.get(name);
    if (vhost === undefined) throw brokerError(Errors.NOT_FOUND, `no vhost '${name}'`);
    if (this.configVhosts.has(name)) throw brokerError(Errors.PRECONDITION_FAILED, `vhost '${name}' is defined in the config file`);
    for (const c of [...this.clients]) if (c.details().vhost === name) c.closeByOperator(`vhost '${name}' is deleted`);
    this.batchDefinitions(() => {
      vhost.destroy();
      this.vhosts.delete(name);
      this.users.vhostDeleted(name);
      this.definitionsChanged();
    });
  }

  /** every queue of every vhost (the stats sampler walks these) */
  *allQueues(): IterableIterator<SampledQueue & { readonly vhost: string; readonly name: string }> {
    for (const v of this.vhosts.values()) yield* v.queues.values();
  }

  *allExchanges(): IterableIterator<SampledExchange> {
    for (const v of this.vhosts.values()) yield* v.exchanges.values();
  }

  // ---------------------------------------------------------------- lifecycle

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stats.stop();
    this.logins.close();
    await this.options.engine.close();
    for (const v of this.vhosts.values()) for (const q of v.queues.values()) q.close();
    for (const v of this.vhosts.values()) for (const e of v.exchanges.values()) e.delayed?.close();
    this.definitionsStore.close();
    this.options.engine.dropTransientQueueStores();
  }
}
