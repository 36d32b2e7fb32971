/**
 * Group commit for definitions: a durable declaration writes its journal record at once and is answered
 * (declare-ok, bind-ok, HTTP 201) only after the asynchronous fdatasync of a group-commit round covering it;
 * every declaration made while a round is in flight shares the next one. The answers on a channel keep
 * the order of the methods they answer, and a round that fails closes the waiting connections with 541
 * while memory is rewritten to disk, so memory and disk agree again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir, waitFor } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';
import { AmqpClient } from '../../src/client/amqp/index.js';
import { faultInjector, installFaults, parseFaultPlan } from '../../src/storage/faults.js';
import {
  M_BASIC_ACK,
  M_BASIC_CONSUME,
  M_BASIC_CONSUME_OK,
  M_BASIC_GET,
  M_BASIC_GET_OK,
  M_BASIC_QOS,
  M_BASIC_QOS_OK,
  M_CONFIRM_SELECT,
  M_CONFIRM_SELECT_OK,
  M_QUEUE_BIND,
  M_QUEUE_BIND_OK,
  M_QUEUE_DECLARE,
  M_QUEUE_DECLARE_OK,
  ReplyCode,
  encodeMethodFrame,
  methodName,
  type AmqpMethod,
} from '../../src/protocol/amqp/generated/spec.js';

const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

function declare(channel: number, queue: string, options: { durable?: boolean; passive?: boolean; nowait?: boolean } = {}): Buffer {
  return encodeMethodFrame(channel, {
    id: M_QUEUE_DECLARE,
    args: {
      ticket: 0,
      queue,
      passive: options.passive ?? false,
      durable: options.durable ?? true,
      exclusive: false,
      autoDelete: false,
      nowait: options.nowait ?? false,
      arguments: {},
    },
  });
}

function bind(channel: number, queue: string, exchange: string, routingKey: string): Buffer {
  return encodeMethodFrame(channel, { id: M_QUEUE_BIND, args: { ticket: 0, queue, exchange, routingKey, nowait: false, arguments: {} } });
}

/** The next `count` methods on any channel (content frames after a get-ok are read with it). */
async function methods(client: AmqpClient, count: number): Promise<Array<{ channel: number; method: AmqpMethod }>> {
  const out: Array<{ channel: number; method: AmqpMethod }> = [];
  while (out.length < count) {
    const next = await client.nextMethod();
    assert.ok(next !== null, `socket ended after ${out.length} of ${count} answers`);
    out.push(next);
    if (next.method.id === M_BASIC_GET_OK) await client.readContent(next.channel);
  }
  return out;
}

test('declarations pipelined on one channel share fsyncs and are answered in the order sent, a passive declare, qos, bind and get included', async () => {
  const dataDir = tempDataDir();
  const broker = await startTestBroker({ dataDir });
  const client = await AmqpClient.open(broker.amqpPort);
  try {
    await client.openChannel(1);
    await client.declareQueue(1, 'existing', { durable: true });
    // counts every fdatasync of the group-commit rounds (all probabilities 0: nothing fails)
    const counter = installFaults(parseFaultPlan(''))!;
    const DECLARATIONS = 60;
    const batch: Buffer[] = [];
    const expected: string[] = [];
    for (let i = 0; i < DECLARATIONS; i++) {
      batch.push(declare(1, `piped-${i}`));
      expected.push(`declare-ok piped-${i}`);
      if (i % 10 === 3) {
        // answers that need no sync of their own must not overtake the declare-ok before them
        batch.push(declare(1, 'existing', { passive: true }));
        expected.push('declare-ok existing');
        batch.push(encodeMethodFrame(1, { id: M_BASIC_QOS, args: { prefetchSize: 0, prefetchCount: i, global: false } }));
        expected.push('qos-ok');
        batch.push(bind(1, `piped-${i}`, 'amq.direct', `key-${i}`));
        expected.push('bind-ok');
        batch.push(encodeMethodFrame(1, { id: M_BASIC_GET, args: { ticket: 0, queue: 'existing', noAck: true } }));
        expected.push('get-empty');
      }
    }
    client.write(Buffer.concat(batch)); // one write: the broker reads them all in one turn
    const answers = await methods(client, expected.length);
    const seen = answers.map(({ method }) => {
      if (method.id === M_QUEUE_DECLARE_OK) return `declare-ok ${method.args.queue}`;
      if (method.id === M_BASIC_QOS_OK) return 'qos-ok';
      if (method.id === M_QUEUE_BIND_OK) return 'bind-ok';
      return methodName(method.id).replace('basic.', '');
    });
    assert.deepEqual(seen, expected);
    const syncs = counter.counts.syncs;
    installFaults(null);
    // each declaration is durable when answered, yet they shared the rounds' fsyncs
    assert.ok(syncs >= 1, 'the journal records were never synced by a group-commit round');
    assert.ok(syncs < DECLARATIONS / 2, `${syncs} fsyncs for ${DECLARATIONS} declarations: not grouped`);
    const vhost = broker.core.vhosts.get('/')!;
    for (let i = 0; i < DECLARATIONS; i++) assert.ok(vhost.queues.has(`piped-${i}`));
  } finally {
    installFaults(null);
    client.socket.destroy();
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a publish pipelined right after a durable declaration routes to the new queue; its confirm follows the declare-ok', async () => {
  const dataDir = tempDataDir();
  const broker = await startTestBroker({ dataDir });
  const client = await AmqpClient.open(broker.amqpPort);
  try {
    await client.openChannel(1);
    client.send(1, { id: M_CONFIRM_SELECT, args: { nowait: false } });
    await client.expect(M_CONFIRM_SELECT_OK, 1);
    client.write(
      Buffer.concat([
        declare(1, 'fresh'),
        client.publishBytes(1, '', 'fresh', Buffer.from('first'), { deliveryMode: 2 }),
        encodeMethodFrame(1, { id: M_BASIC_GET, args: { ticket: 0, queue: 'fresh', noAck: true } }),
      ]),
    );
    const [declared, ...rest] = await methods(client, 3);
    assert.equal(declared!.method.id, M_QUEUE_DECLARE_OK);
    // the confirm is not an answer to a method: it may come before or after the get-ok
    assert.deepEqual(rest.map((r) => r.method.id).sort(), [M_BASIC_GET_OK, M_BASIC_ACK].sort(), 'the publish did not reach the queue declared just before it');
  } finally {
    client.socket.destroy();
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a consumer started behind a held declare-ok gets its consume-ok before its first delivery', async () => {
  const dataDir = tempDataDir();
  const broker = await startTestBroker({ dataDir });
  const client = await AmqpClient.open(broker.amqpPort);
  try {
    await client.openChannel(1);
    await client.declareQueue(1, 'waiting', { durable: true });
    client.send(1, { id: M_CONFIRM_SELECT, args: { nowait: false } });
    await client.expect(M_CONFIRM_SELECT_OK, 1);
    client.publish(1, '', 'waiting', Buffer.from('ready'), { deliveryMode: 2 });
    await client.expect(M_BASIC_ACK, 1);
    client.write(
      Buffer.concat([
        declare(1, 'another'), // its declare-ok waits for the fsync
        encodeMethodFrame(1, {
          id: M_BASIC_CONSUME,
          args: { ticket: 0, queue: 'waiting', consumerTag: 'c1', noLocal: false, noAck: true, exclusive: false, nowait: false, arguments: {} },
        }),
      ]),
    );
    assert.equal((await client.expect(M_QUEUE_DECLARE_OK, 1)).queue, 'another');
    assert.equal((await client.expect(M_BASIC_CONSUME_OK, 1)).consumerTag, 'c1');
    const delivery = await client.nextDelivery(1);
    assert.equal(delivery.body.toString(), 'ready');
  } finally {
    client.socket.destroy();
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a declaration whose fsync fails closes the connection with 541 (HTTP 500); memory is rewritten to disk, so what memory holds is there after a restart', async () => {
  const dataDir = tempDataDir();
  let broker = await startTestBroker({ dataDir });
  try {
    const client = await AmqpClient.open(broker.amqpPort);
    await client.openChannel(1);
    await client.declareQueue(1, 'before', { durable: true });
    installFaults(parseFaultPlan('fsync=1')); // every fdatasync of a round reports EIO
    client.write(Buffer.concat([declare(1, 'during'), bind(1, 'during', 'amq.direct', 'during')]));
    const closed = await client.awaitClose();
    assert.equal(closed.scope, 'connection');
    assert.equal(closed.replyCode, ReplyCode.INTERNAL_ERROR);
    assert.match(closed.replyText, /definitions could not be synced to disk \(EIO\)/);
    assert.ok(faultInjector()!.counts.fsync >= 1);
    const http = await fetch(`${broker.httpUrl}/api/queues/%2F/during-http`, {
      method: 'PUT',
      headers: { authorization: GUEST, 'content-type': 'application/json' },
      body: JSON.stringify({ durable: true }),
    });
    assert.equal(http.status, 500);
    installFaults(null);

    // the storage recovers by itself; a declaration then succeeds
    await waitFor(() => broker.core.storageFailure === null, 10_000, 'storage recovered');
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('after', { durable: true });
    await conn.close();
    // the changes whose sync failed stay in memory (the client was told 541: outcome unknown, as after
    // a lost connection) and were rewritten to disk with everything else
    const inMemory = [...broker.core.vhosts.get('/')!.queues.keys()].sort();
    const bound = broker.core.vhosts
      .get('/')!
      .exchanges.get('amq.direct')!
      .bindings.map((b) => b.routingKey);
    assert.ok(inMemory.includes('during') && inMemory.includes('after') && inMemory.includes('before'));
    await broker.stop();

    broker = await startTestBroker({ dataDir });
    assert.deepEqual([...broker.core.vhosts.get('/')!.queues.keys()].sort(), inMemory);
    assert.deepEqual(
      broker.core.vhosts
        .get('/')!
        .exchanges.get('amq.direct')!
        .bindings.map((b) => b.routingKey),
      bound,
    );
  } finally {
    installFaults(null);
    await broker.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

/** Channels pipelining declarations, each keeping KILL_WINDOW of them unanswered at all times. */
const KILL_CHANNELS = 4;
const KILL_WINDOW = 64;
/** kill -9 once this many declare-oks arrived, so it lands with declarations in flight on every channel */
const KILL_AFTER_ANSWERS = 2000;

test('every durable queue whose declare-ok arrived survives kill -9, with declarations pipelined on several channels', async () => {
  const dataDir = tempDataDir('postbox-decl-kill-');
  try {
    const first = await spawnBroker(dataDir);
    const client = await AmqpClient.open(first.amqpPort);
    for (let ch = 1; ch <= KILL_CHANNELS; ch++) await client.openChannel(ch);
    const sent = new Array<number>(KILL_CHANNELS + 1).fill(0);
    const sendNext = (ch: number): Buffer => declare(ch, `kill-${ch}-${sent[ch]!++}`);
    const batch: Buffer[] = [];
    for (let i = 0; i < KILL_WINDOW; i++) for (let ch = 1; ch <= KILL_CHANNELS; ch++) batch.push(sendNext(ch));
    client.write(Buffer.concat(batch));
    const acknowledged: string[] = [];
    let killed = false;
    for (;;) {
      const next = await client.nextMethod();
      if (next === null) break;
      if (next.method.id !== M_QUEUE_DECLARE_OK) continue;
      acknowledged.push(next.method.args.queue);
      if (killed) continue;
      if (acknowledged.length >= KILL_AFTER_ANSWERS) {
        killed = true;
        first.child.kill('SIGKILL');
      } else {
        client.write(sendNext(next.channel)); // keep the window full
      }
    }
    assert.equal(await first.exited, 'SIGKILL');
    assert.ok(acknowledged.length >= KILL_AFTER_ANSWERS);

    const second = await spawnBroker(dataDir);
    try {
      const response = await fetch(`http://127.0.0.1:${second.httpPort}/api/queues/%2F?columns=name`, { headers: { authorization: GUEST } });
      const names = new Set(((await response.json()) as Array<{ name: string }>).map((q) => q.name));
      const lost = acknowledged.filter((name) => !names.has(name));
      const total = sent.reduce((a, b) => a + b, 0);
      assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged declarations lost (${total} sent)`);
    } finally {
      second.child.kill('SIGKILL');
      await second.exited;
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
