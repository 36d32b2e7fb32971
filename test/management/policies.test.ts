import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import type { UserConfig } from '../../src/config/config.js';
import type { QueueSettings } from '../../src/core/queue/settings.js';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { CLI_PATH } from '../helpers/process.js';

const run = promisify(execFile);

const GUEST: UserConfig = { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] };
const VIEWER: UserConfig = { name: 'viewer', password: 'viewer-pw', vhosts: ['/'], loopbackOnly: false, tags: ['management'] };

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

interface Call {
  body?: unknown;
  /** raw request body text (sent as is) */
  raw?: string;
  /** [user, password]; null sends no Authorization header */
  auth?: [string, string] | null;
}

async function api(broker: TestBroker, method: string, path: string, call: Call = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  const auth = call.auth === undefined ? ['guest', 'guest'] : call.auth;
  if (auth !== null) headers.Authorization = 'Basic ' + Buffer.from(auth.join(':')).toString('base64');
  let body: string | undefined = call.raw;
  if (call.body !== undefined) body = JSON.stringify(call.body);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(broker.httpUrl + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text.length > 0 ? JSON.parse(text) : undefined };
}

function putPolicy(broker: TestBroker, name: string, policy: Record<string, unknown>, vhost = '/'): Promise<Reply> {
  return api(broker, 'PUT', `/api/policies/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`, { body: policy });
}

function deletePolicy(broker: TestBroker, name: string, vhost = '/'): Promise<Reply> {
  return api(broker, 'DELETE', `/api/policies/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`);
}

async function declareQueues(broker: TestBroker, queues: Record<string, Record<string, unknown>>, durable = false): Promise<void> {
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    for (const [name, args] of Object.entries(queues)) await ch.assertQueue(name, { durable, arguments: args });
  } finally {
    await conn.close();
  }
}

function settings(broker: TestBroker, queue: string, vhost = '/'): QueueSettings {
  const q = broker.core.vhosts.get(vhost)!.queues.get(queue);
  assert.ok(q, `queue '${queue}' exists`);
  return q.settings;
}

describe('management API: policies', () => {
  let broker: TestBroker;

  before(async () => {
    broker = await startTestBroker({ users: [GUEST, VIEWER], vhosts: ['/', 'other'] });
  });
  after(async () => {
    await broker.stop();
  });

  test('a policy set over HTTP is created (201), updated (204), listed, read back and cleared (204)', async () => {
    const first = await putPolicy(broker, 'crud', { pattern: '^crud\\.', definition: { 'max-length': 5 }, priority: 2, 'apply-to': 'queues' });
    assert.equal(first.status, 201);
    const second = await putPolicy(broker, 'crud', { pattern: '^crud\\.', definition: { 'max-length': 7 }, priority: 3, 'apply-to': 'queues' });
    assert.equal(second.status, 204);
    const expected = { vhost: '/', name: 'crud', pattern: '^crud\\.', 'apply-to': 'queues', definition: { 'max-length': 7 }, priority: 3 };
    assert.deepEqual((await api(broker, 'GET', '/api/policies/%2F/crud')).body, expected);
    assert.ok((await api(broker, 'GET', '/api/policies')).body.some((p: any) => p.name === 'crud' && p.vhost === '/'));
    assert.deepEqual(
      (await api(broker, 'GET', '/api/policies/%2F')).body.filter((p: any) => p.name === 'crud'),
      [expected],
    );
    assert.deepEqual((await api(broker, 'GET', '/api/policies/other')).body, []);
    assert.equal((await deletePolicy(broker, 'crud')).status, 204);
    const gone = await api(broker, 'GET', '/api/policies/%2F/crud');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error, 'not_found');
    const again = await deletePolicy(broker, 'crud');
    assert.equal(again.status, 404);
    assert.match(again.body.reason, /no policy 'crud'/);
  });

  test('a policy left out of apply-to defaults to all and priority to 0; RabbitMQ keys Postbox ignores are kept', async () => {
    assert.equal(
      (await putPolicy(broker, 'defaults', { pattern: 'nothing-matches-this', definition: { 'ha-mode': 'all', 'queue-mode': 'lazy' } })).status,
      201,
    );
    const p = (await api(broker, 'GET', '/api/policies/%2F/defaults')).body;
    assert.equal(p['apply-to'], 'all');
    assert.equal(p.priority, 0);
    assert.deepEqual(p.definition, { 'ha-mode': 'all', 'queue-mode': 'lazy' });
    assert.equal((await deletePolicy(broker, 'defaults')).status, 204);
  });

  test('requests without credentials or with a wrong password get 401 with a JSON reason', async () => {
    for (const auth of [null, ['guest', 'wrong'], ['nobody', 'guest']] as const) {
      const r = await api(broker, 'GET', '/api/policies', { auth: auth === null ? null : [...auth] });
      assert.equal(r.status, 401);
      assert.equal(r.body.error, 'not_authorised');
      assert.equal(typeof r.body.reason, 'string');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic /);
    }
    assert.equal(
      (await putPolicy(broker, 'x', { pattern: 'x', definition: { 'max-length': 1 } }).then(() => api(broker, 'DELETE', '/api/policies/%2F/x', { auth: null })))
        .status,
      401,
    );
    assert.equal((await deletePolicy(broker, 'x')).status, 204);
  });

  test('a user without the administrator tag may read policies but not set or clear them (403)', async () => {
    const viewer: [string, string] = ['viewer', 'viewer-pw'];
    assert.equal((await api(broker, 'GET', '/api/policies/%2F', { auth: viewer })).status, 200);
    const set = await api(broker, 'PUT', '/api/policies/%2F/v', { auth: viewer, body: { pattern: '.*', definition: { 'max-length': 1 } } });
    assert.equal(set.status, 403);
    assert.equal(set.body.error, 'access_refused');
    assert.match(set.body.reason, /administrator/);
    assert.equal((await putPolicy(broker, 'v', { pattern: '^v$', definition: { 'max-length': 1 } })).status, 201);
    assert.equal((await api(broker, 'DELETE', '/api/policies/%2F/v', { auth: viewer })).status, 403);
    // and a vhost the user may not use is refused even for reads
    assert.equal((await api(broker, 'GET', '/api/policies/other', { auth: viewer })).status, 403);
    assert.ok(!(await api(broker, 'GET', '/api/policies', { auth: viewer })).body.some((p: any) => p.vhost === 'other'));
    assert.equal((await deletePolicy(broker, 'v')).status, 204);
  });

  test('an unknown vhost is 404 and a bad body or invalid definition is 400 naming the problem', async () => {
    const unknownVhost = await putPolicy(broker, 'p', { pattern: '.*', definition: { 'max-length': 1 } }, 'no-such-vhost');
    assert.equal(unknownVhost.status, 404);
    assert.equal(unknownVhost.body.error, 'not_found');
    assert.equal((await api(broker, 'GET', '/api/policies/no-such-vhost')).status, 404);
    const cases: Array<[Call, RegExp]> = [
      [{ raw: '{not json' }, /not valid JSON/],
      [{ raw: '' }, /body required/],
      [{ body: [1, 2] }, /JSON object/],
      [{ body: { pattern: '.*', definition: { 'no-such-key': 1 } } }, /unknown policy key 'no-such-key'/],
      [{ body: { pattern: '.*', definition: { 'max-length': -1 } } }, /'max-length'.*non-negative integer/],
      [{ body: { pattern: '.*', definition: { 'message-ttl': 'soon' } } }, /'message-ttl'/],
      [{ body: { pattern: '.*', definition: { expires: 0 } } }, /'expires'.*positive integer/],
      [{ body: { pattern: '.*', definition: { 'message-ttl': 2 ** 32 } } }, /'message-ttl'.*up to 4294967295/],
      [{ body: { pattern: '.*', definition: { expires: 2 ** 32 } } }, /'expires'.*up to 4294967295/],
      [{ body: { pattern: '.*', definition: { overflow: 'explode' } } }, /'overflow'/],
      [{ body: { pattern: '.*', definition: { 'dead-letter-exchange': 5 } } }, /'dead-letter-exchange'.*string/],
      [{ body: { pattern: '.*', definition: {} } }, /at least one key/],
      [{ body: { pattern: '.*' } }, /definition/],
      [{ body: { pattern: '(', definition: { 'max-length': 1 } } }, /invalid policy pattern/],
      [{ body: { definition: { 'max-length': 1 } } }, /pattern/],
      [{ body: { pattern: '.*', definition: { 'max-length': 1 }, 'apply-to': 'stream' } }, /apply-to/],
      [{ body: { pattern: '.*', definition: { 'max-length': 1 }, priority: 1.5 } }, /priority/],
    ];
    for (const [call, reason] of cases) {
      const r = await api(broker, 'PUT', '/api/policies/%2F/bad', call);
      assert.equal(r.status, 400, `${JSON.stringify(call)} → ${r.status}`);
      assert.equal(r.body.error, 'bad_request');
      assert.match(r.body.reason, reason);
    }
    assert.equal((await api(broker, 'GET', '/api/policies/%2F/bad')).status, 404, 'nothing was stored');
  });

  test("a policy's max-length and message-ttl reach the settings of matching queues only", async () => {
    await declareQueues(broker, { 'match.a': {}, 'match.b': {}, 'nomatch.match': {} });
    assert.equal(
      (await putPolicy(broker, 'limits', { pattern: '^match\\.', definition: { 'max-length': 10, 'message-ttl': 60000 }, 'apply-to': 'queues' })).status,
      201,
    );
    for (const name of ['match.a', 'match.b']) {
      assert.equal(settings(broker, name).maxLength, 10);
      assert.equal(settings(broker, name).messageTtl, 60000);
      assert.equal(broker.core.vhosts.get('/')!.queues.get(name)!.policy?.name, 'limits');
    }
    assert.equal(settings(broker, 'nomatch.match').maxLength, null, 'the pattern is anchored by ^');
    assert.equal(settings(broker, 'nomatch.match').messageTtl, null);
    // a queue declared after the policy gets it at declare time
    await declareQueues(broker, { 'match.later': {} });
    assert.equal(settings(broker, 'match.later').maxLength, 10);
    // a policy for exchanges only does not touch queues; an unanchored pattern matches anywhere in the name
    assert.equal(
      (await putPolicy(broker, 'exchanges-only', { pattern: 'match', definition: { 'max-length': 1 }, priority: 100, 'apply-to': 'exchanges' })).status,
      201,
    );
    assert.equal(settings(broker, 'match.a').maxLength, 10);
    assert.equal(settings(broker, 'nomatch.match').maxLength, null);
    assert.equal((await deletePolicy(broker, 'exchanges-only')).status, 204);
    assert.equal((await deletePolicy(broker, 'limits')).status, 204);
  });

  test('among matching policies the highest priority wins, and a tie goes to the one defined last', async () => {
    await declareQueues(broker, { 'prio.q': {} });
    await putPolicy(broker, 'prio-low', { pattern: '^prio\\.', definition: { 'max-length': 100 }, priority: 1 });
    await putPolicy(broker, 'prio-high', { pattern: 'q$', definition: { 'max-length': 200 }, priority: 5 });
    assert.equal(settings(broker, 'prio.q').maxLength, 200);
    await putPolicy(broker, 'prio-low', { pattern: '^prio\\.', definition: { 'max-length': 100 }, priority: 9 });
    assert.equal(settings(broker, 'prio.q').maxLength, 100);
    // equal priorities: the later definition wins, and re-setting a policy makes it the later one
    await putPolicy(broker, 'prio-high', { pattern: 'q$', definition: { 'max-length': 200 }, priority: 9 });
    assert.equal(settings(broker, 'prio.q').maxLength, 200);
    await putPolicy(broker, 'prio-low', { pattern: '^prio\\.', definition: { 'max-length': 100 }, priority: 9 });
    assert.equal(settings(broker, 'prio.q').maxLength, 100);
    // only one policy applies: keys of the losing policy are not merged in
    await putPolicy(broker, 'prio-high', { pattern: 'q$', definition: { 'message-ttl': 5 }, priority: 10 });
    assert.equal(settings(broker, 'prio.q').maxLength, null);
    assert.equal(settings(broker, 'prio.q').messageTtl, 5);
    await deletePolicy(broker, 'prio-low');
    await deletePolicy(broker, 'prio-high');
  });

  test('clearing a policy reverts its queues to the next matching policy, then to their arguments alone', async () => {
    await declareQueues(broker, { 'revert.q': { 'x-max-length': 50 } });
    await putPolicy(broker, 'revert-base', { pattern: '^revert', definition: { 'message-ttl': 1000 }, priority: 0 });
    await putPolicy(broker, 'revert-top', { pattern: '^revert', definition: { 'message-ttl': 2000, 'max-length': 10 }, priority: 1 });
    assert.equal(settings(broker, 'revert.q').messageTtl, 2000);
    assert.equal(settings(broker, 'revert.q').maxLength, 10);
    assert.equal((await deletePolicy(broker, 'revert-top')).status, 204);
    assert.equal(settings(broker, 'revert.q').messageTtl, 1000);
    assert.equal(settings(broker, 'revert.q').maxLength, 50);
    assert.equal((await deletePolicy(broker, 'revert-base')).status, 204);
    assert.equal(settings(broker, 'revert.q').messageTtl, null);
    assert.equal(settings(broker, 'revert.q').maxLength, 50);
    assert.equal(broker.core.vhosts.get('/')!.queues.get('revert.q')!.policy, null);
  });

  test('a queue argument beats the policy for dead-letter-exchange, and the lower value wins for max-length', async () => {
    await declareQueues(broker, {
      'args.own': { 'x-dead-letter-exchange': 'own-dlx', 'x-max-length': 500 },
      'args.small': { 'x-max-length': 3 },
      'args.none': {},
    });
    await putPolicy(broker, 'args', { pattern: '^args\\.', definition: { 'dead-letter-exchange': 'policy-dlx', 'max-length': 20 } });
    assert.equal(settings(broker, 'args.own').deadLetterExchange, 'own-dlx');
    assert.equal(settings(broker, 'args.own').maxLength, 20, 'the policy is lower than the argument');
    assert.equal(settings(broker, 'args.small').deadLetterExchange, 'policy-dlx');
    assert.equal(settings(broker, 'args.small').maxLength, 3, 'the argument is lower than the policy');
    assert.equal(settings(broker, 'args.none').maxLength, 20);
    await deletePolicy(broker, 'args');
  });

  test("a policy's dead-letter-exchange and message-ttl act on messages: they expire and are dead-lettered through the policy's exchange", async () => {
    const conn = await amqp.connect(broker.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange('policy.dlx', 'fanout', { durable: false });
      await ch.assertQueue('policy.dead', { durable: false });
      await ch.bindQueue('policy.dead', 'policy.dlx', '');
      await ch.assertQueue('acting.ttl', { durable: false });
      assert.equal(
        (await putPolicy(broker, 'acting-ttl', { pattern: '^acting\\.ttl$', definition: { 'message-ttl': 30, 'dead-letter-exchange': 'policy.dlx' } })).status,
        201,
      );
      ch.sendToQueue('acting.ttl', Buffer.from('stale'));
      const dead = await new Promise<amqp.ConsumeMessage>((resolve) => {
        void ch.consume('policy.dead', (m) => m && resolve(m), { noAck: true });
      });
      assert.equal(dead.content.toString(), 'stale');
      assert.equal((dead.properties.headers as any)['x-death'][0].reason, 'expired');
      assert.equal((await ch.checkQueue('acting.ttl')).messageCount, 0);
    } finally {
      await conn.close();
      await deletePolicy(broker, 'acting-ttl');
    }
  });

  test('a max-length-bytes policy set on a queue that already holds messages counts their bodies and drops the oldest', async () => {
    const conn = await amqp.connect(broker.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('acting.bytes', { durable: false });
      for (let i = 1; i <= 5; i++) ch.sendToQueue('acting.bytes', Buffer.alloc(100, 48 + i));
      assert.equal((await ch.checkQueue('acting.bytes')).messageCount, 5);
      assert.equal((await putPolicy(broker, 'acting-bytes', { pattern: '^acting\\.bytes$', definition: { 'max-length-bytes': 250 } })).status, 201);
      assert.equal((await ch.checkQueue('acting.bytes')).messageCount, 2, 'the 500 queued bytes were cut to 200');
      ch.sendToQueue('acting.bytes', Buffer.alloc(100, 48 + 6));
      const left: string[] = [];
      for (let m = await ch.get('acting.bytes', { noAck: true }); m !== false; m = await ch.get('acting.bytes', { noAck: true }))
        left.push(m.content.toString()[0]!);
      assert.deepEqual(left, ['5', '6'], 'the newest messages stay');
    } finally {
      await conn.close();
      await deletePolicy(broker, 'acting-bytes');
    }
  });

  test('the overview names the product, version and listeners, and the alarms health check reports a disk alarm', async () => {
    const overview = await api(broker, 'GET', '/api/overview');
    assert.equal(overview.status, 200);
    assert.equal(overview.body.product_name, 'Postbox');
    assert.match(overview.body.product_version, /^\d+\.\d+\.\d+/);
    assert.ok(overview.body.listeners.some((l: any) => l.protocol === 'amqp' && l.port === broker.amqpPort));
    assert.ok(overview.body.listeners.some((l: any) => l.protocol === 'http' && l.port === broker.httpPort));
    const healthy = await api(broker, 'GET', '/api/health/checks/alarms');
    assert.deepEqual([healthy.status, healthy.body], [200, { status: 'ok' }]);
    const alarm = broker.core.alarm!.disk;
    alarm.reason = 'low on disk';
    try {
      const alarmed = await api(broker, 'GET', '/api/health/checks/alarms');
      assert.equal(alarmed.status, 503);
      assert.equal(alarmed.body.status, 'failed');
      assert.match(alarmed.body.reason, /low on disk/);
    } finally {
      alarm.reason = null;
    }
  });

  test('an unknown path is 404 and a wrong method on a known path is 405', async () => {
    assert.equal((await api(broker, 'GET', '/api/no-such-thing')).status, 404);
    const r = await api(broker, 'POST', '/api/policies/%2F/x', { body: {} });
    assert.equal(r.status, 405);
    assert.match(r.headers.get('allow') ?? '', /PUT/);
  });
});

describe('policies across a broker restart', () => {
  const dataDir = tempDataDir('postbox-policies-restart-');
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('policies survive a restart and apply to the restored durable queues', async () => {
    let broker = await startTestBroker({ dataDir });
    try {
      await declareQueues(broker, { 'kept.q': { 'x-dead-letter-exchange': 'own' } }, true);
      await putPolicy(broker, 'kept-low', { pattern: '^kept', definition: { 'max-length': 1 }, priority: 0 });
      await putPolicy(broker, 'kept', {
        pattern: '^kept\\.',
        definition: { 'max-length': 42, 'message-ttl': 9000, 'dead-letter-exchange': 'pol' },
        priority: 7,
        'apply-to': 'queues',
      });
      await putPolicy(broker, 'kept-tie', { pattern: '^kept\\.', definition: { 'max-length': 43 }, priority: 7 });
      await putPolicy(broker, 'kept', {
        pattern: '^kept\\.',
        definition: { 'max-length': 42, 'message-ttl': 9000, 'dead-letter-exchange': 'pol' },
        priority: 7,
        'apply-to': 'queues',
      });
      assert.equal(settings(broker, 'kept.q').maxLength, 42);
    } finally {
      await broker.stop();
    }
    broker = await startTestBroker({ dataDir });
    try {
      const listed = (await api(broker, 'GET', '/api/policies/%2F')).body;
      assert.deepEqual(listed.map((p: any) => p.name).sort(), ['kept', 'kept-low', 'kept-tie']);
      assert.deepEqual(
        listed.find((p: any) => p.name === 'kept'),
        {
          vhost: '/',
          name: 'kept',
          pattern: '^kept\\.',
          'apply-to': 'queues',
          definition: { 'max-length': 42, 'message-ttl': 9000, 'dead-letter-exchange': 'pol' },
          priority: 7,
        },
      );
      // the restored queue has its policy (the tie still goes to the one defined last before the restart)
      assert.equal(settings(broker, 'kept.q').maxLength, 42);
      assert.equal(settings(broker, 'kept.q').messageTtl, 9000);
      assert.equal(settings(broker, 'kept.q').deadLetterExchange, 'own');
      assert.equal((await deletePolicy(broker, 'kept')).status, 204);
      assert.equal(settings(broker, 'kept.q').maxLength, 43);
    } finally {
      await broker.stop();
    }
    broker = await startTestBroker({ dataDir });
    try {
      assert.deepEqual((await api(broker, 'GET', '/api/policies/%2F')).body.map((p: any) => p.name).sort(), ['kept-low', 'kept-tie']);
      assert.equal(settings(broker, 'kept.q').maxLength, 43);
    } finally {
      await broker.stop();
    }
  });

  test('a definitions file written before policies existed (no policies key) still loads', async () => {
    const dir = tempDataDir('postbox-policies-v1-');
    try {
      writeFileSync(join(dir, 'definitions.json'), JSON.stringify({ version: 1, exchanges: [], queues: [], bindings: [] }));
      const broker = await startTestBroker({ dataDir: dir });
      try {
        assert.deepEqual((await api(broker, 'GET', '/api/policies')).body, []);
      } finally {
        await broker.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('postbox policies (CLI)', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    await broker.stop();
  });

  /** run the CLI against the test broker; resolves with the exit code and output even when it fails */
  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const connection = ['--host', '127.0.0.1', '--http-port', String(broker.httpPort)];
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI_PATH, 'policies', ...args, ...connection], { encoding: 'utf8' });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  test('policies set, list and clear round-trip through the management API', async () => {
    await declareQueues(broker, { 'cli.q': {} });
    const set = await cli('set', 'cli-limits', '^cli\\.', '{"max-length":12,"overflow":"reject-publish"}', '--priority', '3', '--apply-to', 'queues');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /policy 'cli-limits' created in vhost '\/'/);
    assert.equal(settings(broker, 'cli.q').maxLength, 12);
    assert.equal(settings(broker, 'cli.q').overflow, 'reject-publish');
    const update = await cli('set', 'cli-limits', '^cli\\.', '{"max-length":13}', '--priority=-1');
    assert.match(update.stdout, /updated/);
    assert.equal(settings(broker, 'cli.q').maxLength, 13);

    const table = await cli('list');
    assert.equal(table.code, 0, table.stderr);
    const [header, row] = table.stdout.trim().split('\n');
    assert.match(header!, /^vhost\s+name\s+pattern\s+apply-to\s+priority\s+definition$/);
    assert.match(row!, /^\/\s+cli-limits\s+\^cli\\\.\s+all\s+-1\s+\{"max-length":13\}$/);
    const json = await cli('list', '--vhost', '/', '--json');
    assert.deepEqual(JSON.parse(json.stdout), [
      { vhost: '/', name: 'cli-limits', pattern: '^cli\\.', 'apply-to': 'all', definition: { 'max-length': 13 }, priority: -1 },
    ]);

    const clear = await cli('clear', 'cli-limits');
    assert.equal(clear.code, 0, clear.stderr);
    assert.match(clear.stdout, /policy 'cli-limits' cleared/);
    assert.equal(settings(broker, 'cli.q').maxLength, null);
    assert.deepEqual(JSON.parse((await cli('list', '--json')).stdout), []);
  });

  test('the CLI reports the server reason and exits 1 on a refused request, and exits 2 on wrong usage', async () => {
    const missing = await cli('clear', 'no-such-policy');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no policy 'no-such-policy'.*404/);
    const invalid = await cli('set', 'bad', '.*', '{"max-length":"lots"}');
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /'max-length'/);
    const badAuth = await cli('list', '--password', 'wrong');
    assert.equal(badAuth.code, 1);
    assert.match(badAuth.stderr, /401/);
    const notJson = await cli('set', 'bad', '.*', '{oops');
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /not valid JSON/);
    const unknown = await cli('frobnicate');
    assert.equal(unknown.code, 2);
  });

  test('postbox --help mentions the policies command and policies --help lists its flags', async () => {
    const { stdout } = await run(process.execPath, [CLI_PATH, '--help'], { encoding: 'utf8' });
    assert.match(stdout, /postbox policies/);
    const help = await run(process.execPath, [CLI_PATH, 'policies', '--help'], { encoding: 'utf8' });
    for (const flag of ['--host', '--http-port', '--user', '--password', '--vhost', '--priority', '--apply-to', '--json'])
      assert.ok(help.stdout.includes(flag), `help lacks ${flag}`);
  });
});
