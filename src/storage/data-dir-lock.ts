/**
 * The data directory's exclusive lock: one broker per directory, taken before anything in it is read or
 * written (Kafka's `.lock`, RabbitMQ's node lock). Two brokers on one directory would each recover, append
 * to and compact the same files, and delete each other's confirmed messages.
 *
 * How (Linux): the lock is an abstract-namespace Unix socket named after the directory's device and inode,
 * `\0postbox-lock-<dev>-<ino>`. Node has no flock(); binding that name is what stands in for it:
 *   - bind is atomic in the kernel: of two brokers starting at once exactly one gets EADDRINUSE;
 *   - the kernel frees the name when the holder dies, however it dies (kill -9, OOM killer, power cut), so
 *     there is no stale lock to detect, and no window in which two brokers both decide a lock is stale and
 *     both take it (the race every PID-file lock has);
 *   - nothing is left on disk, and the name does not depend on the path the directory is reached by
 *     (symlinks, relative paths, bind mounts all give the same device and inode).
 * The holder answers a connection on that socket with its PID, so a refused broker names the holder
 * reliably. `<data-dir>/.lock` holds the same PID, for people and scripts; it is written once the broker
 * has decided to start (writePidFile(), after its ports are bound, so a broker that gives up leaves the
 * directory as it found it), removed by a clean stop, and means nothing by itself (a `.lock` left by a
 * killed broker is ignored).
 *
 * Limits: abstract socket names are per network namespace, so two containers with their own network
 * namespaces sharing one volume do not see each other's lock (give each broker its own directory). And any
 * local user can bind a name, so one who can stat the directory can keep the broker from starting (as one
 * who can open Kafka's `.lock` can flock it): the lock is against mistakes; neither costs data.
 * docs/operations.md#the-data-directory
 *
 * Elsewhere (no abstract sockets: macOS, the BSDs, Windows) the lock is the `.lock` file itself, created
 * exclusively (O_EXCL) with the holder's PID. One naming a process that no longer exists is stale and is
 * replaced; two brokers starting at the same moment over a stale file can race there.
 */
import { createConnection, createServer } from 'node:net';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StartupError } from '../util/startup-error.js';
import { PRIVATE_DIRECTORY_MODE, unlinkIfExists, writeFully } from './files.js';

/** The file beside the data that names the holder's PID. */
export const LOCK_FILE_NAME = '.lock';

/** How long a refused broker waits for the holder to tell its PID, ms (a guard; it answers at once). */
const HOLDER_QUERY_TIMEOUT_MS = 2000;

/** The data directory is held by another broker. */
export class DataDirLockedError extends StartupError {
  constructor(
    readonly dir: string,
    readonly holderPid: number | null,
  ) {
    super(
      `data directory ${dir} is in use by another Postbox broker (${holderPid === null ? 'pid unknown' : `pid ${holderPid}`}); stop it or give this one another --data-dir`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  /** the directory, as an absolute path */
  readonly dir: string;
  /** write `.lock` with this process's PID (for people and scripts; the lock itself is already held) */
  writePidFile(): void;
  /** let the next broker have the directory (a clean stop calls it last, after every file is closed) */
  release(): Promise<void>;
}

/** Lock `dir` (created when missing, and only then), or throw DataDirLockedError touching nothing. */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const absolute = resolve(dir);
  try {
    const existed = existsSync(absolute);
    makeDirectory(absolute);
    // a directory we create holds password hashes (definitions): its owner's alone. One that exists keeps
    // the mode its operator gave it (a shared volume, say); the files with credentials are 0600 anyway.
    if (!existed && process.platform !== 'win32') chmodSync(absolute, PRIVATE_DIRECTORY_MODE);
  } catch (err) {
    throw new StartupError(`cannot use data directory ${absolute} (--data-dir): ${(err as Error).message}`);
  }
  return process.platform === 'linux' ? lockWithAbstractSocket(absolute) : lockWithPidFile(absolute);
}

/**
 * mkdir -p, one level at a time. Not mkdirSync's `recursive`: on a path where mkdir fails with ENOENT
 * although the parent exists (under /proc, say) Node's recursive mkdir loops forever.
 */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a directory`);
      return;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
  }
  makeDirectory(dirname(dir));
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw err;
  }
}

function parsePid(text: string): number | null {
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function readPidFile(file: string): number | null {
  try {
    return parsePid(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

async function lockWithAbstractSocket(dir: string): Promise<DataDirLock> {
  const stat = statSync(dir, { bigint: true });
  const name = `\0postbox-lock-${stat.dev}-${stat.ino}`;
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${process.pid}\n`);
  });
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen({ path: name }, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const holder = (await askHolder(name)) ?? readPidFile(join(dir, LOCK_FILE_NAME));
    throw new DataDirLockedError(dir, holder);
  }
  server.on('error', () => {});
  // the lock must not keep a process alive by itself (startBroker() users close the broker, not the lock)
  server.unref();
  const file = join(dir, LOCK_FILE_NAME);
  let released: Promise<void> | null = null;
  return {
    dir,
    writePidFile() {
      writeFileSync(file, `${process.pid}\n`);
    },
    release() {
      released ??= (async () => {
        // removed while the socket still holds the directory, so this never deletes a successor's file
        if (readPidFile(file) === process.pid) unlinkIfExists(file);
        await new Promise<void>((r) => server.close(() => r()));
      })();
      return released;
    },
  };
}

/** The PID the holder of `name` answers with, or null when it does not answer (in time). */
function askHolder(name: string): Promise<number | null> {
  return new Promise((resolveAsk) => {
    let text = '';
    const socket = createConnection({ path: name });
    const done = (pid: number | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolveAsk(pid);
    };
    const timer = setTimeout(() => done(null), HOLDER_QUERY_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => done(parsePid(text)));
    socket.on('error', () => done(null));
  });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function lockWithPidFile(dir: string): Promise<DataDirLock> {
  const file = join(dir, LOCK_FILE_NAME);
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readPidFile(file);
      if (attempt > 0 || (holder !== null && holder !== process.pid && processExists(holder)) || holder === process.pid) {
        throw new DataDirLockedError(dir, holder);
      }
      unlinkIfExists(file);
      continue;
    }
    try {
      const text = Buffer.from(`${process.pid}\n`);
      writeFully(fd, text, text.length, null);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      dir,
      writePidFile() {
        // written when the lock was taken: the file is the lock here
      },
      async release() {
        if (released) return;
        released = true;
        if (readPidFile(file) === process.pid) unlinkIfExists(file);
      },
    };
  }
}
