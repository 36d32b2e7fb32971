/**
 * The file engine's definitions store: a snapshot, `definitions.json`, plus an append-only journal of the
 * changes since, `definitions.journal`, in the data directory. What the definitions mean is the core's
 * (core/definitions.ts); this file stores the documents it is given (meta-store.ts).
 *
 * A change (a queue declared, a binding added …) is one journal record, written at once and fdatasync'ed by
 * the next group-commit round before the change is answered, so a declaration costs O(1) however many
 * definitions exist. When the journal holds more records than the snapshot holds definitions (and at least
 * MIN_RECORDS_BEFORE_SNAPSHOT), the owner writes a new snapshot (write temp, fsync, rename, fsync dir) and
 * the journal is emptied: O(1) amortised.
 *
 * definitions.journal, a sequence of records:
 *
 *   0        4        8
 *   ┌────────┬────────┬───────────────────────────────┐
 *   │ length │ crc32c │ payload: `length` bytes, UTF-8 JSON of one StoredDefinitionChange
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
 * they are. `{"version": 1, "exchanges": [...], "queues": [...], "bindings": [...], "policies": [...],
 * "vhosts": [...], "users": [...], "permissions": [...]}`, indented by one space. Field tables are stored
 * with tagged values (core/definitions.ts) so types that JSON lacks round-trip exactly. `policies` was
 * added within version 1: a file without the key has no policies. So were `vhosts` (vhosts created at run
 * time; config-file vhosts are not listed), `users` and `permissions` (users managed through the
 * management API, with password hashes, never passwords): a file without them has none. Every file of
 * the definitions (snapshot, journal, temp and damaged copies) has mode 0600: password hashes are in it.
 */
import fs, { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { closeQuietly, PRIVATE_FILE_MODE, readdirOrEmpty, setMode, tightenModes, writeFileAtomic, writeFully } from './files.js';
import { UnsupportedFormatError } from './format-error.js';
import type { SyncableLog, SyncScheduler } from './sync.js';
import { DefinitionIndex, definitionCount } from './definition-index.js';
import { emptyStoredDefinitions, type DefinitionStore, type OpenedDefinitions, type StoredDefinitionChange, type StoredDefinitions } from './meta-store.js';

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

/** Reads definitions.json (an empty set when there is none); refuses a newer format version. */
export function loadSnapshot(dataDir: string): StoredDefinitions {
  const path = join(dataDir, DEFINITIONS_FILE);
  if (!existsSync(path)) return emptyStoredDefinitions();
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  if (raw.version !== DEFINITIONS_VERSION) throw new UnsupportedFormatError(path, raw.version, DEFINITIONS_VERSION, 'definitions version');
  return {
    exchanges: raw.exchanges,
    queues: raw.queues,
    bindings: raw.bindings,
    policies: raw.policies ?? [],
    vhosts: raw.vhosts ?? [],
    users: raw.users ?? [],
    permissions: raw.permissions ?? [],
  };
}

/** Writes `defs` as definitions.json (mode 0600): through a synced temp file and rename with `sync`, else a plain rename. */
export function saveSnapshot(dataDir: string, defs: StoredDefinitions, sync = true): void {
  const path = join(dataDir, DEFINITIONS_FILE);
  const text = JSON.stringify(
    {
      version: DEFINITIONS_VERSION,
      exchanges: defs.exchanges,
      queues: defs.queues,
      bindings: defs.bindings,
      policies: defs.policies,
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

/** Journal side files of damage found before (left for the operator; never read). */
export function damagedJournalFiles(dataDir: string): string[] {
  return readdirOrEmpty(dataDir).filter((name) => name.startsWith(DEFINITIONS_JOURNAL_FILE + DAMAGED_JOURNAL_SUFFIX));
}

export interface FileDefinitionStoreOptions {
  readonly dataDir: string;
  /** the group-commit scheduler that syncs the journal (a round covers every record written before requestRound) */
  readonly scheduler: SyncScheduler;
  /** all of memory as documents: written as a new snapshot after a failed round (repair) */
  readonly current: () => StoredDefinitions;
  /** one line for damage found at replay (error level) */
  readonly error: (line: string) => void;
  /** one line for files whose modes were tightened, or for memory rewritten after a failure (warn level) */
  readonly warn: (line: string) => void;
}

/**
 * The snapshot and its journal, open. record() writes changes as journal records (one write, no sync) and
 * returns the group-commit round that makes them durable; the journal is one more log of the engine's
 * SyncScheduler, so the records of every declaration made while a round is in flight share the next
 * round's one fdatasync, and the event loop never waits for it. The owner writes a new snapshot when
 * snapshotDue says so (it builds the definitions from memory).
 *
 * A failed round (the journal's fdatasync, or any other file's in the same round) leaves records memory
 * holds that the disk may lack: rollBack cuts the journal back to what completed rounds cover and repair
 * rewrites the snapshot from memory (retried by the scheduler until the disk takes it); until then record
 * refuses every change, so memory never gets further ahead of the disk.
 */
export class FileDefinitionStore implements DefinitionStore, SyncableLog {
  private fd: number;
  /** bytes of the journal that hold whole, written records */
  private journalBytes: number;
  private journalRecords = 0;
  /** definitions in the snapshot (sets how long the journal may grow) */
  private snapshotCount: number;
  /** a write or sync failed: the journal may hold a record memory does not; the next change rewrites the snapshot */
  private suspect = false;
  private readonly journalPath: string;
  private readonly sync: boolean;
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
    private readonly options: FileDefinitionStoreOptions,
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
    this.sync = options.scheduler.policy === 'always';
  }

  /**
   * Loads the snapshot, replays the journal onto it, and opens the journal for appending. Throws
   * UnsupportedFormatError for a snapshot of a newer version before anything is changed; once read, files
   * with password hashes left readable by others (an older Postbox, a copy made by hand) get mode 0600.
   */
  static open(options: FileDefinitionStoreOptions): OpenedDefinitions & { store: FileDefinitionStore } {
    const snapshot = loadSnapshot(options.dataDir);
    const journalPath = join(options.dataDir, DEFINITIONS_JOURNAL_FILE);
    const replay = replayJournal(journalPath, snapshot, options.error);
    const fd = fs.openSync(journalPath, 'a+', PRIVATE_FILE_MODE);
    const store = new FileDefinitionStore(options, fd, replay.validBytes, replay.records, definitionCount(snapshot));
    if (replay.damaged) store.suspect = true; // folded into a new snapshot by the first change (or the owner, now)
    const tightened = tightenModes(credentialFiles(options.dataDir), PRIVATE_FILE_MODE);
    if (tightened.length > 0) options.warn(`files holding password hashes were readable by other users; set to mode 0600: ${tightened.join(', ')}`);
    return { store, definitions: replay.definitions };
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
  record(changes: readonly StoredDefinitionChange[]): number {
    if (changes.length === 0) return 0;
    if (this.needsRepair) {
      throw Object.assign(new Error('an earlier definitions sync failed and memory is not yet rewritten to disk (retried every second)'), { code: 'EIO' });
    }
    const parts: Buffer[] = [];
    for (const change of changes) {
      const payload = Buffer.from(JSON.stringify(change), 'utf8');
      if (payload.length > MAX_JOURNAL_RECORD_BYTES) throw new RangeError(`definition change of ${payload.length} bytes is too large`);
      const header = Buffer.allocUnsafe(JOURNAL_RECORD_HEADER_BYTES);
      header.writeUInt32BE(payload.length, 0);
      header.writeUInt32BE(crc32c(payload), 4);
      parts.push(header, payload);
    }
    const bytes = Buffer.concat(parts);
    try {
      writeFully(this.fd, bytes, bytes.length, this.journalBytes);
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
    const scheduler = this.options.scheduler;
    scheduler.markUnsynced(this);
    return scheduler.requestRound();
  }

  /**
   * Writes `defs` (all of memory) as the new snapshot, then empties the journal. Throws when the snapshot
   * cannot be written; the journal is then left as it was (still valid).
   */
  writeSnapshot(defs: StoredDefinitions): void {
    saveSnapshot(this.options.dataDir, defs, this.sync);
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

  /** Nothing is buffered: record() writes at once (so a full disk refuses the change before it is applied). */
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
    this.durableBytes = this.sync ? this.candidateBytes : this.journalBytes;
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
    if (this.fd < 0) return false;
    try {
      this.writeSnapshot(this.options.current());
    } catch {
      return false;
    }
    this.options.warn('definitions in memory rewritten to disk as a new snapshot after a failed sync');
    return true;
  }
}

interface JournalReplay {
  definitions: StoredDefinitions;
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

function replayJournal(journalPath: string, snapshot: StoredDefinitions, error: (line: string) => void): JournalReplay {
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
