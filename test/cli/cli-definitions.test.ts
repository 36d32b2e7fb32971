/** `postbox definitions export|import`: one broker's topology exported and imported into a fresh broker. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { cli, cliJson } from './helpers/cli-run.js';

let scratch: string;

before(() => {
  scratch = tempDataDir('postbox-cli-defs-');
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The declarative part of what a broker reports, in a stable order, for comparing two brokers. */
async function topology(broker: TestBroker): Promise<{ queues: unknown[]; exchanges: unknown[]; bindings: unknown[] }> {
  const queues = (await cliJson<any[]>(broker, 'queues')).map((q) => [q.vhost, q.name, q.durable, q.type, JSON.stringify(q.arguments ?? {})]);
  const exchanges = (await cliJson<any[]>(broker, 'exchanges')).map((e) => [
    e.vhost,
    e.name,
    e.type,
    e.durable,
    e.auto_delete,
    e.internal,
    JSON.stringify(e.arguments ?? {}),
  ]);
  const bindings = (await cliJson<any[]>(broker, 'bindings')).map((b) => [
    b.vhost,
    b.source,
    b.destination,
    b.destination_type,
    b.routing_key,
    JSON.stringify(b.arguments ?? {}),
  ]);
  const order = (rows: unknown[][]): unknown[] => rows.map((r) => JSON.stringify(r)).sort();
  return { queues: order(queues), exchanges: order(exchanges), bindings: order(bindings) };
}

test('definitions exported from one broker and imported into a fresh one give the same queues, exchanges and bindings', async () => {
  const source = await startTestBroker();
  const target = await startTestBroker();
  try {
    const conn = await amqp.connect(source.url);
    const ch = await conn.createChannel();
    await ch.assertExchange('defs.orders', 'topic', { durable: true });
    await ch.assertExchange('defs.audit', 'fanout', { durable: true, arguments: { 'alternate-exchange': 'amq.fanout' } });
    await ch.assertQueue('defs.new-orders', { durable: true, arguments: { 'x-message-ttl': 60_000, 'x-max-length': 100 } });
    await ch.assertQueue('defs.audit-log', { durable: true });
    await ch.bindQueue('defs.new-orders', 'defs.orders', 'orders.new.#');
    await ch.bindQueue('defs.audit-log', 'defs.audit', '');
    await ch.bindExchange('defs.audit', 'defs.orders', '#');
    await conn.close();
    const policy = await cli(source, 'policies', 'set', 'defs-limit', '^defs\\.', '{"max-length":500}', '--apply-to', 'queues');
    assert.equal(policy.code, 0, policy.stderr);

    const file = join(scratch, 'definitions.json');
    await source.streams.createTopic('defs-topic', 3, { 'retention.ms': '3600000' });
    const rule = await fetch(`${source.httpUrl}/api/alert-rules/defs-depth`, {
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'queue_depth', queue: '^defs\\.', threshold: 50, for_ms: 0 }),
    });
    assert.equal(rule.status, 201);
    const exported = await cli(source, 'definitions', 'export', '--file', file);
    assert.equal(exported.code, 0, exported.stderr);
    const rules = JSON.parse(readFileSync(file, 'utf8')).alert_rules.length; // the broker may ship default rules besides ours
    assert.ok(rules >= 1);
    assert.match(
      exported.stdout,
      new RegExp(
        `^exported definitions to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*\\b1 policies, 2 queues, 2 exchanges, 3 bindings, 1 topics, ${rules} alert_rules\\n$`,
      ),
    );
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the export holds password hashes: readable by its owner only');
    const written = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(written.queues.map((q: any) => q.name).sort(), ['defs.audit-log', 'defs.new-orders']);

    const imported = await cli(target, 'definitions', 'import', '--file', file);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, new RegExp(`^imported definitions from .*: .*\\b2 queues, 2 exchanges, 3 bindings, 1 topics, ${rules} alert_rules\\n$`));
    assert.equal(target.streams.topic('defs-topic')?.partitions.length, 3, 'the topic came across');
    assert.ok(!imported.stderr.includes('\r'), 'no progress bar when stderr is not a terminal');

    assert.deepEqual(await topology(target), await topology(source));
    const policies = await cliJson<any[]>(target, 'policies', 'list');
    assert.deepEqual(
      policies.map((p) => [p.name, p.pattern, p.definition]),
      [['defs-limit', '^defs\\.', { 'max-length': 500 }]],
    );
    const summary = await cliJson(target, 'definitions', 'import', '--file', file);
    assert.equal(summary.result, 'imported');
    assert.equal(summary.queues, 2);
  } finally {
    await source.stop();
    await target.stop();
  }
});

test('definitions export without --file prints the definitions JSON on stdout and its summary on stderr', async () => {
  const broker = await startTestBroker();
  try {
    const conn = await amqp.connect(broker.url);
    await (await conn.createChannel()).assertQueue('defs.stdout', { durable: true });
    await conn.close();
    const r = await cli(broker, 'definitions', 'export');
    assert.equal(r.code, 0, r.stderr);
    const definitions = JSON.parse(r.stdout); // stdout is the JSON alone
    const counts = [
      'users',
      'vhosts',
      'permissions',
      'topic_permissions',
      'parameters',
      'global_parameters',
      'policies',
      'queues',
      'exchanges',
      'bindings',
      'topics',
      'alert_rules',
    ]
      .filter((section) => Array.isArray(definitions[section]))
      .map((section) => `${definitions[section].length} ${section}`);
    assert.ok(counts.some((c) => c.endsWith(' topics')) && counts.some((c) => c.endsWith(' alert_rules')));
    assert.equal(r.stderr, `exported definitions to stdout: ${counts.join(', ')}\n`, 'the summary goes to stderr');
    const json = await cli(broker, 'definitions', 'export', '--json');
    assert.equal(JSON.parse(json.stderr).result, 'exported');
    assert.equal(JSON.parse(json.stdout).queues.length, definitions.queues.length);
    assert.ok(definitions.queues.some((q: any) => q.name === 'defs.stdout' && q.vhost === '/' && q.durable === true));
    assert.ok(Array.isArray(definitions.exchanges) && Array.isArray(definitions.bindings));
  } finally {
    await broker.stop();
  }
});

test('importing a file that is not JSON exits 1 and sends nothing', async () => {
  const broker = await startTestBroker();
  try {
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, '{"queues": [');
    const r = await cli(broker, 'definitions', 'import', '--file', bad);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^postbox definitions: .*bad\.json is not valid JSON/);
    const missing = await cli(broker, 'definitions', 'import', '--file', join(scratch, 'absent.json'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*absent\.json/);
  } finally {
    await broker.stop();
  }
});
