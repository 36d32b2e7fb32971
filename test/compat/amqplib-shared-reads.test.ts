/**
 * The AMQP listener reads every socket into one shared buffer (util/shared-read-buffer.ts): a frame is a view
 * of it only while it is handled, and the next read (of any connection) overwrites it. What the broker keeps
 * past a read must be a copy: a body arriving in several reads, the properties and bodies of messages held in
 * a transaction until tx.commit. Each test lets other reads happen in between and checks every byte.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type GetMessage } from 'amqplib';
import { closeAmqplib, openAmqplib } from '../helpers/amqplib.js';
import type { TestBroker } from '../helpers/broker.js';

let broker: TestBroker;
let conn: ChannelModel;

before(async () => {
  ({ broker, conn } = await openAmqplib());
});

after(async () => {
  await closeAmqplib(conn, broker);
});

/** the tx class's id in amqplib's method ids (class << 16 | method) */
const TX = 90 << 16;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** publishes `count` 1 KiB messages on a second connection: reads that reuse the shared buffer meanwhile */
async function otherTraffic(queue: string, count: number): Promise<void> {
  const other = await amqp.connect(broker.url);
  try {
    const ch = await other.createConfirmChannel();
    await ch.assertQueue(queue, { durable: false, autoDelete: false });
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.alloc(1024, i & 0xff));
    await ch.waitForConfirms();
    await ch.purgeQueue(queue);
  } finally {
    await other.close();
  }
}

test('bodies of 300 KiB to 2 MiB, each arriving in many reads and frames, are stored and delivered byte for byte', async () => {
  const ch = await conn.createConfirmChannel();
  const q = 'shared-reads-large';
  await ch.assertQueue(q, { durable: true });
  const bodies = [300 * 1024, 1024 * 1024, 2 * 1024 * 1024].map((n) => randomBytes(n));
  for (const [i, body] of bodies.entries()) ch.sendToQueue(q, body, { persistent: i % 2 === 0, headers: { n: i, sum: sha(body) } });
  await ch.waitForConfirms();
  await otherTraffic('shared-reads-noise-1', 500);
  for (const [i, body] of bodies.entries()) {
    const m = (await ch.get(q, { noAck: true })) as GetMessage | false;
    assert.ok(m !== false, `message ${i}`);
    assert.equal(m.content.length, body.length);
    assert.equal(sha(m.content), sha(body), `body ${i} intact`);
    assert.equal(m.properties.headers?.sum, sha(body), `headers of ${i} intact`);
  }
  await ch.deleteQueue(q);
  await ch.close();
});

test('messages published in a transaction keep their bodies and properties while other reads happen, until tx.commit', async () => {
  const ch = await conn.createChannel();
  const q = 'shared-reads-tx';
  await ch.assertQueue(q, { durable: false });
  // amqplib has no tx API on its promise channel: the raw methods (class 90: tx.select 10, commit 20)
  const raw = ch as unknown as { rpc(method: number, fields: object, expect: number): Promise<unknown> };
  await raw.rpc(TX | 10, {}, TX | 11);
  const sent: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const body = Buffer.from(`tx message ${i} ${randomBytes(8).toString('hex')}`);
    sent.push(body);
    ch.sendToQueue(q, body, { messageId: `m-${i}`, headers: { i } });
  }
  // every publish reached the broker (a round-trip on the same channel), then other reads overwrite the buffer
  await ch.checkQueue(q);
  await otherTraffic('shared-reads-noise-2', 2000);
  await raw.rpc(TX | 20, {}, TX | 21);
  for (let i = 0; i < sent.length; i++) {
    const m = (await ch.get(q, { noAck: true })) as GetMessage | false;
    assert.ok(m !== false, `message ${i}`);
    assert.equal(m.content.toString(), sent[i]!.toString());
    assert.equal(m.properties.messageId, `m-${i}`);
    assert.equal(m.properties.headers?.i, i);
  }
  await ch.deleteQueue(q);
  await ch.close();
});
