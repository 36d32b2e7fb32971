/**
 * Who may use which management routes, and routes scoped to one vhost: alert rules (401 / 403 / allowed by
 * tag), the policymaker tag, consumers, connections, channels and permissions listed across every vhost or
 * in one, the local-alarms health check, and an alert rule from the config file firing and clearing.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel } from 'amqplib';
import type { UserConfig } from '../../src/config/config.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { afterAlertEvaluations, api, get, seg, type Reply } from './helpers.js';

const GUEST: UserConfig = { name: 'guest', password: 'guest', vhosts: ['*'], loopbackOnly: true, tags: ['administrator'] };
const POLICYMAKER: UserConfig = { name: 'planner', password: 'planner-pw', vhosts: ['/'], loopbackOnly: false, tags: ['policymaker'] };
const VIEWER: UserConfig = { name: 'viewer', password: 'viewer-pw', vhosts: ['/'], loopbackOnly: false, tags: ['management'] };
const WATCHER: UserConfig = { name: 'watcher', password: 'watcher-pw', vhosts: ['/'], loopbackOnly: false, tags: ['monitoring'] };
/** a management user who may use only the config vhost 'elsewhere' */
const OUTSIDER: UserConfig = { name: 'outsider', password: 'outsider-pw', vhosts: ['elsewhere'], loopbackOnly: false, tags: ['management'] };

const creds = (u: UserConfig): [string, string] => [u.name, u.password];

/** Alert evaluation interval for this file, ms: short, so alert states move within a few polls. */
const ALERT_INTERVAL_MS = 40;
/** The config-file alert rule of the last test: more than 2 messages in 'cfg-buildup', at once. */
const CONFIG_RULE = { name: 'cfg-buildup', kind: 'queue_depth', queue: '^cfg-buildup$', threshold: 2, for_ms: 0 };

/** Poll `read` until `done` holds for its value; a generous guard, never a timing assertion. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function names(rows: any[], key = 'name'): string[] {
  return rows.map((r) => r[key] as string).sort();
}

describe('management API: access by tag and vhost-scoped routes', () => {
  let broker: TestBroker;

  before(async () => {
    broker = await startTestBroker({
      users: [GUEST, POLICYMAKER, VIEWER, WATCHER, OUTSIDER],
      vhosts: ['/', 'elsewhere'],
      alertIntervalMs: ALERT_INTERVAL_MS,
      alertRules: [CONFIG_RULE],
    });
  });
  after(async () => {
    await broker.stop();
  });

  function amqpUrl(vhost: string, user: UserConfig = GUEST): string {
    return `amqp://${user.name}:${user.password}@127.0.0.1:${broker.amqpPort}/${seg(vhost)}`;
  }

  /** a new vhost made by the administrator over HTTP (guest's '*' gives it access at once) */
  async function createVhost(name: string): Promise<void> {
    assert.equal((await api(broker, 'PUT', `/api/vhosts/${seg(name)}`)).status, 201);
  }

  test('alert-rule routes refuse requests without credentials (401) and changes by monitoring or management users (403), while an administrator changes them', async () => {
    const rule = { kind: 'queue_depth', queue: '^guarded$', threshold: 10, for_ms: 0 };
    for (const [method, path] of [
      ['GET', '/api/alerts'],
      ['GET', '/api/alert-rules'],
      ['GET', '/api/alert-rules/guarded'],
      ['PUT', '/api/alert-rules/guarded'],
      ['DELETE', '/api/alert-rules/guarded'],
    ] as const) {
      const r = await api(broker, method, path, { auth: null, body: method === 'PUT' ? rule : undefined });
      assert.equal(r.status, 401, `${method} ${path} without credentials`);
      assert.equal(r.body.error, 'not_authorised');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic /);
    }
    assert.equal((await api(broker, 'GET', '/api/alert-rules/guarded')).status, 404, 'no rule was made by the refused PUT');

    for (const user of [WATCHER, VIEWER]) {
      const put = await api(broker, 'PUT', '/api/alert-rules/guarded', { auth: creds(user), body: rule });
      assert.equal(put.status, 403, `${user.tags[0]} may not set an alert rule`);
      assert.equal(put.body.error, 'access_refused');
      assert.equal((await api(broker, 'GET', '/api/alert-rules/guarded')).status, 404, `the ${user.tags[0]} user's PUT made nothing`);
    }

    const created = await api(broker, 'PUT', '/api/alert-rules/guarded', { body: rule });
    assert.equal(created.status, 201);
    assert.equal((await api(broker, 'PUT', '/api/alert-rules/guarded', { body: { ...rule, threshold: 11 } })).status, 204);

    for (const user of [WATCHER, VIEWER]) {
      // reading is open to every management user; changing is not
      assert.equal((await get(broker, '/api/alert-rules/guarded', creds(user))).threshold, 11);
      const del = await api(broker, 'DELETE', '/api/alert-rules/guarded', { auth: creds(user) });
      assert.equal(del.status, 403, `${user.tags[0]} may not delete an alert rule`);
      const replace = await api(broker, 'PUT', '/api/alert-rules/guarded', { auth: creds(user), body: { ...rule, threshold: 1 } });
      assert.equal(replace.status, 403);
    }
    assert.equal((await get(broker, '/api/alert-rules/guarded')).threshold, 11, 'the refused requests changed nothing');

    assert.equal((await api(broker, 'DELETE', '/api/alert-rules/guarded')).status, 204);
    assert.equal((await api(broker, 'GET', '/api/alert-rules/guarded')).status, 404);
  });

  test('a policymaker changes alert rules of the vhosts it may use; a rule over every vhost or another vhost needs an administrator', async () => {
    const planner = creds(POLICYMAKER);
    const rule = { kind: 'queue_depth', queue: '^planned$', threshold: 5, for_ms: 0 };
    assert.equal((await api(broker, 'PUT', '/api/alert-rules/planner-own', { auth: planner, body: { ...rule, vhost: '/' } })).status, 201);
    assert.equal((await api(broker, 'PUT', '/api/alert-rules/planner-own', { auth: planner, body: { ...rule, vhost: '/', threshold: 6 } })).status, 204);
    for (const vhost of ['', 'elsewhere', undefined]) {
      const r = await api(broker, 'PUT', '/api/alert-rules/planner-wide', { auth: planner, body: vhost === undefined ? rule : { ...rule, vhost } });
      assert.equal(r.status, 403, `policymaker PUT with vhost ${JSON.stringify(vhost)}`);
      assert.equal(r.body.error, 'access_refused');
    }
    assert.equal((await api(broker, 'GET', '/api/alert-rules/planner-wide')).status, 404, 'the refused PUTs made nothing');
    // moving its own rule to a vhost it may not use is refused too
    assert.equal((await api(broker, 'PUT', '/api/alert-rules/planner-own', { auth: planner, body: { ...rule, vhost: 'elsewhere' } })).status, 403);
    assert.equal((await get(broker, '/api/alert-rules/planner-own')).vhost, '/');
    // an administrator's rule over every vhost is neither replaced nor deleted by the policymaker
    assert.equal((await api(broker, 'PUT', '/api/alert-rules/admin-wide', { body: rule })).status, 201);
    assert.equal((await api(broker, 'PUT', '/api/alert-rules/admin-wide', { auth: planner, body: { ...rule, vhost: '/' } })).status, 403);
    assert.equal((await api(broker, 'DELETE', '/api/alert-rules/admin-wide', { auth: planner })).status, 403);
    assert.equal((await get(broker, '/api/alert-rules/admin-wide')).vhost, '', "the administrator's rule is unchanged");
    assert.equal((await api(broker, 'DELETE', '/api/alert-rules/planner-own', { auth: planner })).status, 204);
    assert.equal((await api(broker, 'DELETE', '/api/alert-rules/admin-wide')).status, 204);
  });

  test('a policymaker sets, reads and clears policies in its vhost but may not do administrator-only things, and a management user may not set policies', async () => {
    const planner = creds(POLICYMAKER);
    const policy = { pattern: '^planned\\.', definition: { 'max-length': 3 }, priority: 1, 'apply-to': 'queues' };
    assert.equal((await api(broker, 'PUT', '/api/policies/%2F/planned', { auth: planner, body: policy })).status, 201);
    assert.deepEqual(await get(broker, '/api/policies/%2F/planned', planner), { vhost: '/', name: 'planned', ...policy });
    assert.equal((await api(broker, 'PUT', '/api/policies/%2F/planned', { auth: planner, body: { ...policy, priority: 2 } })).status, 204);
    assert.equal((await get(broker, '/api/policies/%2F/planned')).priority, 2, "the administrator sees the policymaker's change");
    assert.equal((await api(broker, 'DELETE', '/api/policies/%2F/planned', { auth: planner })).status, 204);
    assert.equal((await api(broker, 'GET', '/api/policies/%2F/planned', { auth: planner })).status, 404);

    // not in a vhost it has no permissions in
    assert.equal((await api(broker, 'PUT', '/api/policies/elsewhere/planned', { auth: planner, body: policy })).status, 403);
    assert.equal((await api(broker, 'GET', '/api/policies/elsewhere', { auth: planner })).status, 403);

    // administrator-only routes stay closed to a policymaker
    const refused: Array<[string, string, unknown]> = [
      ['PUT', '/api/users/x', { password: 'x-pw', tags: 'administrator' }],
      ['GET', '/api/users', undefined],
      ['PUT', '/api/vhosts/planner-vhost', undefined],
      ['PUT', '/api/permissions/%2F/viewer', { configure: '.*', write: '.*', read: '.*' }],
      ['GET', '/api/vhosts/%2F/permissions', undefined],
    ];
    for (const [method, path, body] of refused) {
      const r = await api(broker, method, path, { auth: planner, body });
      assert.equal(r.status, 403, `policymaker ${method} ${path}`);
      assert.equal(r.body.error, 'access_refused');
    }
    assert.equal((await api(broker, 'GET', '/api/users/x')).status, 404, 'no user was created');
    assert.equal((await api(broker, 'GET', '/api/vhosts/planner-vhost')).status, 404, 'no vhost was created');

    // a management-only user may read policies but not set one
    const viewerPut = await api(broker, 'PUT', '/api/policies/%2F/viewed', { auth: creds(VIEWER), body: policy });
    assert.equal(viewerPut.status, 403);
    assert.equal(viewerPut.body.error, 'access_refused');
    assert.equal((await api(broker, 'GET', '/api/policies/%2F/viewed')).status, 404);
  });

  test("GET /api/consumers lists consumers in every vhost and /api/consumers/{vhost} only that vhost's", async () => {
    await createVhost('consumers-b');
    const connA = await amqp.connect(amqpUrl('/'));
    const connB = await amqp.connect(amqpUrl('consumers-b'));
    try {
      const chA = await connA.createChannel();
      const chB = await connB.createChannel();
      await chA.assertQueue('cq-a', { durable: false });
      await chB.assertQueue('cq-b', { durable: false });
      await chA.consume('cq-a', () => undefined, { consumerTag: 'tag-a' });
      await chB.consume('cq-b', () => undefined, { consumerTag: 'tag-b' });

      const tagsOf = (rows: any[]): string[] =>
        rows
          .filter((c) => c.consumer_tag.startsWith('tag-'))
          .map((c) => `${c.queue.vhost}|${c.queue.name}|${c.consumer_tag}`)
          .sort();
      assert.deepEqual(tagsOf(await get(broker, '/api/consumers')), ['/|cq-a|tag-a', 'consumers-b|cq-b|tag-b']);
      assert.deepEqual(tagsOf(await get(broker, '/api/consumers/consumers-b')), ['consumers-b|cq-b|tag-b']);
      assert.deepEqual(tagsOf(await get(broker, '/api/consumers/%2F')), ['/|cq-a|tag-a']);
      for (const c of await get(broker, '/api/consumers/consumers-b')) assert.equal(c.queue.vhost, 'consumers-b');

      // a user of '/' only sees that vhost's consumers and is refused the other vhost
      assert.deepEqual(tagsOf(await get(broker, '/api/consumers', creds(VIEWER))), ['/|cq-a|tag-a']);
      assert.equal((await api(broker, 'GET', '/api/consumers/consumers-b', { auth: creds(VIEWER) })).status, 403);
      assert.equal((await api(broker, 'GET', '/api/consumers/no-such-vhost')).status, 404);
    } finally {
      await connA.close();
      await connB.close();
    }
  });

  test("GET /api/vhosts/{vhost}/connections, /channels and /permissions list only that vhost's items", async () => {
    await createVhost('conns-b');
    assert.equal((await api(broker, 'PUT', '/api/users/conns-user', { body: { password: 'conns-pw', tags: '' } })).status, 201);
    assert.equal((await api(broker, 'PUT', '/api/permissions/conns-b/conns-user', { body: { configure: '^c', write: '.*', read: '.*' } })).status, 201);
    const connA = await amqp.connect(amqpUrl('/'), { clientProperties: { connection_name: 'vhost-scope-a' } });
    const connB = await amqp.connect(amqpUrl('conns-b'), { clientProperties: { connection_name: 'vhost-scope-b' } });
    try {
      await connA.createChannel();
      await connB.createChannel();
      await connB.createChannel();
      const mine = (rows: any[]): string[] =>
        rows
          .map((c) => c.client_properties.connection_name as string)
          .filter((n) => n?.startsWith('vhost-scope-'))
          .sort();
      const all = await eventually(
        () => get(broker, '/api/connections'),
        (rows: any[]) => mine(rows).length === 2,
        'both connections listed',
      );
      assert.deepEqual(mine(all), ['vhost-scope-a', 'vhost-scope-b']);
      const nameOf = (label: string): string => all.find((c: any) => c.client_properties.connection_name === label).name;

      const connsB = await get(broker, '/api/vhosts/conns-b/connections');
      assert.deepEqual(mine(connsB), ['vhost-scope-b']);
      for (const c of connsB) assert.equal(c.vhost, 'conns-b');
      const connsA = await get(broker, '/api/vhosts/%2F/connections');
      assert.deepEqual(mine(connsA), ['vhost-scope-a']);
      for (const c of connsA) assert.equal(c.vhost, '/');

      const channelsOf = (rows: any[], connection: string): number => rows.filter((ch) => ch.connection_details.name === connection).length;
      const channelsB = await eventually(
        () => get(broker, '/api/vhosts/conns-b/channels'),
        (rows: any[]) => channelsOf(rows, nameOf('vhost-scope-b')) === 2,
        'conns-b channels',
      );
      assert.equal(channelsOf(channelsB, nameOf('vhost-scope-a')), 0);
      for (const ch of channelsB) assert.equal(ch.vhost, 'conns-b');
      const channelsA = await eventually(
        () => get(broker, '/api/vhosts/%2F/channels'),
        (rows: any[]) => channelsOf(rows, nameOf('vhost-scope-a')) === 1,
        "'/' channels",
      );
      assert.equal(channelsOf(channelsA, nameOf('vhost-scope-b')), 0);
      for (const ch of channelsA) assert.equal(ch.vhost, '/');

      const permsB = await get(broker, '/api/vhosts/conns-b/permissions');
      for (const p of permsB) assert.equal(p.vhost, 'conns-b');
      assert.deepEqual(
        permsB.find((p: any) => p.user === 'conns-user'),
        { user: 'conns-user', vhost: 'conns-b', configure: '^c', write: '.*', read: '.*' },
      );
      assert.ok(
        permsB.some((p: any) => p.user === 'guest'),
        "guest's '*' covers the new vhost",
      );
      const permsA = await get(broker, '/api/vhosts/%2F/permissions');
      for (const p of permsA) assert.equal(p.vhost, '/');
      assert.ok(!permsA.some((p: any) => p.user === 'conns-user'), "conns-user has no permissions in '/'");
      assert.ok(!names(permsB, 'user').includes('viewer'), "viewer's permissions in '/' are not listed for conns-b");
      assert.equal((await api(broker, 'GET', '/api/vhosts/no-such-vhost/permissions')).status, 404);
    } finally {
      await connA.close();
      await connB.close();
    }
  });

  test('GET /api/health/checks/local-alarms answers 200 ok normally and 503 failed with the reason while an alarm is raised', async () => {
    assert.deepEqual(await get(broker, '/api/health/checks/local-alarms'), { status: 'ok' });
    assert.deepEqual(await get(broker, '/api/health/checks/local-alarms', creds(WATCHER)), { status: 'ok' });
    assert.equal((await api(broker, 'GET', '/api/health/checks/local-alarms', { auth: null })).status, 401);
    try {
      broker.core.alarm!.memory.setLimit(1); // a watermark every process is above
      const raised: Reply = await api(broker, 'GET', '/api/health/checks/local-alarms');
      assert.equal(raised.status, 503);
      assert.equal(raised.body.status, 'failed');
      assert.equal(typeof raised.body.reason, 'string');
      assert.match(raised.body.reason, /memory/);
    } finally {
      broker.core.alarm!.memory.setLimit(Number.MAX_SAFE_INTEGER);
    }
    assert.deepEqual(await get(broker, '/api/health/checks/local-alarms'), { status: 'ok' }, 'ok again once the alarm clears');

    // a disk limit no disk meets, given as a broker option, raises the disk alarm from the start
    const starved = await startTestBroker({ diskFreeLimitBytes: Number.MAX_SAFE_INTEGER });
    try {
      const r = await api(starved, 'GET', '/api/health/checks/local-alarms');
      assert.equal(r.status, 503);
      assert.equal(r.body.status, 'failed');
      assert.match(r.body.reason, /disk/);
    } finally {
      await starved.stop();
    }
  });

  test("an alert rule from the config file fires when the queue builds up past the threshold, is shown only to users of the queue's vhost, and clears when consumed", async () => {
    assert.deepEqual(await get(broker, `/api/alert-rules/${CONFIG_RULE.name}`), { ...CONFIG_RULE, vhost: '' });
    type AlertJson = { rule: string; vhost: string; queue: string; state: string; value: number };
    const read = async (auth?: [string, string]): Promise<AlertJson | undefined> =>
      ((await get(broker, '/api/alerts', auth)) as AlertJson[]).find((a) => a.rule === CONFIG_RULE.name && a.queue === 'cfg-buildup');

    let conn: ChannelModel | undefined = await amqp.connect(amqpUrl('/'));
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('cfg-buildup', { durable: false });
      for (let i = 0; i < 2; i++) ch.sendToQueue('cfg-buildup', Buffer.from(`m${i}`));
      // at the threshold (2 is not over 2) the rule holds back: whole evaluations see the 2 messages, and
      // the pair is neither pending nor firing (a pair that never held is not listed)
      assert.equal((await ch.checkQueue('cfg-buildup')).messageCount, 2);
      await afterAlertEvaluations(broker);
      assert.equal(await read(), undefined);

      ch.sendToQueue('cfg-buildup', Buffer.from('m2'));
      const firing = await eventually(
        () => read(),
        (a) => a?.state === 'firing',
        'the config rule firing',
      );
      assert.equal(firing!.value, 3);
      assert.equal(firing!.vhost, '/');
      assert.equal((await read(creds(VIEWER)))?.state, 'firing', "a management user of '/' sees it");
      assert.equal(await read(creds(OUTSIDER)), undefined, "a user of another vhost does not see the queue's alert");

      let consumed = 0;
      await ch.consume('cfg-buildup', (m) => {
        if (m === null) return;
        consumed++;
        ch.ack(m);
      });
      // it may clear while acks are in flight (2 is not over 2); wait for the drained queue
      const cleared = await eventually(
        () => read(),
        (a) => a?.state === 'ok' && a.value === 0,
        'the config rule clearing',
      );
      assert.equal(cleared!.state, 'ok');
      assert.equal(consumed, 3);
      await conn.close();
      conn = undefined;
    } finally {
      await conn?.close();
    }
  });
});
