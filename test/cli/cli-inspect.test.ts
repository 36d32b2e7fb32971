/** `postbox status|queues|exchanges|bindings` against a real broker, as tables and as JSON; help and failures. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { cli, cliJson, cliOk, runCli, tableRows, unusedPort } from './helpers/cli-run.js';

const OTHER_VHOST = 'cli-other';

let broker: TestBroker;
let conn: ChannelModel;
let ch: ConfirmChannel;

before(async () => {
  broker = await startTestBroker({ vhosts: ['/', OTHER_VHOST] });
  conn = await amqp.connect(broker.url);
  ch = await conn.createConfirmChannel();
  // cli.q1: 3 messages, one of them delivered and not acked; cli.q2: one consumer; cli.topic -> cli.q1
  await ch.assertQueue('cli.q1', { durable: true });
  await ch.assertQueue('cli.q2', { durable: false, arguments: { 'x-message-ttl': 60_000 } });
  await ch.assertExchange('cli.topic', 'topic', { durable: true });
  await ch.assertExchange('cli.fanout', 'fanout', { durable: false, autoDelete: true });
  await ch.bindQueue('cli.q1', 'cli.topic', 'orders.#');
  await ch.bindExchange('cli.fanout', 'cli.topic', 'audit.*');
  for (let i = 1; i <= 3; i++) ch.sendToQueue('cli.q1', Buffer.from(`m${i}`));
  await ch.waitForConfirms();
  assert.notEqual(await ch.get('cli.q1', { noAck: false }), false);
  await ch.consume('cli.q2', () => {});
});

after(async () => {
  await conn.close();
  await broker.stop();
});

test('postbox --help lists every subcommand, and each one has a --help naming its flags', async () => {
  const main = await runCli(['--help']);
  assert.equal(main.code, 0);
  const commands = ['status', 'queues', 'exchanges', 'bindings', 'topics', 'groups', 'publish', 'consume', 'purge', 'definitions', 'policies', 'bench'];
  for (const c of commands) assert.match(main.stdout, new RegExp(`postbox ${c}\\b`), `postbox --help lacks ${c}`);
  for (const c of commands) {
    const help = await runCli([c, '--help']);
    assert.equal(help.code, 0, `${c} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`postbox ${c}`));
    if (c !== 'policies') assert.match(help.stdout, /--http-port/);
  }
  assert.match((await runCli(['publish', '--help'])).stdout, /--routing-key <key>[\s\S]*--count <n>[\s\S]*--properties <json>/);
  assert.match((await runCli(['bench', '--help'])).stdout, /--messages <n>[\s\S]*--size <bytes>/);
});

test('status shows the version, listeners, object totals and queued messages, as a table and as JSON', async () => {
  const overview = await cliJson(broker, 'status');
  assert.equal(overview.product_version, '0.1.0');
  assert.equal(overview.object_totals.queues, 2);
  assert.equal(overview.object_totals.connections, 1);
  assert.equal(overview.object_totals.consumers, 1);
  assert.equal(overview.queue_totals.messages, 3);
  assert.equal(overview.queue_totals.messages_ready, 2);
  assert.equal(overview.queue_totals.messages_unacknowledged, 1);
  assert.equal(overview.message_stats.publish, 3);

  const table = await cli(broker, 'status');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^product\s+Postbox 0\.1\.0$/m);
  assert.match(table.stdout, new RegExp(`^listeners\\s+.*amqp 127\\.0\\.0\\.1:${broker.amqpPort}.*http 127\\.0\\.0\\.1:${broker.httpPort}`, 'm'));
  assert.match(table.stdout, /^queues\s+2$/m);
  assert.match(table.stdout, /^connections\s+1$/m);
  assert.match(table.stdout, /^consumers\s+1$/m);
  assert.match(table.stdout, /^messages\s+3 \(ready 2, unacked 1\)$/m);
  assert.match(table.stdout, /^published\s+3 \(\d+\.\d\/s\)$/m);
  assert.match(table.stdout, new RegExp(`^exchanges\\s+${overview.object_totals.exchanges}$`, 'm'));
});

test('queues lists each queue with its ready, unacked and consumer counts', async () => {
  const table = await cli(broker, 'queues');
  assert.equal(table.code, 0, table.stderr);
  const rows = tableRows(table.stdout);
  const q1 = rows.find((r) => r.name === 'cli.q1');
  const q2 = rows.find((r) => r.name === 'cli.q2');
  assert.deepEqual([q1?.vhost, q1?.durable, q1?.messages, q1?.ready, q1?.unacked, q1?.consumers], ['/', 'yes', '3', '2', '1', '0']);
  assert.deepEqual([q2?.durable, q2?.messages, q2?.consumers], ['no', '0', '1']);

  const json = await cliJson<any[]>(broker, 'queues');
  const j1 = json.find((q) => q.name === 'cli.q1');
  assert.deepEqual([j1.vhost, j1.durable, j1.messages, j1.messages_ready, j1.messages_unacknowledged, j1.consumers], ['/', true, 3, 2, 1, 0]);
});

test('queues --vhost shows only that vhost, and an unknown vhost exits 1 with the 404', async () => {
  const other = await amqp.connect(`${broker.url}/${OTHER_VHOST}`);
  try {
    const och = await other.createChannel();
    await och.assertQueue('cli.elsewhere');
    const only = await cliJson<any[]>(broker, 'queues', '--vhost', OTHER_VHOST);
    assert.deepEqual(
      only.map((q) => [q.vhost, q.name]),
      [[OTHER_VHOST, 'cli.elsewhere']],
    );
    const all = await cliJson<any[]>(broker, 'queues');
    assert.ok(all.some((q) => q.name === 'cli.elsewhere') && all.some((q) => q.name === 'cli.q1'));
  } finally {
    await other.close();
  }
  const missing = await cli(broker, 'queues', '--vhost', 'no-such-vhost');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^postbox queues: .*\(HTTP 404\)\n$/);
});

test('exchanges lists the default exchange and the declared ones with their types and flags', async () => {
  const rows = tableRows(await cliOk(broker, 'exchanges', '--vhost', '/'));
  assert.ok(rows.some((r) => r.name === '(AMQP default)' && r.type === 'direct'));
  const topic = rows.find((r) => r.name === 'cli.topic');
  const fanout = rows.find((r) => r.name === 'cli.fanout');
  assert.deepEqual([topic?.type, topic?.durable, topic?.auto_delete, topic?.internal], ['topic', 'yes', 'no', 'no']);
  assert.deepEqual([fanout?.type, fanout?.durable, fanout?.auto_delete], ['fanout', 'no', 'yes']);
  const json = await cliJson<any[]>(broker, 'exchanges');
  const declared = json.find((e) => e.name === 'cli.topic');
  assert.deepEqual([declared.vhost, declared.type, declared.durable, declared.auto_delete, declared.internal], ['/', 'topic', true, false, false]);
  assert.ok(json.some((e) => e.name === '' && e.type === 'direct'));
});

test('bindings lists queue and exchange bindings with their routing keys', async () => {
  const rows = tableRows(await cliOk(broker, 'bindings'));
  assert.ok(rows.some((r) => r.source === 'cli.topic' && r.destination === 'cli.q1' && r.destination_type === 'queue' && r.routing_key === 'orders.#'));
  assert.ok(rows.some((r) => r.source === 'cli.topic' && r.destination === 'cli.fanout' && r.destination_type === 'exchange' && r.routing_key === 'audit.*'));
  assert.ok(rows.some((r) => r.source === '(AMQP default)' && r.destination === 'cli.q1' && r.routing_key === 'cli.q1'));
  const json = await cliJson<any[]>(broker, 'bindings', '--vhost', '/');
  assert.ok(
    json.some(
      (b) => b.source === 'cli.topic' && b.destination === 'cli.q1' && b.destination_type === 'queue' && b.routing_key === 'orders.#' && b.vhost === '/',
    ),
  );
});

test('an unreachable broker makes a command exit 1 with one clear line on stderr', async () => {
  const port = await unusedPort();
  for (const command of [['status'], ['queues'], ['purge', '--queue', 'q'], ['definitions', 'export']]) {
    const r = await runCli([...command, '--host', '127.0.0.1', '--http-port', String(port)]);
    assert.equal(r.code, 1, `${command.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      new RegExp(
        `^postbox ${command[0]}: cannot reach the management API at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): is the broker running\\b.*\\n$`,
      ),
    );
  }
});

test("wrong credentials exit 1 with the broker's reason", async () => {
  const r = await cli(broker, 'status', '--user', 'guest', '--password', 'wrong');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\(HTTP 401\)\n$/);
});

test("wrong usage exits 2 and prints the reason and the command's usage", async () => {
  const cases: [string[], RegExp][] = [
    [['queues', '--no-such-flag'], /^postbox queues: unknown option --no-such-flag\n/],
    [['publish', '--count', 'many'], /--count must be a whole number/],
    [['consume'], /--queue is required/],
    [['consume', '--queue', 'q', '--ack', '--requeue'], /--ack or --requeue, not both/],
    [['definitions', 'import'], /needs --file/],
    [['status', 'extra'], /unexpected argument 'extra'/],
  ];
  for (const [args, reason] of cases) {
    const r = await cli(broker, ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, reason);
    assert.match(r.stderr, new RegExp(`Usage:\\n  postbox ${args[0]}`));
  }
});
