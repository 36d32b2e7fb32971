/**
 * `postbox queues|exchanges declare|delete`, `postbox bindings add|delete` and `postbox consume --peek`: each
 * action goes through the management API of a real broker and is checked from the other side, over AMQP.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel } from 'amqplib';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { cli, cliJson, cliOk } from './helpers/cli-run.js';

let broker: TestBroker;
let conn: ChannelModel;

before(async () => {
  broker = await startTestBroker();
  conn = await amqp.connect(broker.url);
});
after(async () => {
  await conn.close();
  await broker.stop();
});

/** A passive declare on a fresh channel: the queue's counts, or null when it does not exist (404). */
async function queueState(name: string): Promise<{ messageCount: number } | null> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    const ok = await ch.checkQueue(name);
    await ch.close();
    return { messageCount: ok.messageCount };
  } catch {
    return null;
  }
}

test('queues declare makes a durable queue with its x-arguments, and declaring it again changes nothing', async () => {
  const out = await cliOk(broker, 'queues', 'declare', 'topo.orders', '--arg', 'x-max-length=2', '--arg', 'x-dead-letter-exchange=topo.dlx');
  assert.equal(out, "declared queue 'topo.orders' in vhost '/'\n");
  const q = (await cliJson<any[]>(broker, 'queues')).find((x) => x.name === 'topo.orders');
  assert.equal(q.durable, true);
  assert.deepEqual(q.arguments, { 'x-max-length': 2, 'x-dead-letter-exchange': 'topo.dlx' }, 'a number stays a number, a name a string');
  // the argument works: x-max-length 2 keeps the newest two
  const ch = await conn.createChannel();
  for (const body of ['1', '2', '3']) ch.sendToQueue('topo.orders', Buffer.from(body));
  await ch.close();
  assert.equal((await queueState('topo.orders'))?.messageCount, 2);

  const again = await cliJson(broker, 'queues', 'declare', 'topo.orders', '--arg', 'x-max-length=2', '--arg', 'x-dead-letter-exchange=topo.dlx');
  assert.deepEqual(again, { vhost: '/', queue: 'topo.orders', result: 'exists' });
  const different = await cli(broker, 'queues', 'declare', 'topo.orders', '--transient');
  assert.equal(different.code, 1);
  assert.match(different.stderr, /^postbox queues declare: inequivalent .*topo\.orders.*\(HTTP 400\)\n$/);

  await cliOk(broker, 'queues', 'declare', 'topo.scratch', '--transient', '--auto-delete', '--vhost', '/');
  const scratch = (await cliJson<any[]>(broker, 'queues', '--vhost', '/')).find((x) => x.name === 'topo.scratch');
  assert.deepEqual([scratch.durable, scratch.auto_delete], [false, true]);
  assert.equal((await cli(broker, 'queues', 'declare', 'topo.x', '--arg', 'no-equals-sign')).code, 2);
});

test('queues delete removes a queue; --if-empty refuses one that holds messages', async () => {
  await cliOk(broker, 'queues', 'declare', 'topo.full');
  const ch = await conn.createChannel();
  ch.sendToQueue('topo.full', Buffer.from('x'));
  await ch.close();
  const refused = await cli(broker, 'queues', 'delete', 'topo.full', '--if-empty');
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, "postbox queues delete: queue 'topo.full' in vhost '/' not empty (HTTP 400)\n");
  assert.notEqual(await queueState('topo.full'), null, 'still there');
  assert.equal(await cliOk(broker, 'queues', 'delete', 'topo.full'), "deleted queue 'topo.full' in vhost '/'\n");
  assert.equal(await queueState('topo.full'), null);
  const missing = await cli(broker, 'queues', 'delete', 'topo.full');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no queue 'topo\.full' in vhost '\/' \(HTTP 404\)\n$/);
});

test('exchanges declare and bindings add route a message; bindings delete and exchanges delete undo it', async () => {
  assert.equal(await cliOk(broker, 'exchanges', 'declare', 'topo.events', '--type', 'topic'), "declared topic exchange 'topo.events' in vhost '/'\n");
  await cliOk(broker, 'queues', 'declare', 'topo.audit');
  const added = await cliOk(broker, 'bindings', 'add', '--source', 'topo.events', '--destination', 'topo.audit', '--routing-key', 'orders.#');
  assert.equal(added, "added binding from exchange 'topo.events' to queue 'topo.audit' with routing key 'orders.#' in vhost '/'\n");
  const ch = await conn.createChannel();
  assert.ok(ch.publish('topo.events', 'orders.new.eu', Buffer.from('routed')));
  await ch.close();
  const got = await cli(broker, 'consume', '--queue', 'topo.audit');
  assert.equal(got.stdout, 'routed\n');

  // exchange to exchange
  await cliOk(broker, 'exchanges', 'declare', 'topo.fanout', '--type', 'fanout', '--transient');
  await cliOk(
    broker,
    'bindings',
    'add',
    '--source',
    'topo.events',
    '--destination',
    'topo.fanout',
    '--destination-type',
    'exchange',
    '--routing-key',
    'audit.*',
  );
  const bindings = await cliJson<any[]>(broker, 'bindings');
  assert.ok(
    bindings.some((b) => b.source === 'topo.events' && b.destination === 'topo.fanout' && b.destination_type === 'exchange' && b.routing_key === 'audit.*'),
  );
  const e = (await cliJson<any[]>(broker, 'exchanges')).find((x) => x.name === 'topo.fanout');
  assert.deepEqual([e.type, e.durable], ['fanout', false]);

  assert.equal(
    await cliOk(broker, 'bindings', 'delete', '--source', 'topo.events', '--destination', 'topo.audit', '--routing-key', 'orders.#'),
    "deleted binding from exchange 'topo.events' to queue 'topo.audit' with routing key 'orders.#' in vhost '/'\n",
  );
  assert.ok(!(await cliJson<any[]>(broker, 'bindings')).some((b) => b.source === 'topo.events' && b.destination === 'topo.audit'));
  const gone = await cli(broker, 'bindings', 'delete', '--source', 'topo.events', '--destination', 'topo.audit', '--routing-key', 'orders.#');
  assert.equal(gone.code, 1);
  assert.equal(gone.stderr, "postbox bindings delete: no binding from exchange 'topo.events' to queue 'topo.audit' with routing key 'orders.#' in vhost '/'\n");

  const inUse = await cli(broker, 'exchanges', 'delete', 'topo.events', '--if-unused');
  assert.equal(inUse.code, 1, 'it still has the binding to topo.fanout');
  assert.equal(await cliOk(broker, 'exchanges', 'delete', 'topo.events'), "deleted exchange 'topo.events' in vhost '/'\n");
  assert.ok(!(await cliJson<any[]>(broker, 'exchanges')).some((x) => x.name === 'topo.events'));
  const missingType = await cli(broker, 'exchanges', 'declare', 'topo.untyped');
  assert.equal(missingType.code, 2);
  assert.match(missingType.stderr, /^postbox exchanges declare: --type is required\nUsage:\n  postbox exchanges declare <name>/);
});

test('consume --peek prints the messages and leaves them in the queue', async () => {
  await cliOk(broker, 'queues', 'declare', 'topo.peek');
  await cliOk(broker, 'publish', '--routing-key', 'topo.peek', '--count', '3', '--body', 'm{n}');
  for (let round = 0; round < 2; round++) {
    const r = await cli(broker, 'consume', '--queue', 'topo.peek', '--count', '10', '--peek');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'm1\nm2\nm3\n');
    assert.equal(r.stderr, "got 3 messages from queue 'topo.peek' in vhost '/' (requeued)\n");
  }
  assert.equal((await queueState('topo.peek'))?.messageCount, 3);
  const both = await cli(broker, 'consume', '--queue', 'topo.peek', '--peek', '--ack');
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give --ack or --peek, not both/);
});

test('a mistyped action gets a did-you-mean and the usage, and "list" names the listing', async () => {
  const r = await cli(broker, 'queues', 'delcare', 'x');
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^postbox queues: unknown action 'delcare' \(did you mean 'declare'\?\); the actions are list, declare, delete\nUsage:\n  postbox queues \[list\]/,
  );
  const list = await cliJson<any[]>(broker, 'queues', 'list');
  assert.ok(list.some((q) => q.name === 'topo.peek'));
});
