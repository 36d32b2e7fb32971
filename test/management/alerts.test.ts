import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { api, get } from './helpers.js';

/** Evaluation interval for these tests, ms: short, so alerts move within a few polls. */
const INTERVAL_MS = 40;

let broker: TestBroker;
let webhook: Server;
const events: Array<{ alert: string; state: string; queue: string; value: number }> = [];

before(async () => {
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      events.push(JSON.parse(body) as (typeof events)[number]);
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = (webhook.address() as { port: number }).port;
  broker = await startTestBroker({ alertIntervalMs: INTERVAL_MS, alertWebhook: `http://127.0.0.1:${port}/hook` });
});
after(async () => {
  await broker.stop();
  await new Promise<void>((resolve) => webhook.close(() => resolve()));
});

interface AlertJson {
  rule: string;
  queue: string;
  state: string;
  value: number;
  message: string;
}

/** polls /api/alerts until `predicate` holds for the (rule, queue) pair; returns that state */
async function alertState(rule: string, queue: string, predicate: (a: AlertJson | undefined) => boolean): Promise<AlertJson | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const all = (await get(broker, '/api/alerts')) as AlertJson[];
    const found = all.find((a) => a.rule === rule && a.queue === queue);
    if (predicate(found)) return found;
    if (Date.now() > deadline) throw new Error(`alert ${rule}/${queue} never reached the expected state; last: ${JSON.stringify(found)}`);
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
  }
}

/** waits until the webhook got `rule`'s resolution, then returns the (state, queue) of each post for it */
async function webhookPosts(rule: string): Promise<string[][]> {
  const deadline = Date.now() + 5000;
  while (!events.some((e) => e.alert === rule && e.state === 'resolved') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return events.filter((e) => e.alert === rule).map((e) => [e.state, e.queue]);
}

test('alert rules are set, listed, read and deleted through the API, with 400 for a bad rule and 403 without the tag', async () => {
  const put = await api(broker, 'PUT', '/api/alert-rules/crud', { body: { kind: 'queue_depth', queue: '^crud$', threshold: 3, for_ms: 0 } });
  assert.equal(put.status, 201);
  assert.deepEqual(await get(broker, '/api/alert-rules/crud'), { name: 'crud', kind: 'queue_depth', queue: '^crud$', vhost: '', threshold: 3, for_ms: 0 });
  assert.ok(((await get(broker, '/api/alert-rules')) as Array<{ name: string }>).some((r) => r.name === 'crud'));
  const bad = await api(broker, 'PUT', '/api/alert-rules/bad', { body: { kind: 'queue_size', threshold: 1 } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.reason, /kind must be one of/);
  assert.equal((await api(broker, 'PUT', '/api/alert-rules/bad', { body: { kind: 'queue_depth', queue: '(' } })).status, 400);
  assert.equal((await api(broker, 'DELETE', '/api/alert-rules/crud')).status, 204);
  assert.equal((await api(broker, 'GET', '/api/alert-rules/crud')).status, 404);
  assert.equal((await api(broker, 'GET', '/api/alerts', { auth: null })).status, 401);
});

test('queue build-up fires after the depth stays over the threshold, posts to the webhook, and resolves when drained', async () => {
  await api(broker, 'PUT', '/api/alert-rules/depth', { body: { kind: 'queue_depth', queue: '^buildup$', threshold: 5, for_ms: 100 } });
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('buildup', { durable: false });
    for (let i = 0; i < 10; i++) ch.sendToQueue('buildup', Buffer.from(`m${i}`));
    const pending = await alertState('depth', 'buildup', (a) => a?.state === 'pending' || a?.state === 'firing');
    assert.ok(pending !== undefined);
    const firing = await alertState('depth', 'buildup', (a) => a?.state === 'firing');
    assert.equal(firing!.value, 10);
    await ch.purgeQueue('buildup');
    await alertState('depth', 'buildup', (a) => a?.state === 'ok');
    assert.deepEqual(await webhookPosts('depth'), [
      ['firing', 'buildup'],
      ['resolved', 'buildup'],
    ]);
  } finally {
    await conn.close();
  }
});

test('no consumers on a queue that has messages fires, and clears when a consumer arrives', async () => {
  await api(broker, 'PUT', '/api/alert-rules/idle', { body: { kind: 'no_consumers', queue: '^idle$', for_ms: 0 } });
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('idle', { durable: false });
    ch.sendToQueue('idle', Buffer.from('waiting'));
    await alertState('idle', 'idle', (a) => a?.state === 'firing');
    await ch.consume('idle', () => undefined, { noAck: false });
    await alertState('idle', 'idle', (a) => a?.state === 'ok');
    assert.deepEqual(await webhookPosts('idle'), [
      ['firing', 'idle'],
      ['resolved', 'idle'],
    ]);
  } finally {
    await conn.close();
  }
});

test('dead-letter growth fires when rejected messages are dead-lettered faster than the threshold, and clears once the window passes without more', async () => {
  // a 1.5 s window: long enough that the growth is seen at one evaluation, short enough to pass in the test
  await api(broker, 'PUT', '/api/alert-rules/dlx', { body: { kind: 'dead_letter_growth', queue: '^work$', threshold: 2, for_ms: 1500 } });
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('work-dlq', { durable: false });
    await ch.assertQueue('work', { durable: false, deadLetterExchange: '', deadLetterRoutingKey: 'work-dlq' });
    for (let i = 0; i < 5; i++) ch.sendToQueue('work', Buffer.from(`bad${i}`));
    let rejected = 0;
    await ch.consume('work', (m) => {
      if (m !== null) {
        ch.reject(m, false);
        rejected++;
      }
    });
    const firing = await alertState('dlx', 'work', (a) => a?.state === 'firing');
    assert.ok(firing!.value > 2, `growth ${firing!.value}`);
    assert.equal(rejected, 5);
    // nothing more is dead-lettered: once the window slides past the burst the alert resolves
    const resolved = await alertState('dlx', 'work', (a) => a?.state === 'ok');
    assert.equal(resolved!.value, 0);
    assert.deepEqual(await webhookPosts('dlx'), [
      ['firing', 'work'],
      ['resolved', 'work'],
    ]);
  } finally {
    await conn.close();
  }
});

test('processing delay fires when the oldest ready message is older than the threshold, and clears once it is consumed', async () => {
  await api(broker, 'PUT', '/api/alert-rules/slow', { body: { kind: 'processing_delay', queue: '^slow$', threshold: 200, for_ms: 0 } });
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('slow', { durable: true });
    ch.sendToQueue('slow', Buffer.from('old'), { persistent: true });
    const firing = await alertState('slow', 'slow', (a) => a?.state === 'firing');
    assert.ok(firing!.value > 200);
    await ch.get('slow', { noAck: true });
    await alertState('slow', 'slow', (a) => a?.state === 'ok');
    assert.deepEqual(await webhookPosts('slow'), [
      ['firing', 'slow'],
      ['resolved', 'slow'],
    ]);
  } finally {
    await conn.close();
  }
});

test('rules from the config file and from the API survive a restart (API rules are kept in the data directory)', async () => {
  const dataDir = tempDataDir();
  const options = { dataDir, alertIntervalMs: INTERVAL_MS, alertRules: [{ name: 'from-config', kind: 'queue_depth', threshold: 100, for_ms: 0 }] };
  const first = await startTestBroker(options);
  try {
    assert.equal((await api(first, 'PUT', '/api/alert-rules/from-api', { body: { kind: 'no_consumers' } })).status, 201);
  } finally {
    await first.close();
  }
  const second = await startTestBroker(options);
  try {
    // the built-in defaults are listed beside them, marked as such
    const names = ((await get(second, '/api/alert-rules')) as Array<{ name: string; default?: boolean }>)
      .filter((r) => r.default !== true)
      .map((r) => r.name)
      .sort();
    assert.deepEqual(names, ['from-api', 'from-config']);
  } finally {
    await second.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
