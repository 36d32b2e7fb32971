import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir } from '../helpers/broker.js';

/** a data directory written by the first format (message records version 1), kept as it was */
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/data-v1', import.meta.url));

test('a data directory in the version-1 record format still opens: its persistent messages are delivered intact', async () => {
  const dir = tempDataDir('postbox-v1-');
  cpSync(FIXTURE, dir, { recursive: true });
  const broker = await startTestBroker({ dataDir: dir });
  try {
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    const bodies: string[] = [];
    for (;;) {
      const m = await ch.get('fixture.q', { noAck: true });
      if (m === false) break;
      assert.equal(m.fields.exchange, 'fixture.x');
      assert.equal(m.fields.routingKey, 'v1.msg');
      assert.equal(m.properties.contentType, 'text/plain');
      assert.equal(m.properties.headers?.n, bodies.length + 1);
      bodies.push(m.content.toString());
    }
    assert.deepEqual(bodies, ['v1 message 1', 'v1 message 2', 'v1 message 3']);
    // the restored binding still routes
    await ch.publish('fixture.x', 'v1.new', Buffer.from('after upgrade'));
    const again = await ch.get('fixture.q', { noAck: true });
    assert.ok(again);
    assert.equal(again.content.toString(), 'after upgrade');
    await conn.close();
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * a data directory written before ack checksums: 10 confirmed messages, all fetched, 0, 2, 4, 6, 8 acked,
 * then kill -9 (its 00000001.ack holds ten version-1 delivered markers and five version-1 acks)
 */
const ACK_V1_FIXTURE = fileURLToPath(new URL('../../../test/fixtures/data-ack-v1', import.meta.url));

test('a queue whose ack file is in the version-1 format (no checksums) keeps its acks after an upgrade, and the converted file takes new ones', async () => {
  const dir = tempDataDir('postbox-ack-v1-');
  cpSync(ACK_V1_FIXTURE, dir, { recursive: true });
  const [ackFile] = readdirSync(path.join(dir, 'queues'), { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ack'));
  assert.ok(ackFile !== undefined);
  const ackPath = path.join(dir, 'queues', ackFile);
  assert.notEqual(readFileSync(ackPath).subarray(0, 4).toString(), 'PBAK', 'the fixture is in version 1');
  try {
    let broker = await startTestBroker({ dataDir: dir });
    try {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createChannel();
      const first = await ch.get('ackv1.q', { noAck: false });
      assert.ok(first);
      assert.equal(first.content.toString(), 'ack-v1 message 1');
      assert.equal(first.fields.redelivered, true, 'the version-1 delivered markers still count');
      ch.ack(first);
      await ch.checkQueue('ackv1.q');
      await conn.close();
    } finally {
      await broker.stop();
    }
    assert.equal(readFileSync(ackPath).subarray(0, 4).toString(), 'PBAK', 'converted to version 2');
    broker = await startTestBroker({ dataDir: dir });
    try {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createChannel();
      const bodies: string[] = [];
      for (;;) {
        const m = await ch.get('ackv1.q', { noAck: true });
        if (m === false) break;
        bodies.push(m.content.toString());
      }
      assert.deepEqual(bodies, [3, 5, 7, 9].map((n) => `ack-v1 message ${n}`));
      await conn.close();
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
