/** Run the real `postbox serve` as a child process (for signal, crash and kill -9 tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** dist/src/cli/main.js, from dist/test/helpers/process.js */
export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** `postbox serve`'s arguments for a test broker: `dataDir`, loopback only, every listener on an ephemeral port, no Prometheus port. */
export function serveArgs(dataDir: string): string[] {
  return ['--data-dir', dataDir, '--host', '127.0.0.1', '--amqp-port', '0', '--http-port', '0', '--kafka-port', '0', '--prometheus-port', '-1'];
}

export interface BrokerProcess {
  readonly child: ChildProcess;
  readonly amqpPort: number;
  readonly httpPort: number;
  readonly kafkaPort: number;
  /** everything the process wrote to stderr so far */
  output(): string;
  /** resolves with the exit code (or signal name) */
  readonly exited: Promise<number | string>;
}

/** How `postbox serve` ended when it was expected not to start. */
export interface RefusedStart {
  /** exit code (or signal name) */
  readonly code: number | string;
  /** stdout and stderr together */
  readonly output: string;
  /** it printed "ready" (so it did start; it was stopped with SIGTERM) */
  readonly started: boolean;
}

/**
 * Run `postbox serve` expecting it to refuse to start: resolves once it exits. If it gets ready instead it
 * is stopped (SIGTERM, then SIGKILL) and `started` is true, so the test fails on an assertion, not a hang.
 */
export async function runRefusedBroker(args: string[], timeoutMs = 20_000): Promise<RefusedStart> {
  const child = spawn(process.execPath, [CLI_PATH, 'serve', '--prometheus-port', '-1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let started = false;
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const onData = (chunk: Buffer): void => {
    out += chunk.toString();
    if (!started && / ready: /.test(out)) {
      started = true;
      child.kill('SIGTERM');
    }
  };
  child.stderr!.on('data', onData);
  child.stdout!.on('data', onData);
  const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(guard);
  return { code, output: out, started };
}

/** `nodeArgs`: options for node itself, before the CLI (e.g. an --import preload) */
export async function spawnBroker(dataDir: string, extraArgs: string[] = [], timeoutMs = 20_000, nodeArgs: string[] = []): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, CLI_PATH, 'serve', ...serveArgs(dataDir), ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const [port, httpPort, kafkaPort] = await new Promise<[number, number, number]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not get ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /ready: amqp on 127\.0\.0\.1:(\d+); http on port (\d+); kafka on port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve([Number(m[1]), Number(m[2]), Number(m[3])]);
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (${code}) before ready:\n${out}`));
    });
  });
  return { child, amqpPort: port, httpPort, kafkaPort, output: () => out, exited };
}
