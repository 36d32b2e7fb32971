/**
 * The two-command user: after `npm ci` in a clone, `./postbox ...` works at once from the repo root (a small
 * script there runs the compiled CLI), and the package's `bin` (what `npm link` / `npm install -g .` put on
 * the PATH) is the same CLI, ready to run. The launcher runs the `node` first on the PATH; here that is the
 * node running the tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';

/** the repository root, from dist/test/wire */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LAUNCHER = join(ROOT, 'postbox');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
/** generous guard so a hung launcher fails the test instead of the run (not a timing assertion) */
const GUARD_MS = 30_000;

function run(command: string, args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: GUARD_MS });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('./postbox from the repository root prints the help and the package version', () => {
  accessSync(LAUNCHER, constants.X_OK);
  const help = run('./postbox', ['--help'], ROOT);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /postbox serve/);
  assert.match(help.stdout, /postbox --version/);
  const version = run('./postbox', ['--version'], ROOT);
  assert.deepEqual(version, { code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
  const serveHelp = run('./postbox', ['serve', '--help'], ROOT);
  assert.equal(serveHelp.code, 0, serveHelp.stderr);
  assert.match(serveHelp.stdout, /--data-dir/);
});

test('the launcher works from any directory, and says what to run when the build is missing', () => {
  const elsewhere = run(LAUNCHER, ['--version'], tmpdir());
  assert.deepEqual(elsewhere, { code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
  // a copy of the launcher in a directory without dist/: one clear line, exit 1
  const bare = spawnSync('sh', ['-c', `d=$(mktemp -d) && cp "${LAUNCHER}" "$d/postbox" && "$d/postbox" --help; code=$?; rm -rf "$d"; exit $code`], {
    encoding: 'utf8',
    timeout: GUARD_MS,
  });
  assert.equal(bare.status, 1);
  assert.match(bare.stderr, /dist\/src\/cli\/main\.js is missing: run 'npm ci' \(or 'npm run build'\)/);
});

test("the package's bin (what npm link and npm install -g put on the PATH) is the built CLI, runnable by itself", () => {
  const bin = join(ROOT, PACKAGE.bin.postbox!);
  assert.match(readFileSync(bin, 'utf8').split('\n')[0]!, /^#!\/usr\/bin\/env node$/);
  const version = run(process.execPath, [bin, '--version'], tmpdir());
  assert.deepEqual(version, { code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
});
