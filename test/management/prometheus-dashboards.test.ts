/**
 * RabbitMQ's published Grafana dashboards and kafka_exporter-style Kafka lag panels, run against Postbox
 * through a real Prometheus (Debian's `prometheus` package): Postbox under AMQP and Kafka load, Prometheus
 * scraping its Prometheus port every second as RabbitMQ's example setup does (/metrics, and
 * /metrics/detailed?family=queue_coarse_metrics as a second job), then every expression of
 * test/fixtures/rabbitmq-dashboards.promql (scripts/extract-grafana-promql.mjs) is queried through
 * Prometheus's HTTP API with the dashboards' variables filled in as Grafana would, and must return at least
 * one series. What cannot return data by design is listed in NOT_POSTBOX with the reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { startTestBroker, waitFor, delay, type TestBroker } from '../helpers/broker.js';

const FIXTURE = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'rabbitmq-dashboards.promql');

const PROMETHEUS = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
const SKIP =
  PROMETHEUS.error !== undefined || PROMETHEUS.status !== 0 ? 'prometheus is not installed (apt-get install -y --no-install-recommends prometheus)' : false;

/**
 * Dashboards whose expressions cannot return data from Postbox, by design. Every expression of every other
 * dashboard is run and must return data.
 */
const NOT_POSTBOX: Readonly<Record<string, string>> = {
  'Erlang-BEAM.json': 'Erlang VM internals (erlang_vm_*): Postbox runs on Node.js',
  'Erlang-Distribution.json': 'Erlang distribution links between cluster nodes: Postbox is one Node.js process',
  'Erlang-Distributions-Compare.json': "Erlang distribution, PerfTest, node-exporter and cAdvisor metrics: none is the broker's",
  'Erlang-Memory-Allocators.json': 'Erlang VM memory allocators (erlang_vm_allocators)',
  'inet_tcp_metrics.json': 'Erlang distribution TCP metrics (inet_tcp_metrics_*)',
  'RabbitMQ-PerfTest.json': 'metrics of the PerfTest load tool (perftest_*), not of the broker',
  'rabbitmq-exporter_vs_rabbitmq-prometheus.json': 'the scrape jobs of the retired third-party rabbitmq-exporter, compared with the plugin',
  'RabbitMQ-Quorum-Queues-Raft.json': 'Raft log metrics (rabbitmq_raft_*): Postbox has no Raft; a quorum queue is stored like a classic one',
  'RabbitMQ-Stream.json': 'the RabbitMQ Stream protocol (protocol="stream", port 5552), which Postbox does not serve; its streams speak Kafka',
};

/**
 * Kafka lag panels as dashboards built on kafka_exporter write them (e.g. Grafana.com's "Kafka Exporter
 * Overview"), written for this test from kafka_exporter's metric names; variables as in those dashboards.
 */
const KAFKA_LAG: readonly string[] = [
  'label_values(kafka_consumergroup_current_offset, consumergroup)',
  "label_values(kafka_topic_partition_current_offset{topic!='__consumer_offsets'}, topic)",
  'sum(kafka_topic_partitions{topic=~"$topic"}) by (topic)',
  'sum(rate(kafka_topic_partition_current_offset{topic=~"$topic"}[$__rate_interval])) by (topic)',
  'sum(delta(kafka_topic_partition_current_offset{topic=~"$topic"}[$__range])) by (topic)',
  'sum(kafka_consumergroup_lag{consumergroup=~"$consumergroup",topic=~"$topic"}) by (consumergroup, topic)',
  'sum(delta(kafka_consumergroup_current_offset{consumergroup=~"$consumergroup",topic=~"$topic"}[$__range])) by (consumergroup, topic)',
  'kafka_consumergroup_lag{consumergroup=~"$consumergroup",topic=~"$topic"}',
  'sum(kafka_consumergroup_lag_sum{consumergroup=~"$consumergroup"}) by (consumergroup)',
  'kafka_consumergroup_current_offset_sum{consumergroup=~"$consumergroup"}',
  'kafka_consumergroup_members{consumergroup=~"$consumergroup"}',
  'sum(kafka_topic_partition_current_offset{topic=~"$topic"} - kafka_topic_partition_oldest_offset{topic=~"$topic"}) by (topic)',
  'sum(kafka_topic_partition_under_replicated_partition) by (topic)',
  'kafka_topic_partition_in_sync_replica{topic=~"$topic"} - kafka_topic_partition_replicas{topic=~"$topic"}',
  'kafka_brokers',
];

/** Grafana's interval variables: Prometheus scrapes every second, so 4 scrapes per rate window (Grafana's own rule) */
const INTERVALS: Readonly<Record<string, string>> = { __rate_interval: '4s', __interval: '1s', interval: '4s', __range: '1m' };

/** the Kubernetes namespace label a pod monitor adds; the dashboards filter on it */
const NAMESPACE = 'postbox-test';

let broker: TestBroker;
let prometheus: ChildProcess | null = null;
let promUrl = '';
let promDir = '';
let load: Load | null = null;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Load {
  stop(): Promise<void>;
}

/**
 * AMQP traffic of every kind the Overview dashboard plots: confirmed publishes of several sizes, consumers
 * with manual and automatic acks, basic.get with and without acks and on an empty queue, a requeue
 * (redelivery), unroutable messages returned and dropped, and channel, connection and queue churn.
 */
async function startAmqpLoad(url: string): Promise<Load> {
  const conn = await amqp.connect(url);
  const pub = await conn.createConfirmChannel();
  await pub.assertQueue('dash-work', { durable: true });
  await pub.assertQueue('dash-auto', { durable: false });
  await pub.assertQueue('dash-polled', { durable: false });
  await pub.assertQueue('dash-backlog', { durable: true }); // never consumed: ready messages stay
  const worker = await conn.createChannel();
  await worker.prefetch(5);
  let requeued = false;
  let stopped = false;
  await worker.consume('dash-work', (msg) => {
    if (msg === null) return;
    if (!requeued) {
      requeued = true;
      worker.nack(msg, false, true); // comes back redelivered
      return;
    }
    // hold a few unacknowledged for a while so messages_unacked is not always 0
    setTimeout(() => {
      if (!stopped) worker.ack(msg);
    }, 300);
  });
  const auto = await conn.createChannel();
  await auto.consume('dash-auto', () => {}, { noAck: true });
  const poller = await conn.createChannel();
  await poller.assertQueue('dash-nothing-here', { durable: false }); // always empty: get-empty
  const sizes = [20, 500, 5_000, 50_000, 200_000];
  let round = 0;
  const loop = (async () => {
    while (!stopped) {
      round++;
      const body = Buffer.alloc(sizes[round % sizes.length]!, 'x');
      pub.sendToQueue('dash-work', body, { persistent: true });
      pub.sendToQueue('dash-auto', Buffer.from(`a${round}`));
      pub.sendToQueue('dash-polled', Buffer.from(`p${round}`));
      if (round % 3 === 0) pub.sendToQueue('dash-backlog', Buffer.from(`b${round}`), { persistent: true });
      pub.publish('amq.direct', 'nowhere', Buffer.from('returned'), { mandatory: true });
      pub.publish('amq.direct', 'nowhere', Buffer.from('dropped'));
      await pub.waitForConfirms();
      const got = await poller.get('dash-polled', { noAck: round % 2 === 0 });
      if (got !== false && round % 2 === 1) poller.ack(got);
      await poller.get('dash-nothing-here', { noAck: true });
      if (round % 5 === 0) {
        const ch = await conn.createChannel(); // channel churn
        await ch.assertQueue(`dash-churn-${round}`, { exclusive: true }); // queue declared, created ...
        await ch.deleteQueue(`dash-churn-${round}`); // ... and deleted
        await ch.close();
      }
      if (round % 20 === 0) await (await amqp.connect(url)).close(); // connection churn
      await delay(50);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await conn.close();
    },
  };
}

/** a Kafka topic with a consumer group that read the first 30 records, committed, and paused: 25 behind */
async function startKafkaLag(kafkaPort: number): Promise<{ producer: Producer; consumer: Consumer }> {
  const kafka = new Kafka({ clientId: 'dashboards-test', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'dash-events', numPartitions: 2 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: 'dash-events',
    acks: -1,
    messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `first ${i}`, partition: i % 2 })),
  });
  const consumer = kafka.consumer({ groupId: 'dash-readers' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'dash-events', fromBeginning: true });
  let read = 0;
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      read++;
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      if (read === 30) consumer.pause([{ topic: 'dash-events' }]);
    },
  });
  await waitFor(() => read === 30, 20_000, 'the group to read the first 30 records');
  await producer.send({
    topic: 'dash-events',
    acks: -1,
    messages: Array.from({ length: 25 }, (_, i) => ({ key: `k${i}`, value: `later ${i}`, partition: i % 2 })),
  });
  return { producer, consumer };
}

let kafkaClients: { producer: Producer; consumer: Consumer } | null = null;

before(async () => {
  if (SKIP !== false) return;
  broker = await startTestBroker({ prometheusPort: 0 });
  load = await startAmqpLoad(broker.url);
  kafkaClients = await startKafkaLag(broker.kafkaPort);
  promDir = mkdtempSync(join(tmpdir(), 'postbox-prometheus-'));
  const target = `127.0.0.1:${broker.prometheusPort}`;
  // RabbitMQ's example scrape setup (deps/rabbitmq_prometheus/docker/prometheus.yml), every second, with
  // the namespace label a Kubernetes pod monitor adds
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: rabbitmq-server',
      `    static_configs: [{ targets: ['${target}'], labels: { namespace: '${NAMESPACE}' } }]`,
      '  - job_name: rabbitmq-server-detailed',
      '    metrics_path: /metrics/detailed',
      '    params: { family: [queue_coarse_metrics] }',
      `    static_configs: [{ targets: ['${target}'], labels: { namespace: '${NAMESPACE}' } }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  let output = '';
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  prometheus.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  // a guard, not a timing assertion: Prometheus is ready and has scraped /metrics 8 times (a second apart)
  const deadline = Date.now() + 25_000;
  for (;;) {
    if (prometheus.exitCode !== null) throw new Error(`prometheus exited (${prometheus.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`prometheus did not scrape Postbox in time:\n${output}`);
    try {
      const r = await query('count_over_time(up{job="rabbitmq-server"}[1m])');
      const scrapes = r.length === 1 ? Number(r[0]!.value[1]) : 0;
      if (scrapes >= 8) break;
    } catch {
      // not listening yet
    }
    await delay(250);
  }
});

after(async () => {
  if (SKIP !== false) return;
  prometheus?.kill('SIGTERM');
  if (prometheus !== null && prometheus.exitCode === null) await new Promise((r) => prometheus!.once('exit', r));
  await load?.stop();
  if (kafkaClients !== null) {
    await kafkaClients.consumer.disconnect();
    await kafkaClients.producer.disconnect();
  }
  await broker?.stop();
  if (promDir !== '') rmSync(promDir, { recursive: true, force: true });
});

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(expr: string): Promise<Series[]> {
  const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Series[] | [number, string] } };
  if (body.status !== 'success') throw new Error(`${body.error ?? res.status}`);
  const result = body.data!.result;
  if (body.data!.resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
  return result as Series[];
}

/** Grafana's label_values(selector, label): the label's values on the matching series, sorted as the dashboards ask (sort: 1) */
async function labelValues(selector: string, label: string): Promise<string[]> {
  const res = await fetch(`${promUrl}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': selector })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: string[] };
  if (body.status !== 'success') throw new Error(`${body.error ?? res.status}`);
  return [...body.data!].sort();
}

/** `$name` and `${name}` replaced by the variables' values (Grafana's interpolation, single values) */
function interpolate(expr: string, variables: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    return variables[name] ?? whole;
  });
}

/** runs one expression (a label_values variable query or PromQL): the number of series or values it returns */
async function run(expr: string, variables: Record<string, string>, name?: string): Promise<number> {
  const lv = /^label_values\((.*),\s*(\w+)\s*\)$/.exec(expr);
  if (lv !== null) {
    const values = await labelValues(interpolate(lv[1]!, variables), lv[2]!);
    if (name !== undefined && values.length > 0) variables[name] = values[0]!; // Grafana's first value
    return values.length;
  }
  return (await query(interpolate(expr, variables))).length;
}

interface Expression {
  readonly dashboard: string;
  readonly where: string;
  readonly expr: string;
}

function fixtureExpressions(): Expression[] {
  return readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [dashboard, where, expr] = line.split('\t') as [string, string, string];
      return { dashboard, where, expr };
    });
}

test("every expression of RabbitMQ's Grafana dashboards returns data from Postbox under load, through a real Prometheus", { skip: SKIP }, async () => {
  const all = fixtureExpressions();
  assert.ok(all.length > 200, `the fixture lists RabbitMQ's dashboards' expressions (${all.length})`);
  const byDashboard = new Map<string, Expression[]>();
  for (const e of all) byDashboard.set(e.dashboard, [...(byDashboard.get(e.dashboard) ?? []), e]);
  for (const dashboard of Object.keys(NOT_POSTBOX)) assert.ok(byDashboard.has(dashboard), `${dashboard}, listed as not for Postbox, is in the fixture`);
  const failures: string[] = [];
  let passed = 0;
  let overview: Record<string, string> = {};
  for (const [dashboard, expressions] of byDashboard) {
    if (NOT_POSTBOX[dashboard] !== undefined) continue;
    const variables: Record<string, string> = { ...INTERVALS };
    // variables first, in their order: later ones use earlier ones' values
    for (const e of expressions) {
      const name = e.where.startsWith('var:') ? e.where.slice(4) : undefined;
      try {
        const n = await run(e.expr, variables, name);
        if (n === 0) failures.push(`${dashboard} / ${e.where}: no data\n    ${interpolate(e.expr, variables)}`);
        else passed++;
      } catch (err) {
        failures.push(`${dashboard} / ${e.where}: ${(err as Error).message}\n    ${interpolate(e.expr, variables)}`);
      }
    }
    if (dashboard === 'RabbitMQ-Overview.json') overview = variables;
  }
  const skipped = all.filter((e) => NOT_POSTBOX[e.dashboard] !== undefined).length;
  console.log(`RabbitMQ dashboards: ${passed} expressions returned data, ${failures.length} did not, ${skipped} not run (dashboards not for Postbox)`);
  assert.deepEqual(failures, [], `expressions without data:\n${failures.join('\n')}`);
  assert.ok(passed >= 50, `the Overview dashboard's expressions were run (${passed})`);
  assert.equal(overview.namespace, NAMESPACE);
  assert.equal(overview.rabbitmq_cluster, `postbox@${hostname()}`, 'the cluster is named after the node');
  assert.equal(overview.endpoint, 'aggregated', 'the dashboards pick /metrics, not the detailed scrape');

  // the figures behind the panels are Postbox's: the node, its queues' backlog, messages flowing
  const [nodes] = await query(`count(rabbitmq_identity_info{namespace="${NAMESPACE}",rabbitmq_endpoint="aggregated"})`);
  assert.equal(Number(nodes!.value[1]), 1);
  const [ready] = await query(`sum(rabbitmq_queue_messages_ready{job="rabbitmq-server",queue="dash-backlog"})`);
  assert.ok(Number(ready!.value[1]) > 0, 'dash-backlog has ready messages');
  const [incoming] = await query('sum(rate(rabbitmq_global_messages_received_total[4s]))');
  assert.ok(Number(incoming!.value[1]) > 0, 'messages are being published');
  const [detailed] = await query('count(rabbitmq_detailed_queue_messages_ready{job="rabbitmq-server-detailed"})');
  assert.ok(Number(detailed!.value[1]) >= 4, '/metrics/detailed?family=queue_coarse_metrics lists the queues');
});

test("Kafka lag panels on kafka_exporter names return data, and the lag is the group's", { skip: SKIP }, async () => {
  const variables: Record<string, string> = { ...INTERVALS };
  const failures: string[] = [];
  for (const [i, expr] of KAFKA_LAG.entries()) {
    const name = i === 0 ? 'consumergroup' : i === 1 ? 'topic' : undefined;
    const n = await run(expr, variables, name).catch((err: Error) => {
      failures.push(`${expr}: ${err.message}`);
      return -1;
    });
    if (n === 0) failures.push(`no data: ${interpolate(expr, variables)}`);
  }
  console.log(`Kafka lag panels: ${KAFKA_LAG.length - failures.length} of ${KAFKA_LAG.length} expressions returned data`);
  assert.deepEqual(failures, []);
  assert.equal(variables.consumergroup, 'dash-readers');
  assert.equal(variables.topic, 'dash-events');
  const lag = await query('sum(kafka_consumergroup_lag{consumergroup="dash-readers",topic="dash-events"})');
  assert.equal(Number(lag[0]!.value[1]), 25, 'the group read 30 of 55 records');
  const perPartition = await query('kafka_consumergroup_lag{consumergroup="dash-readers"}');
  assert.deepEqual(perPartition.map((s) => s.metric.partition).sort(), ['0', '1']);
});
