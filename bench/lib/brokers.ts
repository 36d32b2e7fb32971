/**
 * Starting and stopping the two brokers under test, and cleaning up after ourselves however we exit.
 *
 * Postbox runs as a child process from the compiled tree (dist/src/cli/main.js) with a temp data directory.
 * RabbitMQ runs as a private node (its own node name, AMQP port, distribution port, mnesia and log dirs in a
 * temp directory, no plugins) so a run never touches, or depends on, the machine's default `rabbit` node.
 * `--rabbitmq-url` points the bench at an existing RabbitMQ instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './common.js';

/** How long a broker may take to start listening, ms. RabbitMQ boots in ~5 s on a quiet machine. */
const BROKER_START_TIMEOUT_MS = 90_000;
/** How long a broker may take to stop before we kill it, ms. */
const BROKER_STOP_TIMEOUT_MS = 15_000;

export interface Broker {
  readonly name: 'postbox' | 'rabbitmq';
  readonly url: string;
  readonly port: number;
  /** Postbox's Kafka listener port (Postbox only) */
  readonly kafkaPort?: number;
  /** the broker's OS process, for RSS/CPU sampling; undefined for an external broker */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

const cleanups = new Set<() => void>();
let exitHooked = false;

/** Registers a synchronous cleanup run on exit, SIGINT, SIGTERM or a crash; returns its deregistration. */
export function onExit(fn: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true;
    const runAll = (): void => {
      for (const f of [...cleanups].reverse()) {
        cleanups.delete(f);
        try {
          f();
        } catch {
          // best effort: keep cleaning up
        }
      }
    };
    process.on('exit', runAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
        runAll();
        process.exit(130);
      });
    }
  }
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Kills a child process if it is still running (SIGKILL: used on the exit path, where we cannot wait). */
export function killChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveAnswer(true);
    });
    socket.once('error', () => resolveAnswer(false));
  });
}

async function waitForPort(port: number, timeoutMs: number, alive: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead !== undefined) throw new Error(dead);
    if (await portAnswers(port)) return;
    await sleep(100);
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs / 1000} s`);
}

/** The repository root: bench/lib/brokers.ts compiles to <outDir>/bench/lib/brokers.js. */
export function compiledRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/**
 * Starts Postbox from the compiled tree next to this file, on a free port with a fresh data dir, and waits
 * until it accepts TCP connections (it logs "ready" at info level; at warn level we poll the port).
 */
export async function startPostbox(logLevel = 'warn'): Promise<Broker> {
  const entry = join(compiledRoot(), 'src', 'cli', 'main.js');
  if (!existsSync(entry)) throw new Error(`Postbox is not built: ${entry} is missing (run npx tsc -p tsconfig.json)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'postbox-bench-'));
  const port = await freePort();
  const kafkaPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      entry,
      'serve',
      '--amqp-port',
      String(port),
      '--http-port',
      '0',
      '--prometheus-port',
      '-1',
      '--kafka-port',
      String(kafkaPort),
      '--data-dir',
      dataDir,
      '--host',
      '127.0.0.1',
      '--log-level',
      logLevel,
    ],
    {
      stdio: ['ignore', 'inherit', 'pipe'],
    },
  );
  let stderrTail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderrTail = (stderrTail + text).slice(-4000);
    if (!text.includes('ready')) process.stderr.write(`[postbox] ${text}`);
  });
  const deregister = onExit(() => {
    killChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    await waitForPort(port, BROKER_START_TIMEOUT_MS, () =>
      child.exitCode !== null || child.signalCode !== null
        ? `Postbox exited (${child.exitCode ?? child.signalCode}) before listening:\n${stderrTail}`
        : undefined,
    );
  } catch (err) {
    killChild(child);
    rmSync(dataDir, { recursive: true, force: true });
    deregister();
    throw err;
  }
  return {
    name: 'postbox',
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    port,
    kafkaPort,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => killChild(child), BROKER_STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
      deregister();
    },
  };
}

/** An already-running RabbitMQ given by URL: nothing to start or stop. */
export function externalRabbitmq(url: string): Broker {
  const port = Number(new URL(url).port || '5672');
  return { name: 'rabbitmq', url, port, pid: undefined, async stop() {} };
}

function rabbitmqctl(nodeName: string, env: NodeJS.ProcessEnv, ...args: string[]): { ok: boolean; output: string } {
  const r = spawnSync('rabbitmqctl', ['-n', nodeName, ...args], { env, encoding: 'utf8', timeout: BROKER_STOP_TIMEOUT_MS });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/**
 * Starts a private RabbitMQ node (`rabbitmq-server -detached` with its own name, ports and directories).
 * Must run as root or as the rabbitmq user (the Debian wrapper switches to the rabbitmq user).
 */
export async function startRabbitmq(): Promise<Broker> {
  const which = spawnSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' });
  if (which.status !== 0) throw new Error('rabbitmq-server is not installed (Debian: apt-get install rabbitmq-server), or pass --rabbitmq-url');
  const baseDir = mkdtempSync(join(tmpdir(), 'rabbitmq-bench-'));
  const owner = spawnSync('id', ['-u', 'rabbitmq'], { encoding: 'utf8' });
  if (process.getuid?.() === 0 && owner.status === 0) {
    // the Debian wrapper runs the node as the rabbitmq user, which must be able to write here
    chownSync(baseDir, Number(owner.stdout.trim()), -1);
  }
  const port = await freePort();
  let distPort = await freePort();
  while (distPort === port) distPort = await freePort();
  const nodeName = `pbxbench${process.pid}@localhost`;
  const pidFile = join(baseDir, 'rabbitmq.pid');
  const pluginsFile = join(baseDir, 'enabled_plugins');
  writeFileSync(pluginsFile, '[].\n');
  if (process.getuid?.() === 0 && owner.status === 0) chownSync(pluginsFile, Number(owner.stdout.trim()), -1);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(baseDir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(baseDir, 'log'),
    RABBITMQ_PID_FILE: pidFile,
    RABBITMQ_ENABLED_PLUGINS_FILE: pluginsFile,
  };
  const stopNode = (): void => {
    const r = rabbitmqctl(nodeName, env, 'stop');
    if (!r.ok && existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(baseDir, { recursive: true, force: true });
  };
  const deregister = onExit(stopNode);
  const started = spawnSync('rabbitmq-server', ['-detached'], { env, cwd: baseDir, encoding: 'utf8', timeout: 30_000 });
  const logHint = (): string => {
    const logDir = join(baseDir, 'log');
    const r = spawnSync('sh', ['-c', `tail -n 30 ${logDir}/*.log 2>/dev/null`], { encoding: 'utf8' });
    return r.stdout ? `\nlast log lines:\n${r.stdout}` : '';
  };
  if (started.status !== 0) {
    const why = `${started.stdout ?? ''}${started.stderr ?? ''}${started.error ? String(started.error) : ''}${logHint()}`;
    stopNode();
    deregister();
    throw new Error(
      `could not start RabbitMQ (rabbitmq-server -detached exited ${started.status}; run as root or the rabbitmq user, or pass --rabbitmq-url):\n${why}`,
    );
  }
  try {
    await waitForPort(port, BROKER_START_TIMEOUT_MS, () => undefined);
  } catch (err) {
    const why = (err as Error).message + logHint();
    stopNode();
    deregister();
    throw new Error(`RabbitMQ node ${nodeName} did not start listening on ${port}: ${why}`);
  }
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined;
  return {
    name: 'rabbitmq',
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    port,
    pid,
    async stop() {
      stopNode();
      deregister();
    },
  };
}
