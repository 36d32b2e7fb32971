/**
 * Credentials at rest: files holding password hashes are mode 0600 (a data directory the broker creates,
 * 0700), looser ones are tightened at startup with one warning; RabbitMQ's password hash format is kept, and
 * MD5 hashes (rabbit_password_hashing_md5) are refused on import unless --allow-md5-password-hashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { createLogger } from '../../src/log/logger.js';
import { api, get } from './helpers.js';

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** the files of `dir` that hold password hashes */
function definitionFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.startsWith('definitions.'))
    .map((n) => join(dir, n));
}

/** RabbitMQ's hash format: base64(4-byte salt ‖ H(salt ‖ password)) */
function rabbitHash(password: string, digest: 'md5' | 'sha256' | 'sha512'): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash(digest).update(salt).update(password).digest()]).toString('base64');
}

/** a definitions export as RabbitMQ 3.5 (MD5 hashes) wrote it */
function rabbitExport(users: Array<{ name: string; password: string; digest: 'md5' | 'sha256' | 'sha512' }>): Record<string, unknown> {
  const algorithm = { md5: 'rabbit_password_hashing_md5', sha256: 'rabbit_password_hashing_sha256', sha512: 'rabbit_password_hashing_sha512' };
  return {
    rabbit_version: '3.5.7',
    users: users.map((u) => ({ name: u.name, password_hash: rabbitHash(u.password, u.digest), hashing_algorithm: algorithm[u.digest], tags: 'management' })),
    vhosts: [{ name: '/' }],
    permissions: users.map((u) => ({ user: u.name, vhost: '/', configure: '.*', write: '.*', read: '.*' })),
    parameters: [],
    policies: [],
    queues: [],
    exchanges: [],
    bindings: [],
  };
}

async function logsIn(broker: TestBroker, user: string, password: string): Promise<boolean> {
  try {
    const conn = await amqp.connect(`amqp://${user}:${password}@127.0.0.1:${broker.amqpPort}`);
    await conn.close();
    return true;
  } catch {
    return false;
  }
}

test('a data directory the broker creates is 0700 and its definitions files 0600, after start and after definitions change', async () => {
  const parent = tempDataDir();
  const dataDir = join(parent, 'created-by-broker');
  const broker = await startTestBroker({ dataDir });
  try {
    assert.equal(mode(dataDir), 0o700);
    assert.ok(definitionFiles(dataDir).length >= 1, 'the journal exists from the start');
    for (const f of definitionFiles(dataDir)) assert.equal(mode(f), 0o600, f);
    // a user through the API (a journal record) and an import (a new snapshot, definitions.json)
    assert.equal((await api(broker, 'PUT', '/api/users/alice', { body: { password: 'alice-pw', tags: '' } })).status, 201);
    assert.equal((await api(broker, 'POST', '/api/definitions', { body: rabbitExport([{ name: 'bob', password: 'bob-pw', digest: 'sha512' }]) })).status, 204);
    const files = definitionFiles(dataDir).map((f) => f.slice(dataDir.length + 1));
    assert.ok(files.includes('definitions.json') && files.includes('definitions.journal'), files.join(', '));
    for (const f of definitionFiles(dataDir)) assert.equal(mode(f), 0o600, f);
  } finally {
    await broker.stop();
    rmSync(parent, { recursive: true, force: true });
  }
});

test('definitions files readable by others are set to 0600 at startup, with one warning naming them', async () => {
  const dataDir = tempDataDir();
  const first = await startTestBroker({ dataDir });
  assert.equal((await api(first, 'POST', '/api/definitions', { body: rabbitExport([{ name: 'carol', password: 'carol-pw', digest: 'sha256' }]) })).status, 204);
  await first.stop();
  chmodSync(join(dataDir, 'definitions.json'), 0o644);
  chmodSync(join(dataDir, 'definitions.journal'), 0o664);
  const lines: string[] = [];
  const second = await startTestBroker({ dataDir, logger: createLogger('warn', (l) => lines.push(l)) });
  try {
    assert.equal(mode(join(dataDir, 'definitions.json')), 0o600);
    assert.equal(mode(join(dataDir, 'definitions.journal')), 0o600);
    const warned = lines.filter((l) => l.includes('mode 0600'));
    assert.equal(warned.length, 1, lines.join('\n'));
    assert.match(warned[0]!, /definitions\.json \(was 0644\)/);
    assert.match(warned[0]!, /definitions\.journal \(was 0664\)/);
    assert.ok(await logsIn(second, 'carol', 'carol-pw'), 'the user survived');
  } finally {
    await second.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('an export with an MD5 password hash is refused with 400 naming the user; SHA-256 and SHA-512 hashes import and log in', async () => {
  const broker = await startTestBroker();
  try {
    const refused = await api(broker, 'POST', '/api/definitions', { body: rabbitExport([{ name: 'old-md5-user', password: 'pw1', digest: 'md5' }]) });
    assert.equal(refused.status, 400);
    assert.match(refused.body.reason, /old-md5-user/);
    assert.match(refused.body.reason, /rabbit_password_hashing_md5/);
    assert.match(refused.body.reason, /--allow-md5-password-hashes/);
    assert.equal((await api(broker, 'GET', '/api/users/old-md5-user')).status, 404, 'not created');
    // the same through PUT /api/users with a ready hash
    const put = await api(broker, 'PUT', '/api/users/md5-put', {
      body: { password_hash: rabbitHash('pw', 'md5'), hashing_algorithm: 'rabbit_password_hashing_md5', tags: '' },
    });
    assert.equal(put.status, 400);
    assert.match(put.body.reason, /md5-put/);

    const ok = rabbitExport([
      { name: 'sha256-user', password: 'pw256', digest: 'sha256' },
      { name: 'sha512-user', password: 'pw512', digest: 'sha512' },
    ]);
    assert.equal((await api(broker, 'POST', '/api/definitions', { body: ok })).status, 204);
    assert.ok(await logsIn(broker, 'sha256-user', 'pw256'));
    assert.ok(await logsIn(broker, 'sha512-user', 'pw512'));
    // exported as they were imported: RabbitMQ's field names and algorithm names
    const exported = (await get(broker, '/api/definitions')).users.find((u: any) => u.name === 'sha512-user');
    assert.equal(exported.hashing_algorithm, 'rabbit_password_hashing_sha512');
    assert.equal(exported.password_hash, (ok.users as any[])[1].password_hash);
  } finally {
    await broker.stop();
  }
});

test('with --allow-md5-password-hashes an MD5 user imports and logs in; restarted without it, it is kept and named in a warning', async () => {
  const dataDir = tempDataDir();
  const allowing = await startTestBroker({ dataDir, allowMd5PasswordHashes: true });
  assert.equal(
    (await api(allowing, 'POST', '/api/definitions', { body: rabbitExport([{ name: 'old-md5-user', password: 'pw1', digest: 'md5' }]) })).status,
    204,
  );
  assert.ok(await logsIn(allowing, 'old-md5-user', 'pw1'));
  await allowing.stop();
  const lines: string[] = [];
  const strict = await startTestBroker({ dataDir, logger: createLogger('warn', (l) => lines.push(l)) });
  try {
    assert.ok(await logsIn(strict, 'old-md5-user', 'pw1'), 'a stored user is not dropped');
    assert.equal(lines.filter((l) => /users 'old-md5-user' have MD5 password hashes/.test(l)).length, 1, lines.join('\n'));
    // setting its password again stores SHA-256
    assert.equal((await api(strict, 'PUT', '/api/users/old-md5-user', { body: { password: 'pw2', tags: 'management' } })).status, 204);
    assert.equal((await get(strict, '/api/users/old-md5-user')).hashing_algorithm, 'rabbit_password_hashing_sha256');
  } finally {
    await strict.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
