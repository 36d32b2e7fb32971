/**
 * Running the real non-Node clients the compatibility tests use (Python packages and kcat from Debian):
 * finding them, finding the scripts that drive them, and running those scripts without blocking the event
 * loop (the broker under test runs in this process). A missing tool fails the test with its install hint;
 * nothing is skipped silently.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A script runs a handful of round trips; this only stops a hung one from hanging the suite, ms. */
export const SCRIPT_GUARD_MS = 90_000;

/**
 * `relative` (e.g. test/compat/x.py) under the repository root: the first directory above this file (which
 * is dist/test/helpers once built) that holds it, or the working directory.
 */
export function findRepoFile(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, relative))) return join(dir, relative);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const fromCwd = resolve(process.cwd(), relative);
  if (!existsSync(fromCwd)) throw new Error(`cannot find ${relative} above ${dirname(fileURLToPath(import.meta.url))} or in ${process.cwd()}`);
  return fromCwd;
}

function exitCode(command: string, args: string[]): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', () => resolvePromise(-1));
    child.on('exit', (code) => resolvePromise(code ?? -1));
  });
}

/**
 * The first python3 that can import `module`: $POSTBOX_PYTHON, python3 on PATH, then Debian's
 * /usr/bin/python3 (Debian's python3-* packages install there). Throws with `installHint` when none can.
 */
export async function findPython(module: string, installHint: string): Promise<string> {
  const candidates = [process.env.POSTBOX_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => c !== undefined && c !== '');
  for (const python of candidates) {
    if ((await exitCode(python, ['-c', `import ${module}`])) === 0) return python;
  }
  throw new Error(`this test needs python3 with the '${module}' module: ${installHint} (.ci/run does), or point POSTBOX_PYTHON at a python3 that has it`);
}

/** Throws with the install hint when `command` is not on PATH. */
export async function requireCommand(command: string, versionArg: string, installHint: string): Promise<string> {
  if ((await exitCode(command, [versionArg])) === -1) throw new Error(`this test needs '${command}': ${installHint} (.ci/run does)`);
  return command;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (with an optional stdin), collecting its output. */
export function run(command: string, args: string[], input?: string | Buffer, timeoutMs = SCRIPT_GUARD_MS): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(command, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' }, (err, out, errOut) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolvePromise({ code: status, stdout: out.toString(), stderr: errOut.toString() });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}
