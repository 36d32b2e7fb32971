import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
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
