/**
 * Postbox through pika, the Python client (Debian's python3-pika 1.2; .ci/run installs it). The Python side
 * is test/compat/pika_smoke.py; this test starts a broker, runs the script against it and checks its output.
 * A missing python3 or pika fails the test with the install hint: it is never skipped silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestBroker } from '../helpers/broker.js';

/** The script runs a handful of round trips; this only stops a hung script from hanging the suite, ms. */
const SCRIPT_GUARD_MS = 60_000;
const SCRIPT = join('test', 'compat', 'pika_smoke.py');

/**
 * The repository root: the first directory above this file (dist/test/compat when built with the project's
 * tsconfig) or the working directory that holds the script.
 */
function findScript(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, SCRIPT))) return join(dir, SCRIPT);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const fromCwd = resolve(process.cwd(), SCRIPT);
  return existsSync(fromCwd) ? fromCwd : undefined;
}

/** exit status of `python -c code`, without blocking the event loop (the broker runs in this process) */
function pythonExitCode(python: string, code: string): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(python, ['-c', code], { stdio: 'ignore' });
    child.once('error', () => resolvePromise(-1));
    child.once('exit', (status) => resolvePromise(status ?? -1));
  });
}

/** the first python3 that can import pika: $POSTBOX_PYTHON, python3 on PATH, then Debian's /usr/bin/python3 */
async function findPythonWithPika(): Promise<string | undefined> {
  const candidates = [process.env.POSTBOX_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => c !== undefined && c !== '');
  for (const python of candidates) {
    if ((await pythonExitCode(python, 'import pika')) === 0) return python;
  }
  return undefined;
}

test('pika BlockingConnection declares, publishes with confirms, gets, consumes, binds and closes', async () => {
  const script = findScript();
  assert.ok(script !== undefined, `cannot find ${SCRIPT} above ${dirname(fileURLToPath(import.meta.url))} or in ${process.cwd()}`);
  const python = await findPythonWithPika();
  assert.ok(
    python !== undefined,
    'the pika compatibility test needs python3 with pika 1.x: install it with `apt-get install python3-pika` ' +
      '(.ci/run does), or point POSTBOX_PYTHON at a python3 that has pika',
  );
  const broker = await startTestBroker();
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise) => {
      execFile(python, [script, String(broker.amqpPort)], { timeout: SCRIPT_GUARD_MS }, (err, out, errOut) => {
        const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolvePromise({ code: status, stdout: out, stderr: errOut });
      });
    });
    assert.equal(code, 0, `pika_smoke.py failed (exit ${String(code)}):\n${stdout}\n${stderr}`);
    assert.deepEqual(stdout.trim().split('\n'), [
      'connected',
      'declared pika-smoke',
      'confirmed',
      'got hello pika',
      'empty',
      'consumed consume me',
      'routed routed',
      'returned unroutable',
      'closed',
    ]);
  } finally {
    await broker.stop();
  }
});
