import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startTestBroker } from '../helpers/broker.js';

test('when the disk alarm goes off a connection is told it is blocked, and its publish lands once the alarm clears', async () => {
  const broker = await startTestBroker();
  try {
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('alarm-q', { durable: false });
    const blocked = new Promise<string>((resolve) => conn.once('blocked', resolve));
    // a limit no disk meets sets the alarm
    broker.core.alarm!.disk.setLimit(Number.MAX_SAFE_INTEGER);
    assert.equal(await blocked, 'low on disk');
    ch.sendToQueue('alarm-q', Buffer.from('held'));
    const unblocked = new Promise<void>((resolve) => conn.once('unblocked', () => resolve()));
    broker.core.alarm!.disk.setLimit(0);
    await unblocked;
    // the publishing connection is read again: its channel answers and the message is there
    let count = 0;
    while (count === 0) count = (await ch.checkQueue('alarm-q')).messageCount;
    assert.equal(count, 1);
    await conn.close();
  } finally {
    await broker.stop();
  }
});

test('a connection opened while the disk alarm is on is blocked from the start', async () => {
  const broker = await startTestBroker({ diskFreeLimitBytes: Number.MAX_SAFE_INTEGER });
  try {
    assert.equal(broker.core.alarm!.reason, 'low on disk');
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('alarm-q2', { durable: false });
    ch.sendToQueue('alarm-q2', Buffer.from('held'));
    const unblocked = new Promise<void>((resolve) => conn.once('unblocked', () => resolve()));
    broker.core.alarm!.disk.setLimit(0);
    await unblocked; // only sent to a connection that was told it was blocked
    let count = 0;
    while (count === 0) count = (await ch.checkQueue('alarm-q2')).messageCount;
    assert.equal(count, 1);
    await conn.close();
  } finally {
    await broker.stop();
  }
});

test('the memory alarm blocks publishers above the high watermark and releases them below it', async () => {
  const broker = await startTestBroker();
  try {
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('memory-alarm-q', { durable: false });
    const blocked = new Promise<string>((resolve) => conn.once('blocked', resolve));
    // a watermark of one byte: any process is above it
    broker.core.alarm!.memory.setLimit(1);
    assert.equal(await blocked, 'memory high watermark');
    assert.deepEqual(broker.core.alarm!.active(), [{ resource: 'memory', reason: 'memory high watermark' }]);
    ch.sendToQueue('memory-alarm-q', Buffer.from('held'));
    const unblocked = new Promise<void>((resolve) => conn.once('unblocked', () => resolve()));
    broker.core.alarm!.memory.setLimit(Number.MAX_SAFE_INTEGER);
    await unblocked;
    let count = 0;
    while (count === 0) count = (await ch.checkQueue('memory-alarm-q')).messageCount;
    assert.equal(count, 1);
    await conn.close();
  } finally {
    await broker.stop();
  }
});

test('with both alarms on, publishers stay blocked until both clear', async () => {
  const broker = await startTestBroker();
  try {
    const conn = await amqp.connect(broker.url);
    const blocked = new Promise<string>((resolve) => conn.once('blocked', resolve));
    broker.core.alarm!.disk.setLimit(Number.MAX_SAFE_INTEGER);
    assert.equal(await blocked, 'low on disk');
    broker.core.alarm!.memory.setLimit(1);
    assert.equal(broker.core.alarm!.reason, 'low on disk and memory high watermark');
    let unblockedYet = false;
    conn.once('unblocked', () => (unblockedYet = true));
    broker.core.alarm!.disk.setLimit(0);
    // still blocked by memory: a round trip on the connection proves the broker answered in between
    const ch = await conn.createChannel();
    await ch.assertQueue('both-alarms-q', { durable: false });
    assert.equal(unblockedYet, false);
    const unblocked = new Promise<void>((resolve) => (unblockedYet ? resolve() : conn.once('unblocked', () => resolve())));
    broker.core.alarm!.memory.setLimit(Number.MAX_SAFE_INTEGER);
    await unblocked;
    await conn.close();
  } finally {
    await broker.stop();
  }
});
