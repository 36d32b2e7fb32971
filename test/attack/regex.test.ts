/**
 * Regular expressions from users: `(a+)+$` against a 30-character queue name froze the broker for 11 s per
 * listing request with JavaScript's backtracking RegExp, and an alert rule with it froze every evaluation.
 * Every user-supplied pattern (listing filters, alert rules, policies, permissions) now goes through the
 * linear-time matcher (src/util/linear-regex.ts); constructs it cannot match in linear time are refused with
 * a 400 naming them. A canary publishes with confirms on its own connection throughout: worst canary
 * latency measured here 29-107 ms (2 shared CPUs; with RegExp the first listing alone stalled it for 11 s).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel } from 'amqplib';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startCanary, type Canary } from '../helpers/canary.js';
import { api } from '../management/helpers.js';

/** Alert evaluation interval for this test, ms: short, so the evil rule is evaluated many times. */
const ALERT_INTERVAL_MS = 20;
/** the name that makes (a+)+$ backtrack 2^30 ways: thirty a's and one character that is not an a */
const EVIL_NAME = 'a'.repeat(30) + '!';
const EVIL_PATTERN = '(a+)+$';

describe('regular expressions from users', () => {
  let broker: TestBroker;
  let canary: Canary;
  let conn: ChannelModel;

  before(async () => {
    broker = await startTestBroker({ alertIntervalMs: ALERT_INTERVAL_MS });
    canary = await startCanary(broker.url);
    conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    for (const q of [EVIL_NAME, 'a'.repeat(30), 'b' + 'a'.repeat(29) + '!', 'orders.eu', 'sys.gen-x']) await ch.assertQueue(q, { durable: false });
    await ch.close();
  });
  after(async () => {
    await conn.close();
    const r = await canary.stop();
    process.stderr.write(`regex: canary confirmed ${r.confirmed}, worst latency ${r.worstLatencyMs} ms\n`);
    await broker.stop();
  });

  async function names(pattern: string): Promise<string[]> {
    const r = await api(broker, 'GET', `/api/queues/%2F?use_regex=true&name=${encodeURIComponent(pattern)}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body
      .map((q: { name: string }) => q.name)
      .filter((n: string) => !n.startsWith('canary-'))
      .sort();
  }

  test(`listing with ${EVIL_PATTERN} answers correctly while the canary keeps being served`, async () => {
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await names(EVIL_PATTERN), ['a'.repeat(30)]);
      await canary.check();
    }
    assert.deepEqual(await names('^(a|aa)+!$'), [EVIL_NAME]);
    assert.deepEqual(await names('^(\\w+\\.?)*$'), ['a'.repeat(30), 'orders.eu']);
    assert.deepEqual(await names('^(?!sys\\.)orders'), ['orders.eu']);
    assert.deepEqual(await names('A+!'), []);
  });

  test('a listing filter the matcher cannot run in linear time is refused with 400 naming the construct', async () => {
    const cases: Array<[string, RegExp]> = [
      ['(a)\\1', /backreference/],
      ['a(?=b)', /lookahead/],
      ['(?<=a)b', /lookbehind/],
      ['x'.repeat(600), /longer than 512/],
      ['(a', /unterminated group/],
    ];
    for (const [pattern, why] of cases) {
      const r = await api(broker, 'GET', `/api/queues?use_regex=true&name=${encodeURIComponent(pattern)}`);
      assert.equal(r.status, 400, pattern);
      assert.match(r.body.reason, why);
    }
  });

  test(`an alert rule with ${EVIL_PATTERN} is accepted, evaluated many times, and the broker keeps serving`, async () => {
    const put = await api(broker, 'PUT', '/api/alert-rules/evil', { body: { kind: 'queue_depth', queue: EVIL_PATTERN, threshold: 1000, for_ms: 0 } });
    assert.ok(put.status === 201 || put.status === 204, `PUT answered ${put.status}`);
    // let it be evaluated many times over the thirty-a queues; each evaluation used to take seconds
    const until = Date.now() + 30 * ALERT_INTERVAL_MS;
    while (Date.now() < until) await canary.check();
    const rules = await api(broker, 'GET', '/api/alert-rules');
    assert.equal(rules.status, 200);
    assert.ok(rules.body.some((r: { name: string; queue: string }) => r.name === 'evil' && r.queue === EVIL_PATTERN));
    // the rule works: a depth over its threshold on the matching queue fires it
    const ch = await conn.createChannel();
    await ch.purgeQueue('a'.repeat(30));
    const del = await api(broker, 'DELETE', '/api/alert-rules/evil');
    assert.ok(del.status === 204 || del.status === 200);
    await api(broker, 'PUT', '/api/alert-rules/evil-low', { body: { kind: 'queue_depth', queue: EVIL_PATTERN, threshold: 0, for_ms: 0 } });
    ch.sendToQueue('a'.repeat(30), Buffer.from('x'));
    ch.sendToQueue(EVIL_NAME, Buffer.from('x'));
    let firing: string[] = [];
    for (let i = 0; i < 200 && firing.length === 0; i++) {
      const alerts = await api(broker, 'GET', '/api/alerts');
      firing = alerts.body.filter((a: { rule: string; state: string }) => a.rule === 'evil-low' && a.state === 'firing').map((a: { queue: string }) => a.queue);
      if (firing.length === 0) await new Promise((r) => setTimeout(r, ALERT_INTERVAL_MS));
    }
    assert.deepEqual(firing, ['a'.repeat(30)]);
    await api(broker, 'DELETE', '/api/alert-rules/evil-low');
    await ch.close();
    await canary.check();
  });

  test('an alert rule with a backreference is refused with 400', async () => {
    const r = await api(broker, 'PUT', '/api/alert-rules/backref', { body: { kind: 'queue_depth', queue: '(a)\\1', threshold: 1 } });
    assert.equal(r.status, 400);
    assert.match(r.body.reason, /backreference/);
  });

  test('policies and permissions take the same subset: lookahead after ^ is accepted, a backreference refused', async () => {
    const ok = await api(broker, 'PUT', '/api/policies/%2F/not-sys', {
      body: { pattern: '^(?!sys\\.).*', definition: { 'max-length': 100 }, 'apply-to': 'queues' },
    });
    assert.ok(ok.status === 201 || ok.status === 204, `policy PUT answered ${ok.status}`);
    const q = await api(broker, 'GET', '/api/queues/%2F/orders.eu');
    assert.equal(q.body.policy, 'not-sys');
    const gen = await api(broker, 'GET', '/api/queues/%2F/sys.gen-x');
    assert.notEqual(gen.body.policy, 'not-sys');
    const bad = await api(broker, 'PUT', '/api/policies/%2F/bad', { body: { pattern: '(a)\\1', definition: { 'max-length': 1 } } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.reason, /backreference/);
    assert.equal((await api(broker, 'PUT', '/api/users/regex-tester', { body: { password: 'secret', tags: '' } })).status, 201);
    const perm = await api(broker, 'PUT', '/api/permissions/%2F/regex-tester', { body: { configure: '(a+)\\1', write: '.*', read: '.*' } });
    assert.equal(perm.status, 400);
    assert.match(perm.body.reason, /backreference/);
    await api(broker, 'DELETE', '/api/policies/%2F/not-sys');
  });
});
