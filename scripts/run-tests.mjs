#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner. Listing the files here keeps
// the behaviour the same on Node 20, 22 and 24 (their directory/glob handling differs).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
// path substrings: a file runs when its path contains one of them (argv, or POSTBOX_TEST_FILTER separated by
// spaces when there are no arguments: .ci/run passes filters that way, through `npm test`)
const filter = process.argv.length > 2 ? process.argv.slice(2) : (process.env.POSTBOX_TEST_FILTER ?? '').split(/\s+/).filter((x) => x !== '');

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let files = walk(dist, []).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((x) => relative(root, f).includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/ (did the build run?)');
  process.exit(1);
}
// a test that hangs fails after this long instead of holding the whole run until CI's limit
const TEST_TIMEOUT_MS = 240_000;
// test files run at once: node's default (CPUs - 1, at least 1) unless POSTBOX_TEST_CONCURRENCY says
const concurrency = process.env.POSTBOX_TEST_CONCURRENCY;
if (concurrency !== undefined && !/^[1-9][0-9]*$/.test(concurrency)) {
  console.error(`POSTBOX_TEST_CONCURRENCY must be a positive integer, got '${concurrency}'`);
  process.exit(1);
}
const args = [
  '--test',
  '--test-reporter=spec',
  `--test-timeout=${TEST_TIMEOUT_MS}`,
  ...(concurrency !== undefined ? [`--test-concurrency=${concurrency}`] : []),
  ...files,
];
console.error(`node ${process.version}: ${files.length} test file(s)${concurrency !== undefined ? `, ${concurrency} at a time` : ''}`);
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
