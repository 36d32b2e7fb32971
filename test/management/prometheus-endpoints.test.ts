/**
 * The Prometheus port (--prometheus-port, RabbitMQ's 15692) and the families RabbitMQ's plugin serves that
 * dashboards join on or plot: rabbitmq_identity_info, the protocol-labelled global counters, churn, node
 * resources, message sizes, per-channel series on /metrics/per-object, and /metrics/detailed's `family`
 * and `vhost` parameters. (test/management/prometheus-dashboards.test.ts runs the dashboards' queries.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import type { UserConfig } from '../../src/config/config.js';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';

const GUEST: UserConfig = { name: 'guest', password: 'guest', vhosts: ['/', 'other'], loopbackOnly: true, tags: ['administrator'] };
const WATCHER: UserConfig = { name: 'watcher', password: 'watcher-pw', vhosts: ['/'], loopbackOnly: false, tags: ['monitoring'] };
const APP: UserConfig = { name: 'app', password: 'app-pw', vhosts: ['/'], loopbackOnly: false, tags: [] };
const basic = (u: UserConfig): string => `Basic ${Buffer.from(`${u.name}:${u.password}`).toString('base64')}`;

let broker: TestBroker;
let promUrl = '';
before(async () => {
  broker = await startTestBroker({ prometheusPort: 0, users: [GUEST, WATCHER, APP] });
  promUrl = `http://127.0.0.1:${broker.prometheusPort}`;
});
after(async () => {
  await broker.stop();
});

async function scrape(path: string): Promise<{ text: string; values: Map<string, number> }> {
  const res = await fetch(`${promUrl}${path}`);
  assert.equal(res.status, 200, path);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return { text, values };
}

/** every family's samples are contiguous, each family has one HELP and one TYPE (Prometheus's text format) */
function assertWellFormed(text: string): void {
  const seen = new Set<string>();
  let current = '';
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type !== null) {
      assert.ok(!seen.has(type[1]!), `family ${type[1]} declared once`);
      seen.add(type[1]!);
      current = type[1]!;
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0];
    const family = name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(name === current || family === current, `${name} is written inside its family (current ${current})`);
  }
}

test('the Prometheus port serves /metrics with rabbitmq_identity_info and rabbitmq_build_info, and nothing but the metrics', async () => {
  const { text, values } = await scrape('/metrics');
  assertWellFormed(text);
  const identity = /^rabbitmq_identity_info\{(.*)\} 1$/m.exec(text);
  assert.ok(identity !== null, 'rabbitmq_identity_info is there');
  assert.match(identity[1]!, new RegExp(`rabbitmq_node="postbox@${hostname()}",rabbitmq_cluster="postbox@${hostname()}"`));
  assert.match(identity[1]!, /rabbitmq_cluster_permanent_id="postbox-cluster-id-[\w-]{22}",rabbitmq_endpoint="aggregated"/);
  assert.match(text, /^rabbitmq_build_info\{rabbitmq_version="[\d.]+",product_name="Postbox",product_version="[^"]+",nodejs_version="[^"]+"\} 1$/m);
  assert.ok(values.get('rabbitmq_process_open_fds')! > 0);
  assert.ok(values.get('rabbitmq_process_max_fds')! >= values.get('rabbitmq_process_open_fds')!);
  assert.ok(values.get('process_resident_memory_bytes')! > 0);
  assert.equal(values.get('rabbitmq_disk_space_available_limit_bytes'), broker.core.alarm!.disk.limit);
  assert.ok(values.get('rabbitmq_erlang_uptime_seconds')! > 0);
  const other = await fetch(`${promUrl}/api/overview`);
  assert.equal(other.status, 404, 'the management API is not on the Prometheus port');
  await other.text();
  const perObject = await scrape('/metrics/per-object');
  assert.match(perObject.text, /rabbitmq_endpoint="per-object"/);
  const overview = await (await fetch(`${broker.httpUrl}/api/overview`, { headers: { Authorization: basic(GUEST) } })).json();
  assert.ok(
    overview.listeners.some((l: { protocol: string; port: number }) => l.protocol === 'http/prometheus' && l.port === broker.prometheusPort),
    'the listener is listed as RabbitMQ lists it',
  );
  const identityOnManagementPort = await (await fetch(`${broker.httpUrl}/metrics`)).text();
  assert.match(identityOnManagementPort, /^rabbitmq_identity_info\{/m, '/metrics stays on the management port');
});

test('global counters carry protocol="amqp091" and count confirms, gets, publishers, churn and message sizes', async () => {
  const conn = await amqp.connect(broker.url);
  try {
    const before = (await scrape('/metrics')).values;
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('counted', { durable: false });
    for (const size of [10, 500, 5000]) ch.sendToQueue('counted', Buffer.alloc(size));
    await ch.waitForConfirms();
    const getter = await conn.createChannel();
    assert.notEqual(await getter.get('counted', { noAck: true }), false);
    const manual = await getter.get('counted', { noAck: false });
    assert.notEqual(manual, false);
    getter.ack(manual as amqp.GetMessage);
    await getter.get('counted', { noAck: true });
    assert.equal(await getter.get('counted', { noAck: true }), false, 'empty now');
    await getter.close();
    await waitFor(() => broker.core.vhosts.get('/')!.queues.get('counted')!.counters.ack === 1, 10_000, 'the ack');
    const { values } = await scrape('/metrics');
    const delta = (name: string): number => values.get(name)! - (before.get(name) ?? 0);
    const g = (name: string): string => `rabbitmq_global_${name}{protocol="amqp091"}`;
    assert.equal(delta(g('messages_received_total')), 3);
    assert.equal(delta(g('messages_received_confirm_total')), 3);
    assert.equal(delta(g('messages_confirmed_total')), 3);
    assert.equal(delta(g('messages_delivered_get_auto_ack_total')), 2);
    assert.equal(delta(g('messages_delivered_get_manual_ack_total')), 1);
    assert.equal(delta(g('messages_get_empty_total')), 1);
    assert.equal(delta(g('messages_acknowledged_total')), 1);
    assert.equal(values.get(g('publishers')), 1, 'one channel has published');
    assert.equal(delta('rabbitmq_channels_opened_total'), 2);
    assert.equal(delta('rabbitmq_channels_closed_total'), 1);
    assert.equal(delta('rabbitmq_queues_declared_total'), 1);
    assert.equal(delta('rabbitmq_queues_created_total'), 1);
    assert.equal(delta('rabbitmq_message_size_bytes_bucket{protocol="amqp091",le="100.0"}'), 1);
    assert.equal(delta('rabbitmq_message_size_bytes_bucket{protocol="amqp091",le="1000.0"}'), 2);
    assert.equal(delta('rabbitmq_message_size_bytes_bucket{protocol="amqp091",le="10000.0"}'), 3);
    assert.equal(delta('rabbitmq_message_size_bytes_bucket{protocol="amqp091",le="+Inf"}'), 3);
    assert.equal(delta('rabbitmq_message_size_bytes_sum{protocol="amqp091"}'), 5510);
    assert.equal(delta('rabbitmq_connections_opened_total'), 0, 'no connection opened meanwhile');
    await ch.deleteQueue('counted');
    const after = (await scrape('/metrics')).values;
    assert.equal(after.get('rabbitmq_queues_deleted_total')! - values.get('rabbitmq_queues_deleted_total')!, 1);
  } finally {
    await conn.close();
  }
});

test('connections opened and closed are counted over AMQP and Kafka alike', async () => {
  const before = (await scrape('/metrics')).values;
  await (await amqp.connect(broker.url)).close();
  const admin = new Kafka({ clientId: 'churn', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.listTopics();
  await admin.disconnect();
  await waitFor(() => broker.core.clients.size === 0, 10_000, 'the connections to go');
  const after = (await scrape('/metrics')).values;
  const opened = after.get('rabbitmq_connections_opened_total')! - before.get('rabbitmq_connections_opened_total')!;
  const closed = after.get('rabbitmq_connections_closed_total')! - before.get('rabbitmq_connections_closed_total')!;
  assert.ok(opened >= 2, `one AMQP and at least one Kafka connection (${opened})`);
  assert.equal(closed, opened);
});

test('/metrics/per-object has a series per channel and per connection', async () => {
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('per-channel', { durable: false });
    await ch.assertQueue('per-channel-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.prefetch(7);
    await ch.consume('per-channel', () => {});
    ch.sendToQueue('per-channel', Buffer.from('x'));
    await waitFor(() => broker.core.vhosts.get('/')!.queues.get('per-channel')!.unackedCount === 1, 10_000, 'one delivery');
    const { text } = await scrape('/metrics/per-object');
    assertWellFormed(text);
    const consumers = /^rabbitmq_channel_consumers\{channel="(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(1\))"\} 1$/m.exec(text);
    assert.ok(consumers !== null, 'the channel has its consumer');
    const channel = consumers[1]!.replace(/[()]/g, '\\$&');
    assert.match(text, new RegExp(`^rabbitmq_channel_messages_unacked\\{channel="${channel}"\\} 1$`, 'm'));
    assert.match(text, new RegExp(`^rabbitmq_consumer_prefetch\\{channel="${channel}"\\} 7$`, 'm'));
    assert.match(text, /^rabbitmq_channel_messages_published_total\{channel="[^"]+"\} 1$/m);
    assert.match(text, /^rabbitmq_connection_incoming_bytes_total\{connection="127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+"\} [1-9]\d*$/m);
    assert.match(text, /^rabbitmq_connection_channels\{connection="[^"]+"\} 1$/m);
    assert.match(text, /^rabbitmq_queue_info\{vhost="\/",queue="per-channel",queue_type="rabbit_classic_queue",membership="leader"\} 1$/m);
    assert.match(text, /^rabbitmq_queue_info\{vhost="\/",queue="per-channel-quorum",queue_type="rabbit_quorum_queue",membership="leader"\} 1$/m);
  } finally {
    await conn.close();
  }
});

test("/metrics/detailed writes only the families asked for, limited to the vhosts asked for, with RabbitMQ's prefixes", async () => {
  const conn = await amqp.connect(broker.url);
  const created = await fetch(`${broker.httpUrl}/api/vhosts/other`, { method: 'PUT', headers: { Authorization: basic(GUEST) } });
  assert.ok(created.status === 201 || created.status === 204, `vhost created (${created.status})`);
  await created.text();
  const other = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}/other`);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('detailed-root', { durable: false });
    ch.sendToQueue('detailed-root', Buffer.from('a'));
    const och = await other.createChannel();
    await och.assertQueue('detailed-other', { durable: false });
    await ch.checkQueue('detailed-root');

    const none = await scrape('/metrics/detailed');
    assert.doesNotMatch(none.text, /^rabbitmq_detailed_queue/m, 'no family asked: no family written');
    assert.match(none.text, /^rabbitmq_identity_info\{.*rabbitmq_endpoint="detailed"\} 1$/m);

    const coarse = await scrape('/metrics/detailed?family=queue_coarse_metrics&vhost=%2F');
    assertWellFormed(coarse.text);
    assert.equal(coarse.values.get('rabbitmq_detailed_queue_messages_ready{vhost="/",queue="detailed-root"}'), 1);
    assert.equal(coarse.values.get('rabbitmq_detailed_queue_info{vhost="/",queue="detailed-root",queue_type="rabbit_classic_queue",membership="leader"}'), 1);
    assert.equal(coarse.values.has('rabbitmq_detailed_queue_messages_ready{vhost="other",queue="detailed-other"}'), false, 'vhost=/ leaves out other');
    assert.equal(coarse.values.has('rabbitmq_detailed_queue_consumers{vhost="/",queue="detailed-root"}'), false, 'queue_consumer_count was not asked');
    assert.doesNotMatch(coarse.text, /^rabbitmq_queue_messages_ready/m, 'no /metrics families');

    const several = await scrape(
      '/metrics/detailed?family=queue_consumer_count&family=vhost_status&family=exchange_names&family=connection_churn_metrics&family=no_such_family',
    );
    assertWellFormed(several.text);
    assert.equal(several.values.get('rabbitmq_detailed_queue_consumers{vhost="other",queue="detailed-other"}'), 0, 'every vhost without vhost=');
    assert.equal(several.values.get('rabbitmq_cluster_vhost_status{vhost="other"}'), 1);
    assert.equal(several.values.get('rabbitmq_cluster_exchange_name{vhost="/",exchange="amq.direct",type="direct"}'), 1);
    assert.ok(several.values.get('rabbitmq_detailed_connections_opened_total')! >= 2);

    const refused = await fetch(`${promUrl}/metrics/detailed?family=queue_coarse_metrics&queue=.*`);
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /'queue' filter/);
  } finally {
    await other.close();
    await conn.close();
  }
});

test('--metrics-require-auth guards the Prometheus port too: 401 without credentials, 403 without a management tag, 200 for monitoring', async () => {
  const closed = await startTestBroker({ prometheusPort: 0, metricsRequireAuth: true, users: [GUEST, WATCHER, APP] });
  try {
    for (const path of ['/metrics', '/metrics/per-object', '/metrics/detailed?family=queue_coarse_metrics']) {
      const anonymous = await fetch(`http://127.0.0.1:${closed.prometheusPort}${path}`);
      assert.equal(anonymous.status, 401, path);
      await anonymous.text();
      const app = await fetch(`http://127.0.0.1:${closed.prometheusPort}${path}`, { headers: { Authorization: basic(APP) } });
      assert.equal(app.status, 403, path);
      await app.text();
      const watcher = await fetch(`http://127.0.0.1:${closed.prometheusPort}${path}`, { headers: { Authorization: basic(WATCHER) } });
      assert.equal(watcher.status, 200, path);
      assert.match(await watcher.text(), /^rabbitmq_identity_info\{/m);
    }
  } finally {
    await closed.stop();
  }
});

test('--prometheus-port -1 turns the listener off', async () => {
  const off = await startTestBroker({ prometheusPort: -1 });
  try {
    assert.equal(off.prometheusPort, -1);
  } finally {
    await off.stop();
  }
});
