/**
 * Durable definitions (exchanges, queues, bindings, policies, vhosts, managed users) of one data directory:
 * a snapshot, `definitions.json`, plus an append-only journal of the changes since, `definitions.journal`.
 *
 * A change (a queue declared, a binding added …) is one journal record, appended and fdatasync'ed before the
 * change is applied or answered, so a declaration costs O(1) however many definitions exist. When the
 * journal holds more records than the snapshot holds definitions (and at least MIN_RECORDS_BEFORE_SNAPSHOT),
 * the snapshot is rewritten (write temp, fsync, rename, fsync dir) and the journal emptied: O(1) amortised.
 *
 * definitions.journal, a sequence of records:
 *
 *   0        4        8
 *   ┌────────┬────────┬───────────────────────────────┐
 *   │ length │ crc32c │ payload: `length` bytes, UTF-8 JSON of one JournalRecord
 *   │ u32 BE │ u32 BE │ (crc32c covers the payload)   │
 *   └────────┴────────┴───────────────────────────────┘
 *
 * Every record states a final value (`put` a definition, `del` one by its key, `set` a whole small list),
 * so replaying a record whose effect the snapshot already holds changes nothing: a crash between writing
 * a new snapshot and emptying the journal is harmless. A record that fails its CRC (a torn tail after a
 * crash, or a damaged byte) is skipped: replay resynchronises on the next record whose length and CRC
 * check out, the damaged bytes are kept in a side file, and the journal is folded into a new snapshot.
 *
 * definitions.json keeps its format (version 1): data directories written before the journal load as
 * they are. Field tables are stored with tagged values so types that JSON lacks (bigint, bytes,
 * timestamps, decimals) round-trip exactly. `policies` was added within version 1: a file without the
 * key has no policies. So were `vhosts` (vhosts created at run time; config-file vhosts are not listed),
 * `users` and `permissions` (users managed through the management API, with password hashes, never
 * passwords): a file without them has none.
 */
import fs, { readFileSync, existsSync } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { closeQuietly, PRIVATE_FILE_MODE, readdirOrEmpty, setMode, writeFileAtomic, writeFully } from '../storage/files.js';
import { UnsupportedFormatError } from '../storage/format-error.js';
import type { SyncableLog, SyncScheduler } from '../storage/sync.js';
import { join } from 'node:path';
import { AmqpDecimal, type FieldTable, type FieldValue } from './field-table.js';
import type { Policy } from './policy.js';
import type { PermissionDefinition, UserDefinition } from './users.js';

export const DEFINITIONS_FILE = 'definitions.json';
export const DEFINITIONS_VERSION = 1;
export const DEFINITIONS_JOURNAL_FILE = 'definitions.journal';
/** Damaged journal bytes skipped at replay are kept in `definitions.journal.damaged-<ms>`. */
export const DAMAGED_JOURNAL_SUFFIX = '.damaged-';
/** length + crc32c before every journal record's payload */
export const JOURNAL_RECORD_HEADER_BYTES = 8;
/** Largest journal record, 64 MiB: far above any one change (a binding's arguments, a policy list). */
export const MAX_JOURNAL_RECORD_BYTES = 64 * 1024 * 1024;
/**
 * The journal is folded into a new snapshot once it holds more records than the snapshot holds
 * definitions, and at least this many: small brokers rewrite a small file rarely, large ones O(1) amortised.
 */
export const MIN_RECORDS_BEFORE_SNAPSHOT = 4096;

export interface ExchangeDefinition {
  vhost: string;
  name: string;
  type: string;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export interface QueueDefinition {
  vhost: string;
  name: string;
  autoDelete: boolean;
  arguments: FieldTable;
  /** storage directory name under queues/ */
  storage: string;
}

export interface BindingDefinition {
  vhost: string;
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: FieldTable;
}

export interface Definitions {
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
  /** in definition order (a priority tie goes to the later one) */
  policies: Policy[];
  /** vhosts created at run time (config-file vhosts are not listed) */
  vhosts: string[];
  /** users managed through the management API */
  users: UserDefinition[];
  permissions: PermissionDefinition[];
}

export function emptyDefinitions(): Definitions {
  return { exchanges: [], queues: [], bindings: [], policies: [], vhosts: [], users: [], permissions: [] };
}

function encodeValue(v: FieldValue): unknown {
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('base64') };
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof AmqpDecimal) return { $decimal: [v.scale, v.value] };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v !== null && typeof v === 'object') return { $table: encodeTable(v as FieldTable) };
  return v;
}

function encodeTable(t: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(t)) out[k] = encodeValue(t[k]!);
  return out;
}

function decodeValue(v: unknown): FieldValue {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, any>;
    if ('$bigint' in o) return BigInt(o.$bigint);
    if ('$bytes' in o) return Buffer.from(o.$bytes, 'base64');
    if ('$date' in o) return new Date(o.$date);
    if ('$decimal' in o) return new AmqpDecimal(o.$decimal[0], o.$decimal[1]);
    if ('$table' in o) return decodeTable(o.$table);
  }
  return v as FieldValue;
}

function decodeTable(t: Record<string, unknown>): FieldTable {
  const out: FieldTable = {};
  for (const k of Object.keys(t)) out[k] = decodeValue(t[k]);
  return out;
}

export function loadDefinitions(dataDir: string): Definitions {
  const path = join(dataDir, DEFINITIONS_FILE);
  if (!existsSync(path)) return emptyDefinitions();
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  if (raw.version !== DEFINITIONS_VERSION) throw new UnsupportedFormatError(path, raw.version, DEFINITIONS_VERSION, 'definitions version');
  return {
    exchanges: raw.exchanges.map((e: any) => ({ ...e, arguments: decodeTable(e.arguments) })),
    queues: raw.queues.map((q: any) => ({ ...q, arguments: decodeTable(q.arguments) })),
    bindings: raw.bindings.map((b: any) => ({ ...b, arguments: decodeTable(b.arguments) })),
    policies: (raw.policies ?? []).map((p: any) => ({ ...p, definition: decodeTable(p.definition) })),
    vhosts: raw.vhosts ?? [],
    users: raw.users ?? [],
    permissions: raw.permissions ?? [],
  };
}

/** Writes `data` to a new `file` of mode 0600 (a leftover file of that name gets the mode too). */
function writePrivateFile(file: string, data: string | Buffer): void {
  const fd = fs.openSync(file, 'w', PRIVATE_FILE_MODE);
  try {
    setMode(fd, PRIVATE_FILE_MODE);
    fs.writeFileSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every file of `dataDir` that holds users' password hashes: the snapshot, the journal, their temp and damaged copies. */
export function credentialFiles(dataDir: string): string[] {
  return readdirOrEmpty(dataDir)
    .filter((name) => name.startsWith(DEFINITIONS_FILE) || name.startsWith(DEFINITIONS_JOURNAL_FILE))
    .map((name) => join(dataDir, name));
}

export function saveDefinitions(dataDir: string, defs: Definitions, sync = true): void {
  const path = join(dataDir, DEFINITIONS_FILE);
  const text = JSON.stringify(
    {
      version: DEFINITIONS_VERSION,
      exchanges: defs.exchanges.map((e) => ({ ...e, arguments: encodeTable(e.arguments) })),
      queues: defs.queues.map((q) => ({ ...q, arguments: encodeTable(q.arguments) })),
      bindings: defs.bindings.map((b) => ({ ...b, arguments: encodeTable(b.arguments) })),
      policies: defs.policies.map((p) => ({ ...p, definition: encodeTable(p.definition) })),
      vhosts: defs.vhosts,
      users: defs.users,
      permissions: defs.permissions,
    },
    null,
    1,
  );
  // users' password hashes are in it: mode 0600, as every definitions file (see credentialFiles)
  if (sync) writeFileAtomic(path, text, PRIVATE_FILE_MODE);
  else {
    writePrivateFile(`${path}.tmp`, text);
    fs.renameSync(`${path}.tmp`, path);
  }
}

// ---- the journal ---------------------------------------------------------------------------------------

/**
 * One change as a caller states it: a definition put or deleted, or a small list (vhosts, managed
 * users with their permissions, policies) to be recorded whole as it now stands in memory.
 */
export type DefinitionChange =
  | Exclude<JournalChange, { readonly set: string }>
  | { readonly set: 'vhosts' | 'users' | 'policies' };

/** One journal record, stated as its final value. Keys: vhost + name; a binding is its own key. */
export type JournalChange =
  | { readonly put: 'queue'; readonly value: QueueDefinition }
  | { readonly del: 'queue'; readonly vhost: string; readonly name: string }
  | { readonly put: 'exchange'; readonly value: ExchangeDefinition }
  | { readonly del: 'exchange'; readonly vhost: string; readonly name: string }
  | { readonly put: 'binding'; readonly value: BindingDefinition }
  | { readonly del: 'binding'; readonly value: BindingDefinition }
  | { readonly set: 'vhosts'; readonly value: string[] }
  | { readonly set: 'users'; readonly users: UserDefinition[]; readonly permissions: PermissionDefinition[] }
  | { readonly set: 'policies'; readonly value: Policy[] };

function nameKey(vhost: string, name: string): string {
  return `${vhost}\u0000${name}`;
}

function bindingKey(b: BindingDefinition, encodedArguments: unknown): string {
  return [b.vhost, b.source, b.destinationType, b.destination, b.routingKey, JSON.stringify(encodedArguments)].join('\u0000');
}

function encodeChange(change: JournalChange): unknown {
  if ('put' in change) {
    if (change.put === 'queue') return { put: 'queue', value: { ...change.value, arguments: encodeTable(change.value.arguments) } };
    if (change.put === 'exchange') return { put: 'exchange', value: { ...change.value, arguments: encodeTable(change.value.arguments) } };
    return { put: 'binding', value: { ...change.value, arguments: encodeTable(change.value.arguments) } };
  }
  if ('del' in change) {
    if (change.del === 'binding') return { del: 'binding', value: { ...change.value, arguments: encodeTable(change.value.arguments) } };
    return change;
  }
  if (change.set === 'policies') return { set: 'policies', value: change.value.map((p) => ({ ...p, definition: encodeTable(p.definition) })) };
  return change;
}

/** Definitions keyed for replay: maps keep first-insertion order, so arrays come back in declaration order. */
class DefinitionIndex {
  readonly exchanges = new Map<string, ExchangeDefinition>();
  readonly queues = new Map<string, QueueDefinition>();
  readonly bindings = new Map<string, BindingDefinition>();
  policies: Policy[];
  vhosts: string[];
  users: UserDefinition[];
  permissions: PermissionDefinition[];

  constructor(defs: Definitions) {
    for (const e of defs.exchanges) this.exchanges.set(nameKey(e.vhost, e.name), e);
    for (const q of defs.queues) this.queues.set(nameKey(q.vhost, q.name), q);
    for (const b of defs.bindings) this.bindings.set(bindingKey(b, encodeTable(b.arguments)), b);
    this.policies = defs.policies;
    this.vhosts = defs.vhosts;
    this.users = defs.users;
    this.permissions = defs.permissions;
  }

  /** Applies one decoded journal record; throws on a record of unknown shape. */
  apply(raw: any): void {
    if (raw.put === 'queue') this.queues.set(nameKey(raw.value.vhost, raw.value.name), { ...raw.value, arguments: decodeTable(raw.value.arguments) });
    else if (raw.put === 'exchange') this.exchanges.set(nameKey(raw.value.vhost, raw.value.name), { ...raw.value, arguments: decodeTable(raw.value.arguments) });
    else if (raw.put === 'binding') this.bindings.set(bindingKey(raw.value, raw.value.arguments), { ...raw.value, arguments: decodeTable(raw.value.arguments) });
    else if (raw.del === 'queue') this.queues.delete(nameKey(raw.vhost, raw.name));
    else if (raw.del === 'exchange') this.exchanges.delete(nameKey(raw.vhost, raw.name));
    else if (raw.del === 'binding') this.bindings.delete(bindingKey(raw.value, raw.value.arguments));
    else if (raw.set === 'vhosts' && Array.isArray(raw.value)) this.vhosts = raw.value;
    else if (raw.set === 'users' && Array.isArray(raw.users) && Array.isArray(raw.permissions)) {
      this.users = raw.users;
      this.permissions = raw.permissions;
    } else if (raw.set === 'policies' && Array.isArray(raw.value)) {
      this.policies = raw.value.map((p: any) => ({ ...p, definition: decodeTable(p.definition) }));
    } else throw new Error(`unknown journal record ${JSON.stringify(raw).slice(0, 200)}`);
  }

  definitions(): Definitions {
    return {
      exchanges: [...this.exchanges.values()],
      queues: [...this.queues.values()],
      bindings: [...this.bindings.values()],
      policies: this.policies,
      vhosts: this.vhosts,
      users: this.users,
      permissions: this.permissions,
    };
  }
}

/** How many definitions a snapshot holds (the journal may grow to that many records before a new one). */
function definitionCount(defs: Definitions): number {
  return defs.exchanges.length + defs.queues.length + defs.bindings.length + defs.policies.length + defs.vhosts.length + defs.users.length;
}

export interface DefinitionsStoreOptions {
  readonly dataDir: string;
  /** fsync policy 'always': journal records are fdatasync'ed by the group-commit rounds, the snapshot before its rename */
  readonly sync: boolean;
  /** one line for damage found at replay (error level) */
  readonly error: (line: string) => void;
}

/**
 * What the journal needs from its owner: the group-commit scheduler that syncs it (a round covers every
 * record appended before requestRound() returned it), and a way to rewrite the snapshot from memory when a
 * failed round left the journal behind memory (repair).
 */
export interface JournalOwner {
  readonly scheduler: SyncScheduler;
  /** Writes every definition in memory as a new snapshot (writeSnapshot); throws when the disk refuses. */
  rewriteSnapshot(): void;
}

/**
 * The snapshot and its journal, open. append() writes changes as journal records (one write, no sync) and
 * returns the group-commit round that makes them durable; the journal is one more log of the broker's
 * SyncScheduler, so the records of every declaration made while a round is in flight share the next
 * round's one fdatasync, and the event loop never waits for it. The owner writes a new snapshot when
 * snapshotDue says so (it builds the definitions from memory).
 *
 * A failed round (the journal's fdatasync, or any other file's in the same round) leaves records memory
 * holds that the disk may lack: rollBack cuts the journal back to what completed rounds cover and repair
 * rewrites the snapshot from memory (retried by the scheduler until the disk takes it); until then append
 * refuses every change, so memory never gets further ahead of the disk.
 */
export class DefinitionsStore implements SyncableLog {
  private fd: number;
  /** bytes of the journal that hold whole, written records */
  private journalBytes: number;
  private journalRecords = 0;
  /** definitions in the snapshot (sets how long the journal may grow) */
  private snapshotCount: number;
  /** a write or sync failed: the journal may hold a record memory does not; the next change rewrites the snapshot */
  private suspect = false;
  private readonly journalPath: string;
  private owner: JournalOwner | null = null;
  // SyncableLog state (owned by the scheduler)
  flushQueued = false;
  syncQueued = false;
  exposed = false;
  /** journal bytes completed rounds cover */
  private durableBytes: number;
  /** journal bytes the round in flight covers once it completes */
  private candidateBytes: number;
  /** the scheduler is syncing the journal's descriptor: it is closed only after onSyncDone */
  private syncing = false;
  /** a descriptor replaced while a sync of it was in flight, closed at onSyncDone */
  private retiredFd = -1;
  /** a failed round left memory ahead of the journal: refuse changes until a snapshot from memory is written */
  private needsRepair = false;

  private constructor(
    private readonly options: DefinitionsStoreOptions,
    fd: number,
    journalBytes: number,
    journalRecords: number,
    snapshotCount: number,
  ) {
    this.fd = fd;
    this.journalBytes = journalBytes;
    this.durableBytes = journalBytes;
    this.candidateBytes = journalBytes;
    this.journalRecords = journalRecords;
    this.snapshotCount = snapshotCount;
    this.journalPath = join(options.dataDir, DEFINITIONS_JOURNAL_FILE);
  }

  /** Loads the snapshot, replays the journal onto it, and opens the journal for appending. */
  static open(options: DefinitionsStoreOptions): { store: DefinitionsStore; definitions: Definitions } {
    const snapshot = loadDefinitions(options.dataDir);
    const journalPath = join(options.dataDir, DEFINITIONS_JOURNAL_FILE);
    const replay = replayJournal(journalPath, snapshot, options.error);
    const fd = fs.openSync(journalPath, 'a+', PRIVATE_FILE_MODE);
    const store = new DefinitionsStore(options, fd, replay.validBytes, replay.records, definitionCount(snapshot));
    if (replay.damaged) store.suspect = true; // folded into a new snapshot by the first change (or the owner, now)
    return { store, definitions: replay.definitions };
  }

  /** Joins the owner's group commit: from now on append() hands its records to the owner's scheduler. */
  attach(owner: JournalOwner): void {
    this.owner = owner;
  }

  /** The journal is long enough (or untrustworthy) for the owner to write a new snapshot now. */
  get snapshotDue(): boolean {
    return this.suspect || this.journalRecords > Math.max(MIN_RECORDS_BEFORE_SNAPSHOT, this.snapshotCount);
  }

  /** Records still to be folded into the snapshot (for tests and the log). */
  get pendingRecords(): number {
    return this.journalRecords;
  }

  /**
   * Appends `changes` as journal records (written to the OS at once, not synced) and returns the
   * scheduler round that makes them durable (0 when there is nothing to wait for). Throws (ENOSPC, EIO,
   * EMFILE …, or while a failed round awaits repair) with the journal cut back to its previous end where
   * possible; the caller then leaves memory unchanged.
   */
  append(changes: readonly JournalChange[]): number {
    if (changes.length === 0) return 0;
    if (this.needsRepair) {
      throw Object.assign(new Error('an earlier definitions sync failed and memory is not yet rewritten to disk (retried every second)'), { code: 'EIO' });
    }
    const parts: Buffer[] = [];
    for (const change of changes) {
      const payload = Buffer.from(JSON.stringify(encodeChange(change)), 'utf8');
      if (payload.length > MAX_JOURNAL_RECORD_BYTES) throw new RangeError(`definition change of ${payload.length} bytes is too large`);
      const header = Buffer.allocUnsafe(JOURNAL_RECORD_HEADER_BYTES);
      header.writeUInt32BE(payload.length, 0);
      header.writeUInt32BE(crc32c(payload), 4);
      parts.push(header, payload);
    }
    const bytes = Buffer.concat(parts);
    try {
      writeFully(this.fd, bytes, bytes.length, this.journalBytes);
      if (this.options.sync && this.owner === null) fs.fdatasyncSync(this.fd); // no group commit to join (tools, tests)
    } catch (error) {
      // the record may be partly on disk: cut it off, and distrust the journal until a snapshot written
      // from memory replaces it
      this.suspect = true;
      try {
        fs.ftruncateSync(this.fd, this.journalBytes);
      } catch {
        // a torn record left behind fails its CRC at replay and is skipped
      }
      throw error;
    }
    this.journalBytes += bytes.length;
    this.journalRecords += changes.length;
    return this.requestRound();
  }

  /** The round covering everything written to the journal so far (0 without a scheduler). */
  private requestRound(): number {
    const scheduler = this.owner?.scheduler;
    if (scheduler === undefined) return 0;
    scheduler.markUnsynced(this);
    return scheduler.requestRound();
  }

  /**
   * Writes `defs` (all of memory) as the new snapshot, then empties the journal. Throws when the snapshot
   * cannot be written; the journal is then left as it was (still valid).
   */
  writeSnapshot(defs: Definitions): void {
    saveDefinitions(this.options.dataDir, defs, this.options.sync);
    this.snapshotCount = definitionCount(defs);
    this.suspect = false;
    this.needsRepair = false;
    // from here the snapshot holds everything: the journal's records are redundant (and harmless if kept:
    // every record states a final value, so replaying the old journal onto the new snapshot changes
    // nothing). The cut is not synced here: the fdatasync of the first record written after it covers it
    // (the file's size is part of what fdatasync makes durable); until then the old records replay harmlessly.
    try {
      fs.ftruncateSync(this.fd, 0);
      this.journalEmptied();
    } catch {
      // a journal that could not be emptied replays harmlessly onto the new snapshot; try again next time
      const fresh = this.journalPath + '.tmp';
      try {
        writePrivateFile(fresh, Buffer.alloc(0));
        fs.renameSync(fresh, this.journalPath);
        const old = this.fd;
        this.fd = fs.openSync(this.journalPath, 'a+', PRIVATE_FILE_MODE);
        if (this.syncing) this.retiredFd = old;
        else closeQuietly(old);
        this.journalEmptied();
      } catch {
        this.suspect = true;
      }
    }
  }

  private journalEmptied(): void {
    this.journalBytes = 0;
    this.journalRecords = 0;
    // a round in flight covers what the snapshot now holds: it completes at 0 bytes
    this.durableBytes = 0;
    this.candidateBytes = 0;
  }

  close(): void {
    if (this.fd >= 0) closeQuietly(this.fd);
    this.fd = -1;
    if (this.retiredFd >= 0) closeQuietly(this.retiredFd);
    this.retiredFd = -1;
  }

  // ---- SyncableLog: called by the SyncScheduler -------------------------------------------------

  /** Nothing is buffered: append() writes at once (so a full disk refuses the change before it is applied). */
  flush(): void {}

  collectSyncFds(dataFds: number[]): void {
    this.candidateBytes = this.journalBytes;
    if (this.fd < 0) return;
    this.syncing = true;
    dataFds.push(this.fd);
  }

  onSyncDone(): void {
    this.syncing = false;
    if (this.retiredFd >= 0) closeQuietly(this.retiredFd);
    this.retiredFd = -1;
  }

  roundCompleted(): boolean {
    // policy 'never' collects no syncs: a round covers what was written before it
    this.durableBytes = this.options.sync ? this.candidateBytes : this.journalBytes;
    return this.journalBytes !== this.durableBytes;
  }

  /**
   * A round failed: records past what completed rounds cover may be lost, yet memory holds them. Cut
   * them off (a cut that fails leaves records that replay harmlessly) and refuse changes until repair()
   * has written memory as a new snapshot.
   */
  rollBack(): void {
    this.needsRepair = true;
    this.suspect = true;
    this.candidateBytes = this.durableBytes;
    if (this.fd < 0 || this.journalBytes === this.durableBytes) return;
    try {
      fs.ftruncateSync(this.fd, this.durableBytes);
      this.journalBytes = this.durableBytes;
    } catch {
      // the snapshot written by repair() makes the journal redundant anyway
    }
  }

  /** After rollBack: memory written as a new snapshot (synchronously, on this failure path only). */
  repair(): boolean {
    if (!this.needsRepair) return true;
    if (this.owner === null || this.fd < 0) return false;
    try {
      this.owner.rewriteSnapshot();
      return true;
    } catch {
      return false;
    }
  }
}

interface JournalReplay {
  definitions: Definitions;
  records: number;
  validBytes: number;
  damaged: boolean;
}

/** Whether a whole record with a matching CRC starts at `at`. */
function recordAt(bytes: Buffer, at: number): number {
  if (at + JOURNAL_RECORD_HEADER_BYTES > bytes.length) return -1;
  const length = bytes.readUInt32BE(at);
  if (length === 0 || length > MAX_JOURNAL_RECORD_BYTES || at + JOURNAL_RECORD_HEADER_BYTES + length > bytes.length) return -1;
  const payload = bytes.subarray(at + JOURNAL_RECORD_HEADER_BYTES, at + JOURNAL_RECORD_HEADER_BYTES + length);
  return crc32c(payload) === bytes.readUInt32BE(at + 4) ? length : -1;
}

function replayJournal(journalPath: string, snapshot: Definitions, error: (line: string) => void): JournalReplay {
  let bytes: Buffer;
  try {
    bytes = readFileSync(journalPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { definitions: snapshot, records: 0, validBytes: 0, damaged: false };
    throw err;
  }
  if (bytes.length === 0) return { definitions: snapshot, records: 0, validBytes: 0, damaged: false };
  const index = new DefinitionIndex(snapshot);
  let records = 0;
  let damagedBytes = 0;
  let damagedRuns = 0;
  const damage: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = recordAt(bytes, at);
    if (length < 0) {
      // resynchronise: the next offset where a whole record with a good CRC starts
      let next = at + 1;
      while (next < bytes.length && recordAt(bytes, next) < 0) next++;
      damage.push(bytes.subarray(at, next));
      damagedBytes += next - at;
      damagedRuns++;
      at = next;
      continue;
    }
    const payload = bytes.subarray(at + JOURNAL_RECORD_HEADER_BYTES, at + JOURNAL_RECORD_HEADER_BYTES + length);
    index.apply(JSON.parse(payload.toString('utf8')));
    records++;
    at += JOURNAL_RECORD_HEADER_BYTES + length;
  }
  if (damagedBytes > 0) {
    const side = `${journalPath}${DAMAGED_JOURNAL_SUFFIX}${Date.now()}`;
    writePrivateFile(side, Buffer.concat(damage));
    error(
      `${journalPath}: ${damagedBytes} damaged byte(s) in ${damagedRuns} place(s) skipped (a torn write at a crash, or corruption); ` +
        `${records} record(s) replayed; the damaged bytes are kept in ${side}`,
    );
  }
  return { definitions: index.definitions(), records, validBytes: bytes.length, damaged: damagedBytes > 0 };
}

/** Journal side files of damage found before (left for the operator; never read). */
export function damagedJournalFiles(dataDir: string): string[] {
  return readdirOrEmpty(dataDir).filter((name) => name.startsWith(DEFINITIONS_JOURNAL_FILE + DAMAGED_JOURNAL_SUFFIX));
}
