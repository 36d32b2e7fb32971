/**
 * Who may use the management API, and managing vhosts, users and permissions through it: 401 and 403
 * answers, users created over HTTP logging in over AMQP, vhosts created and deleted with what is in them,
 * and managed users and vhosts surviving a restart.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import amqp from 'amqplib';
import type { UserConfig } from '../../src/config/config.js';
import { startTestBroker, tempDataDir, waitFor, type TestBroker } from '../helpers/broker.js';
import type { AmqpError } from '../helpers/amqplib.js';
import { api, get } from './helpers.js';

const GUEST: UserConfig = { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] };
const VIEWER: UserConfig = { name: 'viewer', password: 'viewer-pw', vhosts: ['/'], loopbackOnly: false, tags: ['management'] };
const WATCHER: UserConfig = { name: 'watcher', password: 'watcher-pw', vhosts: ['/'], loopbackOnly: false, tags: ['monitoring'] };
const APP: UserConfig = { name: 'app', password: 'app-pw', vhosts: ['/'], loopbackOnly: false, tags: [] };

describe('management API: authentication, vhosts, users and permissions', () => {
  let broker: TestBroker;
  const dataDir = tempDataDir();

  before(async () => {
    broker = await startTestBroker({ dataDir, users: [GUEST, VIEWER, WATCHER, APP], vhosts: ['/', 'other'] });
  });
  after(async () => {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('no credentials, a wrong password or an unknown user get 401 with a JSON reason and a Basic challenge', async () => {
    for (const auth of [null, ['guest', 'wrong'], ['nobody', 'x']] as const) {
      for (const path of ['/api/overview', '/api/queues', '/api/definitions', '/api/streams/topics']) {
        const r = await api(broker, 'GET', path, { auth });
        assert.equal(r.status, 401, `${path} as ${JSON.stringify(auth)}`);
        assert.equal(r.body.error, 'not_authorised');
        assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      }
    }
  });

  test('a user without a management tag gets 403 everywhere, though it may use AMQP', async () => {
    for (const path of ['/api/overview', '/api/queues', '/api/connections', '/api/whoami']) {
      const r = await api(broker, 'GET', path, { auth: ['app', 'app-pw'] });
      assert.equal(r.status, 403, path);
      assert.equal(r.body.error, 'access_refused');
      assert.match(r.body.reason, /management/);
    }
    const conn = await amqp.connect(`amqp://app:app-pw@127.0.0.1:${broker.amqpPort}`);
    await conn.close();
  });

  test('a management user sees only its vhosts and may not manage users, vhosts, definitions or read nodes', async () => {
    const viewer = ['viewer', 'viewer-pw'] as const;
    assert.deepEqual(
      (await get(broker, '/api/vhosts', viewer)).map((v: any) => v.name),
      ['/'],
    );
    assert.equal((await api(broker, 'GET', '/api/queues/other', { auth: viewer })).status, 403);
    assert.deepEqual(await get(broker, '/api/whoami', viewer), { name: 'viewer', tags: ['management'] });
    for (const [method, path, body] of [
      ['GET', '/api/users', undefined],
      ['GET', '/api/permissions', undefined],
      ['GET', '/api/definitions', undefined],
      ['POST', '/api/definitions', {}],
      ['PUT', '/api/vhosts/v-new', {}],
      ['DELETE', '/api/vhosts/other', undefined],
      ['PUT', '/api/users/someone', { password: 'x', tags: '' }],
      ['GET', '/api/nodes', undefined],
      ['PUT', '/api/streams/topics/t', { partitions: 1 }],
    ] as const) {
      const r = await api(broker, method, path, { auth: viewer, body });
      assert.equal(r.status, 403, `${method} ${path}`);
    }
    assert.equal((await get(broker, '/api/nodes', ['watcher', 'watcher-pw'])).length, 1, 'monitoring reads the node');
  });

  test('the node reports memory, file descriptors, disk and uptime', async () => {
    const [node] = await get(broker, '/api/nodes');
    assert.equal(node.running, true);
    assert.ok(node.mem_used > 0);
    assert.ok(node.mem_limit > 0);
    assert.equal(node.mem_alarm, false);
    assert.ok(node.disk_free > 0);
    assert.equal(node.disk_free_limit, broker.config.diskFreeLimitBytes);
    assert.equal(node.disk_free_alarm, false);
    assert.ok(node.fd_used > 0);
    assert.ok(node.uptime >= 0);
    assert.equal((await get(broker, `/api/nodes/${encodeURIComponent(node.name)}`)).name, node.name);
    assert.equal((await api(broker, 'GET', '/api/nodes/nobody@nowhere')).status, 404);
  });

  test('a user created over HTTP logs in over AMQP once permitted, and is shown with a password hash', async () => {
    assert.equal((await api(broker, 'PUT', '/api/users/bob', { body: { password: 'bob-pw', tags: 'management' } })).status, 201);
    const bob = await get(broker, '/api/users/bob');
    assert.equal(bob.hashing_algorithm, 'rabbit_password_hashing_sha256');
    assert.equal(typeof bob.password_hash, 'string');
    assert.ok(!JSON.stringify(bob).includes('bob-pw'));
    assert.deepEqual(bob.tags, ['management']);
    // no permissions yet: AMQP refuses the vhost
    await assert.rejects(amqp.connect(`amqp://bob:bob-pw@127.0.0.1:${broker.amqpPort}`), /ConnectionClose/);
    assert.equal((await api(broker, 'PUT', '/api/permissions/%2F/bob', { body: { configure: '.*', write: '.*', read: '.*' } })).status, 201);
    assert.deepEqual(await get(broker, '/api/permissions/%2F/bob'), { user: 'bob', vhost: '/', configure: '.*', write: '.*', read: '.*' });
    const conn = await amqp.connect(`amqp://bob:bob-pw@127.0.0.1:${broker.amqpPort}`);
    await conn.close();
    assert.deepEqual(
      (await get(broker, '/api/vhosts', ['bob', 'bob-pw'])).map((v: any) => v.name),
      ['/'],
    );
    await assert.rejects(amqp.connect(`amqp://bob:wrong@127.0.0.1:${broker.amqpPort}`), /ACCESS_REFUSED|403/);
    assert.ok((await get(broker, '/api/users/bob/permissions')).some((p: any) => p.vhost === '/'));
    assert.ok((await get(broker, '/api/users')).some((u: any) => u.name === 'guest' && u.tags.includes('administrator')));
  });

  test('config-file users and vhosts cannot be changed over HTTP (405 with the reason)', async () => {
    const r = await api(broker, 'PUT', '/api/users/guest', { body: { password: 'x', tags: 'administrator' } });
    assert.equal(r.status, 405);
    assert.match(r.body.reason, /config file/);
    assert.equal((await api(broker, 'DELETE', '/api/users/viewer')).status, 405);
    assert.equal((await api(broker, 'PUT', '/api/permissions/other/viewer', { body: { configure: '.*', write: '.*', read: '.*' } })).status, 405);
    assert.equal((await api(broker, 'DELETE', '/api/vhosts/other')).status, 405);
    const perms = await get(broker, '/api/permissions');
    assert.ok(perms.some((p: any) => p.user === 'guest' && p.vhost === 'other' && p.configure === '.*'));
    assert.ok(!perms.some((p: any) => p.user === 'viewer' && p.vhost === 'other'));
  });

  test('bad user and permission bodies are 400 and unknown names 404', async () => {
    assert.equal((await api(broker, 'PUT', '/api/users/carol', { body: { tags: 'x' } })).status, 400, 'a new user needs a password');
    assert.equal((await api(broker, 'PUT', '/api/users/carol', { body: { password: 5 } })).status, 400);
    assert.equal((await api(broker, 'PUT', '/api/users/carol', { body: { password: 'x', tags: 5 } })).status, 400);
    assert.equal((await api(broker, 'GET', '/api/users/carol')).status, 404);
    assert.equal((await api(broker, 'DELETE', '/api/users/carol')).status, 404);
    assert.equal((await api(broker, 'PUT', '/api/permissions/%2F/carol', { body: { configure: '.*', write: '.*', read: '.*' } })).status, 404);
    assert.equal((await api(broker, 'PUT', '/api/permissions/no-vhost/bob', { body: { configure: '.*', write: '.*', read: '.*' } })).status, 404);
    assert.equal((await api(broker, 'PUT', '/api/permissions/%2F/bob', { body: { configure: '.*', write: '.*' } })).status, 400);
    assert.equal((await api(broker, 'PUT', '/api/permissions/%2F/bob', { body: { configure: '(', write: '.*', read: '.*' } })).status, 400);
  });

  test('a vhost created over HTTP is usable over AMQP; deleting it closes its connections and removes its queues', async () => {
    assert.equal((await api(broker, 'PUT', '/api/vhosts/scratch')).status, 201);
    assert.equal((await api(broker, 'PUT', '/api/vhosts/scratch')).status, 204);
    assert.equal((await get(broker, '/api/vhosts/scratch')).name, 'scratch');
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}/scratch`);
    const closed = new Promise<AmqpError | undefined>((resolve) => conn.once('close', resolve));
    conn.on('error', () => undefined);
    const ch = await conn.createChannel();
    await ch.assertQueue('scratch.q', { durable: true });
    ch.sendToQueue('scratch.q', Buffer.from('x'), { persistent: true });
    await ch.checkQueue('scratch.q');
    const v = await get(broker, '/api/vhosts/scratch');
    assert.equal(v.messages, 1);
    assert.equal((await api(broker, 'DELETE', '/api/vhosts/scratch')).status, 204);
    assert.equal((await closed)?.code, 320);
    assert.equal((await api(broker, 'GET', '/api/vhosts/scratch')).status, 404);
    assert.equal((await api(broker, 'GET', '/api/queues/scratch')).status, 404);
    assert.equal((await api(broker, 'DELETE', '/api/vhosts/scratch')).status, 404);
  });

  test('managed users, their permissions and created vhosts survive a restart', async () => {
    await api(broker, 'PUT', '/api/vhosts/kept');
    await api(broker, 'PUT', '/api/users/dave', { body: { password: 'dave-pw', tags: ['management'] } });
    await api(broker, 'PUT', '/api/permissions/kept/dave', { body: { configure: '^dave\\.', write: '.*', read: '.*' } });
    await api(broker, 'PUT', '/api/users/erin', { body: { password: 'erin-pw', tags: '' } });
    assert.equal((await api(broker, 'DELETE', '/api/users/erin')).status, 204);
    await broker.close();
    broker = await startTestBroker({ dataDir, users: [GUEST, VIEWER, WATCHER, APP], vhosts: ['/', 'other'] });
    assert.ok((await get(broker, '/api/vhosts')).some((v: any) => v.name === 'kept'));
    assert.deepEqual(await get(broker, '/api/permissions/kept/dave'), { user: 'dave', vhost: 'kept', configure: '^dave\\.', write: '.*', read: '.*' });
    assert.equal((await api(broker, 'GET', '/api/users/erin')).status, 404);
    const conn = await amqp.connect(`amqp://dave:dave-pw@127.0.0.1:${broker.amqpPort}/kept`);
    await conn.close();
    await waitFor(() => broker.core.clients.size === 0, 10_000, 'the connection to go');
    assert.equal((await api(broker, 'DELETE', '/api/permissions/kept/dave')).status, 204);
    await assert.rejects(amqp.connect(`amqp://dave:dave-pw@127.0.0.1:${broker.amqpPort}/kept`));
  });
});
