/**
 * Poison AMQP headers: a headers table that cannot be decoded (an unknown type tag, nesting past
 * MAX_FIELD_NESTING) used to be accepted by every exchange, stored, and then kill each amqplib consumer it
 * was delivered to (requeued forever) and make the HTTP get answer 500 with the message stranded unacked.
 * Now the publish is refused with a connection error (502 SYNTAX_ERROR, naming basic.publish) and nothing
 * is stored; a message that is undecodable anyway (a record from an older data directory) is dropped with
 * an error line instead of being delivered. A canary publishes with confirms on its own connection
 * throughout: worst canary latency measured here 36-94 ms (2 shared CPUs, other test files running).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ConsumeMessage } from 'amqplib';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';
import { startCanary, type Canary } from '../helpers/canary.js';
import { AmqpClient, rawFrame } from '../../src/client/amqp/index.js';
import { api } from '../management/helpers.js';
import { Message, RECORD_FLAG_PROPERTIES_CHECKED } from '../../src/core/message.js';
import { MAX_FIELD_NESTING } from '../../src/core/field-table.js';
import { FRAME_BODY, FRAME_HEADER, M_BASIC_PUBLISH, encodeMethodFrame } from '../../src/protocol/amqp/generated/spec.js';

/** a table `{a: {a: ... {}}}` with `levels` tables in all (the outermost is level 1), as raw bytes */
function nestedTable(levels: number): Buffer {
  let table = Buffer.alloc(4); // the innermost, empty table
  for (let i = 1; i < levels; i++) {
    const entry = Buffer.concat([Buffer.from([1, 0x61, 0x46]), table]); // key "a", tag 'F', the table
    const outer = Buffer.alloc(4 + entry.length);
    outer.writeUInt32BE(entry.length, 0);
    entry.copy(outer, 4);
    table = outer;
  }
  return table;
}

/** a table with one entry "k" whose type tag `tag` no decoder knows, followed by 4 bytes of payload */
function unknownTagTable(tag: number): Buffer {
  const entry = Buffer.from([1, 0x6b, tag, 0, 0, 0, 1]);
  const table = Buffer.alloc(4 + entry.length);
  table.writeUInt32BE(entry.length, 0);
  entry.copy(table, 4);
  return table;
}

/** a property list carrying only `headers` (raw table bytes, as a hostile client would send them) */
function headersOnly(table: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x20, 0x00]), table]);
}

/** basic.publish + a content header with `properties` as given + one body frame */
function publishFrames(channel: number, exchange: string, routingKey: string, properties: Buffer, body: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(60, 0);
  header.writeUInt32BE(body.length, 8);
  return Buffer.concat([
    encodeMethodFrame(channel, { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange, routingKey, mandatory: false, immediate: false } }),
    rawFrame(FRAME_HEADER, channel, Buffer.concat([header, properties])),
    rawFrame(FRAME_BODY, channel, body),
  ]);
}

describe('poison AMQP headers', () => {
  let broker: TestBroker;
  let canary: Canary;

  before(async () => {
    broker = await startTestBroker();
    canary = await startCanary(broker.url);
  });
  after(async () => {
    const r = await canary.stop();
    process.stderr.write(`amqp-headers: canary confirmed ${r.confirmed}, worst latency ${r.worstLatencyMs} ms\n`);
    await broker.stop();
  });

  async function queueDepth(queue: string): Promise<{ ready: number; unacked: number }> {
    const r = await api(broker, 'GET', `/api/queues/%2F/${encodeURIComponent(queue)}`);
    assert.equal(r.status, 200);
    return { ready: r.body.messages_ready, unacked: r.body.messages_unacknowledged };
  }

  const poisons: Array<[string, Buffer]> = [
    ['an unknown type tag', unknownTagTable(0x5a)],
    ["the tag 'L' (RabbitMQ reads it, amqplib does not)", unknownTagTable(0x4c)],
    [`tables nested ${MAX_FIELD_NESTING + 2} deep`, nestedTable(MAX_FIELD_NESTING + 2)],
    [`tables nested ${MAX_FIELD_NESTING + 1} deep`, nestedTable(MAX_FIELD_NESTING + 1)],
  ];
  const routes: Array<[string, string]> = [
    ['the default exchange', ''],
    ['a direct exchange', 'amq.direct'],
    ['a topic exchange', 'amq.topic'],
  ];

  for (const [what, table] of poisons) {
    for (const [via, exchange] of routes) {
      test(`headers with ${what}, published to ${via}, close the connection with 502 and store nothing`, async () => {
        const queue = `poison.${exchange || 'default'}.${table.length}.${table[6]}`;
        const setup = await amqp.connect(broker.url);
        const ch = await setup.createChannel();
        await ch.assertQueue(queue, { durable: true });
        if (exchange !== '') await ch.bindQueue(queue, exchange, queue);

        const client = await AmqpClient.open(broker.amqpPort);
        await client.openChannel(1);
        client.write(publishFrames(1, exchange, queue, headersOnly(table), Buffer.from('poison')));
        const close = await client.awaitClose();
        assert.equal(close.scope, 'connection');
        assert.equal(close.replyCode, 502);
        assert.match(close.replyText, /^SYNTAX_ERROR - basic\.publish headers: /);
        assert.equal(close.classId, 60);
        assert.equal(close.methodId, 40);

        // an ordinary publish on a healthy connection still goes through, and it is the only message
        ch.sendToQueue(queue, Buffer.from('fine'));
        const got = await ch.get(queue, { noAck: true });
        assert.ok(got !== false);
        assert.equal(got.content.toString(), 'fine');
        assert.equal(await ch.get(queue, { noAck: true }), false);
        await ch.deleteQueue(queue);
        await setup.close();
        await canary.check();
      });
    }
  }

  test(`headers nested exactly ${MAX_FIELD_NESTING} deep are accepted and reach an amqplib consumer`, async () => {
    const client = await AmqpClient.open(broker.amqpPort);
    await client.openChannel(1);
    await client.declareQueue(1, 'deep.ok');
    client.write(publishFrames(1, '', 'deep.ok', headersOnly(nestedTable(MAX_FIELD_NESTING)), Buffer.from('deep')));
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    const got = await new Promise<ConsumeMessage>((resolve) => void ch.consume('deep.ok', (m) => m && resolve(m), { noAck: true }));
    let depth = 0;
    for (let t: any = got.properties.headers; t !== undefined; t = t.a) depth++;
    assert.equal(depth, MAX_FIELD_NESTING);
    await ch.deleteQueue('deep.ok');
    await conn.close();
    client.socket.destroy();
  });

  /**
   * A record as an older broker stored it: the same bytes, without the "checked at publish" flag, and with
   * headers that cannot be decoded. Enqueued straight into the core, as recovery would load it.
   */
  function storeOldRecord(queue: string, properties: Buffer, body: string): void {
    const q = broker.core.vhosts.get('/')!.queues.get(queue)!;
    const message = new Message('', queue, properties, Buffer.from(body), true);
    const header = message.recordHeader();
    header[1] = header[1]! & ~RECORD_FLAG_PROPERTIES_CHECKED; // recordHeader() is cached: this is what is written
    q.enqueue(message, true); // awaited: it waits for its round, then is read back from the log as recovery would
  }

  test('an undecodable stored message is dropped, not delivered: the amqplib consumer gets the next one and stays connected', async () => {
    const conn = await amqp.connect(broker.url);
    let connectionError: Error | null = null;
    conn.on('error', (err: Error) => (connectionError = err));
    const ch = await conn.createChannel();
    await ch.assertQueue('old.consume', { durable: true });
    storeOldRecord('old.consume', headersOnly(unknownTagTable(0x5a)), 'poison');
    storeOldRecord('old.consume', headersOnly(nestedTable(MAX_FIELD_NESTING + 2)), 'poison too');
    ch.sendToQueue('old.consume', Buffer.from('good'), { headers: { x: 1 } });
    const bodies: string[] = [];
    await ch.consume('old.consume', (m) => {
      if (m === null) return;
      bodies.push(m.content.toString());
      ch.ack(m);
    });
    await waitFor(() => bodies.length > 0, 10_000, 'the good message');
    assert.deepEqual(bodies, ['good']);
    assert.equal(connectionError, null);
    const depth = await queueDepth('old.consume');
    assert.deepEqual(depth, { ready: 0, unacked: 0 });
    await ch.deleteQueue('old.consume');
    await conn.close();
    await canary.check();
  });

  test('HTTP get skips an undecodable stored message: 200 with the next message, nothing left unacked', async () => {
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('old.get', { durable: true });
    storeOldRecord('old.get', headersOnly(unknownTagTable(0x5a)), 'poison');
    ch.sendToQueue('old.get', Buffer.from('good'), { headers: { x: 1 } });
    await ch.checkQueue('old.get');
    const r = await api(broker, 'POST', '/api/queues/%2F/old.get/get', { body: { count: 5, ackmode: 'ack_requeue_true', encoding: 'auto' } });
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.map((m: any) => [m.payload, m.properties.headers]),
      [['good', { x: 1 }]],
    );
    assert.deepEqual(await queueDepth('old.get'), { ready: 1, unacked: 0 });
    await ch.deleteQueue('old.get');
    await conn.close();
  });

  test('HTTP publish refuses headers nested past the limit with 400', async () => {
    let headers: Record<string, unknown> = {};
    for (let i = 0; i < MAX_FIELD_NESTING + 5; i++) headers = { a: headers };
    const r = await api(broker, 'POST', '/api/exchanges/%2F/amq.default/publish', {
      body: { routing_key: 'nowhere', payload: 'x', payload_encoding: 'string', properties: { headers } },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.reason, /nested deeper than 64/);
  });
});
