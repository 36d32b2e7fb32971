/**
 * By default (no --deliver-after-fsync) a confirm-mode publisher's persistent message reaches its consumer at
 * once, before the fsync that covers it, as RabbitMQ's classic queues deliver; only the confirm waits for
 * the fsync. When that fsync fails the publisher gets basic.nack although the consumer already has the
 * message (at-least-once: the publisher sends it again); the consumer's ack of it breaks nothing, and the
 * message does not come back after a restart. The stricter mode is in delivery-before-fsync.test.ts.
 *
 * Deterministic, not timed: a real `postbox serve` child runs with POSTBOX_FAULTS hold-file (every fsync of a
 * round waits while the file exists) and fail-file (every fsync fails with EIO while it exists),
 * storage/faults.ts. amqplib publishes and consumes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { waitFor } from '../helpers/broker.js';
import { consumeInto, publishConfirmed } from '../helpers/confirm-channels.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-confirm-delivery-'));
const data = path.join(dir, 'data');
const holdFile = path.join(dir, 'hold-syncs');
const failFile = path.join(dir, 'fail-syncs');
let broker: BrokerProcess;
let conn: ChannelModel;
let confirm: ConfirmChannel;
let consumer: Channel;
const errors: Error[] = [];

before(async () => {
  process.env.POSTBOX_FAULTS = `hold-file=${holdFile},fail-file=${failFile}`;
  try {
    broker = await spawnBroker(data);
  } finally {
    delete process.env.POSTBOX_FAULTS;
  }
  conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
  conn.on('error', (err: Error) => errors.push(err));
  confirm = await conn.createConfirmChannel();
  consumer = await conn.createChannel();
  for (const ch of [confirm, consumer]) ch.on('error', (err: Error) => errors.push(err));
  await consumer.prefetch(100);
});

after(async () => {
  fs.rmSync(holdFile, { force: true });
  fs.rmSync(failFile, { force: true });
  await conn?.close().catch(() => {});
  if (broker !== undefined && broker.child.exitCode === null) {
    broker.child.kill('SIGKILL');
    await broker.exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a confirm-mode message reaches its consumer while the fsync that covers it hangs, and is confirmed once the fsync completes', async () => {
  const got = await consumeInto(consumer, 'early.q');
  const answers = new Map<string, 'ack' | 'nack'>();
  fs.writeFileSync(holdFile, '');
  publishConfirmed(confirm, 'early.q', 'before its fsync', answers);
  await waitFor(() => got.bodies.length === 1, 10_000, 'the confirm-mode message to be delivered before its fsync');
  assert.equal(answers.size, 0, 'no confirm before the fsync');
  fs.rmSync(holdFile);
  await waitFor(() => answers.size === 1, 10_000, 'the confirm after the fsync');
  assert.equal(answers.get('before its fsync'), 'ack');
  consumer.ack(got.messages[0]!);
  assert.equal((await consumer.checkQueue('early.q')).messageCount, 0);
});

test('when the fsync fails, the confirm-mode message already delivered is nacked, its ack breaks nothing, and it does not come back after a restart', async () => {
  const got = await consumeInto(consumer, 'failing.q');
  const answers = new Map<string, 'ack' | 'nack'>();
  fs.writeFileSync(holdFile, '');
  publishConfirmed(confirm, 'failing.q', 'delivered then nacked', answers);
  publishConfirmed(confirm, 'failing.q', 'kept unacked', answers);
  await waitFor(() => got.bodies.length === 2, 10_000, 'both confirm-mode messages to be delivered before their fsync');
  // the held fsync runs now, and fails: the round fails, the log rolls back, the publisher is nacked
  fs.writeFileSync(failFile, '');
  fs.rmSync(holdFile);
  await waitFor(() => answers.size === 2, 10_000, 'the answers to the confirm-mode publishes');
  assert.equal(answers.get('delivered then nacked'), 'nack');
  assert.equal(answers.get('kept unacked'), 'nack');
  fs.rmSync(failFile);
  consumer.ack(got.messages[0]!); // its record was rolled back: harmless
  publishConfirmed(confirm, 'failing.q', 'stored', answers);
  await waitFor(() => answers.size === 3 && got.bodies.length === 3, 10_000, 'the next message to be confirmed and delivered');
  assert.equal(answers.get('stored'), 'ack');
  assert.deepEqual(got.bodies, ['delivered then nacked', 'kept unacked', 'stored']);
  consumer.ack(got.messages[2]!);
  assert.equal((await consumer.checkQueue('failing.q')).messageCount, 0); // a round trip: the acks are handled
  assert.deepEqual(errors, [], 'no channel or connection was closed');

  // 'kept unacked' is still unacked; its bytes were rolled back, so it does not come back from disk
  broker.child.kill('SIGKILL');
  await broker.exited;
  await conn.close().catch(() => {});
  const restarted = await spawnBroker(data);
  broker = restarted;
  const again = await amqp.connect(`amqp://guest:guest@127.0.0.1:${restarted.amqpPort}`);
  try {
    const ch = await again.createChannel();
    assert.equal((await ch.checkQueue('failing.q')).messageCount, 0, 'the nacked messages were rolled back and the stored one acked');
  } finally {
    await again.close();
  }
});
