/**
 * Alert rules and the webhook as an operator configures them: in the JSON config file given to the real
 * `postbox serve --config`, not as options of an in-process broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir } from '../helpers/broker.js';
import { MAX_ALERT_RULES } from '../../src/management/alerts.js';
import { spawnBroker } from '../helpers/process.js';

interface WebhookEvent {
  alert: string;
  state: string;
  queue: string;
  value: number;
}

const RULE = { name: 'file-depth', kind: 'queue_depth', queue: '^file-q$', threshold: 1, for_ms: 0 };

/** Poll until `done()` holds; a generous guard, never a timing assertion. */
async function until(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('alert rules and the webhook from the config file: the rule is listed, fires and resolves, and both transitions are posted', async () => {
  const events: WebhookEvent[] = [];
  const webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      events.push(JSON.parse(body) as WebhookEvent);
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const hookPort = (webhook.address() as { port: number }).port;
  const dir = tempDataDir('postbox-alert-config-');
  const configFile = join(dir, 'postbox.json');
  writeFileSync(configFile, JSON.stringify({ alertWebhook: `http://127.0.0.1:${hookPort}/hook`, alertInterval: 40, alerts: [RULE] }));
  const broker = await spawnBroker(join(dir, 'data'), ['--config', configFile]);
  const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');
  const apiGet = async (path: string): Promise<unknown> => {
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}${path}`, { headers: { Authorization: auth } });
    assert.equal(res.status, 200, `GET ${path}`);
    return res.json();
  };
  try {
    assert.deepEqual(await apiGet(`/api/alert-rules/${RULE.name}`), { ...RULE, vhost: '' });
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('file-q', { durable: false });
      ch.sendToQueue('file-q', Buffer.from('one'));
      ch.sendToQueue('file-q', Buffer.from('two'));
      await until(() => events.some((e) => e.alert === RULE.name && e.state === 'firing'), 'the webhook to get the firing alert');
      const alerts = (await apiGet('/api/alerts')) as Array<{ rule: string; queue: string; state: string; value: number }>;
      assert.deepEqual(
        alerts.filter((a) => a.rule === RULE.name).map((a) => [a.queue, a.state, a.value]),
        [['file-q', 'firing', 2]],
      );
      await ch.purgeQueue('file-q');
      await until(() => events.some((e) => e.alert === RULE.name && e.state === 'resolved'), 'the webhook to get the resolved alert');
    } finally {
      await conn.close();
    }
    assert.deepEqual(
      events.filter((e) => e.alert === RULE.name).map((e) => [e.state, e.queue, e.value]),
      [
        ['firing', 'file-q', 2],
        ['resolved', 'file-q', 0],
      ],
    );
  } finally {
    broker.child.kill('SIGTERM');
    await broker.exited;
    await new Promise<void>((resolve) => webhook.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a config file with more alert rules than a broker keeps stops the start with one line naming the limit', async () => {
  const dataDir = tempDataDir();
  try {
    const alertRules = Array.from({ length: MAX_ALERT_RULES + 1 }, (_, i) => ({ name: `r${i}`, kind: 'no_consumers' }));
    await assert.rejects(startTestBroker({ dataDir, alertRules }), /config file: 101 alerts, at most 100/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
