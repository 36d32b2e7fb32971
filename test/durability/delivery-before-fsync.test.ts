/**
 * Delivery before the fsync (core/queue/queue.ts, header): a persistent message nobody waits for (its
 * publisher is not in confirm mode) is delivered at once, before the fsync that covers it, as RabbitMQ's
 * classic queues do; with --deliver-after-fsync (which this file's broker runs with) a confirm-mode
 * publisher's message is delivered only after its fsync, never when it is nacked, and a non-confirm message
 * behind it in the same queue does not overtake it. The default (confirm-mode messages delivered at once
 * too) is in confirm-delivery-default.test.ts.
 *
 * Deterministic, not timed: a real `postbox serve` child runs with POSTBOX_FAULTS hold-file (every fsync of
 * a round waits while the file exists: an fsync that hangs) and fail-file (every fsync fails with EIO while
 * it exists), storage/faults.ts. amqplib publishes and consumes.
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

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-deliver-before-fsync-'));
const data = path.join(dir, 'data');
const holdFile = path.join(dir, 'hold-syncs');
const failFile = path.join(dir, 'fail-syncs');
let broker: BrokerProcess;
let conn: ChannelModel;
let plain: Channel;
let confirm: ConfirmChannel;
let consumer: Channel;
const errors: Error[] = [];

before(async () => {
  process.env.POSTBOX_FAULTS = `hold-file=${holdFile},fail-file=${failFile}`;
  try {
    broker = await spawnBroker(data, ['--deliver-after-fsync']);
  } finally {
    delete process.env.POSTBOX_FAULTS;
  }
  conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
  conn.on('error', (err: Error) => errors.push(err));
  plain = await conn.createChannel();
  confirm = await conn.createConfirmChannel();
  consumer = await conn.createChannel();
  for (const ch of [plain, confirm, consumer]) ch.on('error', (err: Error) => errors.push(err));
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

/**
 * Every frame published so far on this connection has been handled: a non-confirm message to a probe
 * queue comes back (channels of one connection share one socket, which the broker reads in order). The
 * probe queue is transient: a durable one's declare-ok would wait for the very fsync the test holds.
 */
async function brokerCaughtUp(probe: string): Promise<void> {
  const got = await consumeInto(consumer, probe, {}, false);
  plain.sendToQueue(probe, Buffer.from('probe'), { persistent: true });
  await waitFor(() => got.bodies.length === 1, 10_000, `the probe through ${probe}`);
  consumer.ack(got.messages[0]!);
}

test('a persistent message from a publisher not in confirm mode reaches its consumer while the fsync that covers it hangs', async () => {
  const got = await consumeInto(consumer, 'plain.q');
  fs.writeFileSync(holdFile, '');
  plain.sendToQueue('plain.q', Buffer.from('plain 1'), { persistent: true });
  await waitFor(() => got.bodies.length === 1, 10_000, 'the non-confirm message to be delivered before its fsync');
  assert.deepEqual(got.bodies, ['plain 1']);
  consumer.ack(got.messages[0]!);
  fs.rmSync(holdFile);
});

test('a confirm-mode message waits for its fsync, and a non-confirm message published after it to the same queue does not overtake it', async () => {
  const got = await consumeInto(consumer, 'mixed.q');
  const answers = new Map<string, 'ack' | 'nack'>();
  fs.writeFileSync(holdFile, '');
  publishConfirmed(confirm, 'mixed.q', 'confirmed first', answers);
  plain.sendToQueue('mixed.q', Buffer.from('plain second'), { persistent: true });
  await brokerCaughtUp('probe.mixed');
  // both are stored and the broker has moved on; the fsync cannot complete while the hold file exists
  assert.deepEqual(got.bodies, [], 'nothing of mixed.q may be delivered before the confirm-mode message is fsynced');
  assert.equal(answers.size, 0, 'no confirm before the fsync');
  fs.rmSync(holdFile);
  await waitFor(() => got.bodies.length === 2 && answers.size === 1, 10_000, 'the fsync, the confirm and both deliveries');
  assert.equal(answers.get('confirmed first'), 'ack');
  assert.deepEqual(got.bodies, ['confirmed first', 'plain second'], 'the queue keeps publish order');
  for (const m of got.messages) consumer.ack(m);
});

test('when drop-head takes the confirm-mode message a non-confirm one waited behind, the non-confirm one is delivered without waiting for the fsync', async () => {
  const got = await consumeInto(consumer, 'short.q', { 'x-max-length': 1 });
  const answers = new Map<string, 'ack' | 'nack'>();
  fs.writeFileSync(holdFile, '');
  publishConfirmed(confirm, 'short.q', 'dropped head', answers);
  plain.sendToQueue('short.q', Buffer.from('plain behind'), { persistent: true });
  // x-max-length 1: the second message pushes the first out (drop-head), and nothing is left to wait for
  await waitFor(() => got.bodies.length === 1, 10_000, 'the non-confirm message to be delivered while the fsync hangs');
  assert.deepEqual(got.bodies, ['plain behind']);
  fs.rmSync(holdFile);
  await waitFor(() => answers.size === 1, 10_000, 'the confirm of the dropped message');
  assert.equal(answers.get('dropped head'), 'ack', 'a message dropped by a length limit is still confirmed, as in RabbitMQ');
  assert.deepEqual(got.bodies, ['plain behind'], 'the dropped message is never delivered');
  consumer.ack(got.messages[0]!);
});

test('when the fsync fails, the confirm-mode message is nacked and never delivered; non-confirm messages delivered before it are lost quietly (ack and requeue of them break nothing) and do not come back after a restart', async () => {
  const got = await consumeInto(consumer, 'failing.q');
  await plain.assertQueue('idle.q', { durable: true }); // no consumer: its messages stay queued
  const answers = new Map<string, 'ack' | 'nack'>();
  fs.writeFileSync(holdFile, '');
  for (const body of ['early 1', 'early 2', 'early 3']) plain.sendToQueue('failing.q', Buffer.from(body), { persistent: true });
  for (const body of ['queued 1', 'queued 2']) plain.sendToQueue('idle.q', Buffer.from(body), { persistent: true });
  await waitFor(() => got.bodies.length === 3, 10_000, 'the non-confirm messages to be delivered before their fsync');
  publishConfirmed(confirm, 'failing.q', 'refused', answers);
  await brokerCaughtUp('probe.failing');
  assert.deepEqual(got.bodies, ['early 1', 'early 2', 'early 3']);
  // the held fsyncs run now, and fail: every round in flight fails, the logs roll back
  fs.writeFileSync(failFile, '');
  fs.rmSync(holdFile);
  await waitFor(() => answers.size === 1, 10_000, 'the answer to the confirm-mode publish');
  assert.equal(answers.get('refused'), 'nack');
  fs.rmSync(failFile);
  // the records of the three early messages were rolled back: acking one, and requeueing another, are harmless
  consumer.ack(got.messages[0]!);
  consumer.nack(got.messages[2]!, false, true);
  publishConfirmed(confirm, 'failing.q', 'stored', answers);
  await waitFor(() => answers.size === 2 && got.bodies.length === 4, 10_000, 'the next confirm-mode message to be confirmed and delivered');
  assert.equal(answers.get('stored'), 'ack');
  // 'refused' never came, and the requeued 'early 3' (its record gone) was not delivered again before 'stored'
  assert.deepEqual(got.bodies, ['early 1', 'early 2', 'early 3', 'stored']);
  consumer.ack(got.messages[3]!);
  assert.ok((await consumer.checkQueue('failing.q')).messageCount === 0); // a round trip: the ack is handled
  // the queued ones whose records were rolled back left their queue (they would have nothing to deliver)
  assert.equal((await plain.checkQueue('idle.q')).messageCount, 0, 'the rolled-back queued messages are gone from idle.q');
  assert.deepEqual(errors, [], 'no channel or connection was closed');
  assert.equal(broker.child.exitCode, null, 'the broker is still running');

  // 'early 2' is still unacked; its bytes were rolled back, so it does not come back from disk
  broker.child.kill('SIGKILL');
  await broker.exited;
  await conn.close().catch(() => {});
  const restarted = await spawnBroker(data, ['--deliver-after-fsync']);
  broker = restarted;
  const again = await amqp.connect(`amqp://guest:guest@127.0.0.1:${restarted.amqpPort}`);
  try {
    const ch = await again.createChannel();
    assert.equal(
      (await ch.checkQueue('failing.q')).messageCount,
      0,
      'nothing of failing.q survives: the early messages were rolled back, the refused one too, the stored one was acked',
    );
    assert.equal((await ch.checkQueue('mixed.q')).messageCount, 0);
    assert.equal((await ch.checkQueue('idle.q')).messageCount, 0, 'the rolled-back queued messages do not come back');
  } finally {
    await again.close();
  }
});
