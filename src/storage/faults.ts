/**
 * TEST-ONLY storage fault injection. Off by default and costs one null check per write or sync when off.
 *
 * The storage engine's data writes (files.ts writeFully: segment, ack, partition and offsets logs) and the
 * group-commit syncs (sync.ts) go through writeAt() / dataSync() / directorySync() below. When an injector
 * is installed they fail at the chosen or random points instead of reaching the disk:
 *
 *   enospc   write() fails with ENOSPC, nothing written
 *   eio      write() fails with EIO, nothing written
 *   torn     write() writes a random prefix of its bytes, then fails with ENOSPC (a disk filling mid-write)
 *   short    write() writes a random prefix and returns its length (a legal short write; the caller loops)
 *   fsync    fdatasync()/fsync() report EIO without syncing (the kernel may have dropped the dirty pages)
 *   emfile   open() of a storage file (through the FdCache) fails with EMFILE (the process is out of
 *            descriptors: the cache's own retries after freeing some of its descriptors fail too)
 *   openeio  open() of a storage file fails with EIO
 *
 * It is installed by the `serve` command when the environment variable POSTBOX_FAULTS is set (test/helpers
 * spawn brokers with it), or by tests calling installFaults(). Never set POSTBOX_FAULTS in production.
 *
 * POSTBOX_FAULTS is a comma-separated list of key=value:
 *   seed=N                 PRNG seed (default 1): the same seed fails the same operations of the same run
 *   enospc=P eio=P torn=P short=P fsync=P
 *                          probability per write (per sync for fsync), 0..1
 *   after=BYTES            no fault before this many bytes were written through writeAt() (default 0)
 *   every=N                instead of probabilities: every Nth write fails with the first kind named
 *                          (enospc, eio or torn) set to a non-zero value
 *   quota=BYTES            a simulated full disk: once BYTES were written in all, every write fails with
 *                          ENOSPC, except while the file named by free-file= exists (space freed)
 *   free-file=PATH         see quota
 *   hold-file=PATH         while the file PATH exists, every group-commit sync (dataSync/directorySync) waits:
 *                          it is issued once the file is gone (polled every HOLD_POLL_MS), so a test can keep
 *                          a round in flight for as long as it likes (an fsync that hangs), without timing
 *   fail-file=PATH         while the file PATH exists, every sync fails with EIO (a held one: when it is issued)
 *   emfile=P openeio=P     probability per open through the FdCache (open-match / open-while narrow it)
 *   open-match=TEXT        only opens of paths containing TEXT fail (e.g. `.ack` for ack files)
 *   open-while=PATH        opens fail only while the file PATH exists (a switch a test flips)
 */
import fs from 'node:fs';
import { seededRandom } from '../util/seeded-random.js';

export type FaultKind = 'enospc' | 'eio' | 'torn' | 'short' | 'fsync' | 'emfile' | 'openeio';

export interface FaultPlan {
  seed: number;
  enospc: number;
  eio: number;
  torn: number;
  short: number;
  fsync: number;
  afterBytes: number;
  every: number;
  quotaBytes: number;
  freeFile: string;
  holdFile: string;
  failFile: string;
  emfile: number;
  openeio: number;
  openMatch: string;
  openWhile: string;
}

/** How often a held sync (hold-file) checks whether its file is gone, ms. */
export const HOLD_POLL_MS = 10;

/** Counts of injected faults, by kind (tests print them). */
export interface FaultCounts {
  writes: number;
  syncs: number;
  enospc: number;
  eio: number;
  torn: number;
  short: number;
  fsync: number;
  opens: number;
  emfile: number;
  openeio: number;
}

export function parseFaultPlan(text: string): FaultPlan {
  const plan: FaultPlan = {
    seed: 1,
    enospc: 0,
    eio: 0,
    torn: 0,
    short: 0,
    fsync: 0,
    afterBytes: 0,
    every: 0,
    quotaBytes: 0,
    freeFile: '',
    holdFile: '',
    failFile: '',
    emfile: 0,
    openeio: 0,
    openMatch: '',
    openWhile: '',
  };
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const key = eq < 0 ? trimmed : trimmed.slice(0, eq);
    const value = eq < 0 ? '1' : trimmed.slice(eq + 1);
    if (key === 'free-file' || key === 'hold-file' || key === 'fail-file' || key === 'open-match' || key === 'open-while') {
      if (key === 'free-file') plan.freeFile = value;
      else if (key === 'hold-file') plan.holdFile = value;
      else if (key === 'fail-file') plan.failFile = value;
      else if (key === 'open-match') plan.openMatch = value;
      else plan.openWhile = value;
      continue;
    }
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`POSTBOX_FAULTS: ${key}=${value} is not a non-negative number`);
    switch (key) {
      case 'seed':
        plan.seed = n >>> 0;
        break;
      case 'enospc':
      case 'eio':
      case 'torn':
      case 'short':
      case 'fsync':
      case 'emfile':
      case 'openeio':
        if (n > 1) throw new Error(`POSTBOX_FAULTS: ${key}=${value} is a probability (0..1)`);
        plan[key] = n;
        break;
      case 'after':
        plan.afterBytes = n;
        break;
      case 'every':
        plan.every = Math.floor(n);
        break;
      case 'quota':
        plan.quotaBytes = n;
        break;
      default:
        throw new Error(
          `POSTBOX_FAULTS: unknown key '${key}' (seed, enospc, eio, torn, short, fsync, after, every, quota, free-file, hold-file, fail-file, emfile, openeio, open-match, open-while)`,
        );
    }
  }
  return plan;
}

const ERRNO = { ENOSPC: [-28, 'no space left on device'], EIO: [-5, 'i/o error'], EMFILE: [-24, 'too many open files'] } as const;

function errnoError(code: 'ENOSPC' | 'EIO' | 'EMFILE', syscall: string): NodeJS.ErrnoException {
  const [errno, text] = ERRNO[code];
  const error: NodeJS.ErrnoException = new Error(`${code}: ${text} (injected by POSTBOX_FAULTS), ${syscall}`);
  error.code = code;
  error.errno = errno;
  error.syscall = syscall;
  return error;
}

export class FaultInjector {
  readonly counts: FaultCounts = { writes: 0, syncs: 0, enospc: 0, eio: 0, torn: 0, short: 0, fsync: 0, opens: 0, emfile: 0, openeio: 0 };
  private readonly random: () => number;
  private bytes = 0;
  private quotaUsed = 0;

  constructor(readonly plan: FaultPlan) {
    this.random = seededRandom(plan.seed);
  }

  /** which fault (if any) the next write of `length` bytes gets */
  private writeFault(length: number): FaultKind | null {
    const plan = this.plan;
    this.counts.writes++;
    if (plan.quotaBytes > 0 && this.quotaUsed + length > plan.quotaBytes) {
      if (plan.freeFile === '' || !fs.existsSync(plan.freeFile)) return 'enospc';
    } else {
      this.quotaUsed += length;
    }
    if (this.bytes < plan.afterBytes) return null;
    if (plan.every > 0) {
      if (this.counts.writes % plan.every !== 0) return null;
      return plan.enospc > 0 ? 'enospc' : plan.eio > 0 ? 'eio' : 'torn';
    }
    let r = this.random();
    if ((r -= plan.enospc) < 0) return 'enospc';
    if ((r -= plan.eio) < 0) return 'eio';
    if ((r -= plan.torn) < 0) return 'torn';
    if ((r -= plan.short) < 0) return 'short';
    return null;
  }

  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number {
    const fault = length > 0 ? this.writeFault(length) : null;
    if (fault === null) {
      const n = fs.writeSync(fd, buffer, offset, length, position);
      this.bytes += n;
      return n;
    }
    this.counts[fault]++;
    if (fault === 'enospc') throw errnoError('ENOSPC', 'write');
    if (fault === 'eio') throw errnoError('EIO', 'write');
    const prefix = length > 1 ? 1 + Math.floor(this.random() * (length - 1)) : 0;
    const n = prefix > 0 ? fs.writeSync(fd, buffer, offset, prefix, position) : 0;
    this.bytes += n;
    if (fault === 'short' && n > 0) return n;
    throw errnoError('ENOSPC', 'write');
  }

  /** held syncs (hold-file), issued in order once the file is gone */
  private held: Array<() => void> = [];
  private holdTimer: NodeJS.Timeout | null = null;

  /** true: `issue` was kept, to run once the hold file is gone (see hold-file) */
  holds(issue: () => void): boolean {
    const file = this.plan.holdFile;
    if (file === '' || !fs.existsSync(file)) return false;
    this.held.push(issue);
    if (this.holdTimer === null) this.holdTimer = setInterval(() => this.releaseHeld(), HOLD_POLL_MS);
    return true;
  }

  private releaseHeld(): void {
    if (fs.existsSync(this.plan.holdFile)) return;
    if (this.holdTimer !== null) clearInterval(this.holdTimer);
    this.holdTimer = null;
    const held = this.held;
    this.held = [];
    for (const issue of held) issue();
  }

  /** fs.openSync, or an injected EMFILE/EIO for a path open-match and open-while select */
  open(path: string, flags: string): number {
    const plan = this.plan;
    this.counts.opens++;
    if ((plan.emfile > 0 || plan.openeio > 0) && path.includes(plan.openMatch) && (plan.openWhile === '' || fs.existsSync(plan.openWhile))) {
      let r = this.random();
      if ((r -= plan.emfile) < 0) {
        this.counts.emfile++;
        throw errnoError('EMFILE', 'open');
      }
      if ((r -= plan.openeio) < 0) {
        this.counts.openeio++;
        throw errnoError('EIO', 'open');
      }
    }
    return fs.openSync(path, flags);
  }

  /** true: this sync fails with EIO (and is not performed) */
  syncFails(): boolean {
    this.counts.syncs++;
    if (this.plan.failFile !== '' && fs.existsSync(this.plan.failFile)) {
      this.counts.fsync++;
      return true;
    }
    if (this.plan.fsync === 0 || this.bytes < this.plan.afterBytes) return false;
    if (this.random() >= this.plan.fsync) return false;
    this.counts.fsync++;
    return true;
  }
}

/** The installed injector; null (the default) in every real deployment. Process-wide by design: test-only. */
let injector: FaultInjector | null = null;

/** Installs an injector for `plan` (tests), or removes it (null). Returns the injector. */
export function installFaults(plan: FaultPlan | null): FaultInjector | null {
  injector = plan === null ? null : new FaultInjector(plan);
  return injector;
}

/** Installs an injector from POSTBOX_FAULTS when it is set and not empty; returns it (null: none). */
export function installFaultsFromEnv(env: Readonly<Record<string, string | undefined>>): FaultInjector | null {
  const text = env.POSTBOX_FAULTS;
  if (text === undefined || text.trim() === '') return null;
  return installFaults(parseFaultPlan(text));
}

export function faultInjector(): FaultInjector | null {
  return injector;
}

/** fs.writeSync, through the injector when one is installed. */
export function writeAt(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number {
  if (injector === null) return fs.writeSync(fd, buffer, offset, length, position);
  return injector.write(fd, buffer, offset, length, position);
}

/** fs.openSync (a storage file, by the FdCache), through the injector when one is installed. */
export function openFile(path: string, flags: string): number {
  if (injector === null) return fs.openSync(path, flags);
  return injector.open(path, flags);
}

/** fs.fdatasync, through the injector when one is installed. */
export function dataSync(fd: number, callback: (error: NodeJS.ErrnoException | null) => void): void {
  if (injector !== null && injector.holds(() => dataSync(fd, callback))) return;
  if (injector === null || !injector.syncFails()) fs.fdatasync(fd, callback);
  else setImmediate(callback, errnoError('EIO', 'fdatasync'));
}

/** fs.fsync (directories), through the injector when one is installed. */
export function directorySync(fd: number, callback: (error: NodeJS.ErrnoException | null) => void): void {
  if (injector !== null && injector.holds(() => directorySync(fd, callback))) return;
  if (injector === null || !injector.syncFails()) fs.fsync(fd, callback);
  else setImmediate(callback, errnoError('EIO', 'fsync'));
}

/** fs.fdatasyncSync (the FdCache syncing a file before closing its descriptor), through the injector when one is installed. */
export function dataSyncNow(fd: number): void {
  if (injector !== null && injector.syncFails()) throw errnoError('EIO', 'fdatasync');
  fs.fdatasyncSync(fd);
}

/** fs.fsyncSync (a directory, before the FdCache closes its descriptor), through the injector when one is installed. */
export function directorySyncNow(fd: number): void {
  if (injector !== null && injector.syncFails()) throw errnoError('EIO', 'fsync');
  fs.fsyncSync(fd);
}
