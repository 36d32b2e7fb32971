import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import amqp from 'amqplib';
import { tempDataDir } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';

const TOTAL = 10_000;
/** kill the broker once this many publishes have been confirmed, so the kill lands mid-stream */
const KILL_AFTER_CONFIRMED = 3_000;

test('every confirmed persistent message survives kill -9 exactly once', async () => {
  const dir = tempDataDir('postbox-crash-');
  try {
    const first = await spawnBroker(dir);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.amqpPort}`);
    conn.on('error', () => {});
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    await ch.assertQueue('crash', { durable: true });
    const confirmed = new Set<number>();
    let killed = false;
    await new Promise<void>((resolve) => {
      conn.on('close', () => resolve());
      let i = 0;
      // publish in small batches so confirms flow back while publishing goes on; the kill comes from a
      // confirm callback, so it lands with thousands of messages still in flight
      const pump = (): void => {
        for (let n = 0; n < 100 && i < TOTAL && !killed; n++) {
          const id = i++;
          ch.sendToQueue('crash', Buffer.from(String(id)), { persistent: true }, (err) => {
            if (err) return;
            confirmed.add(id);
            if (!killed && confirmed.size >= KILL_AFTER_CONFIRMED) {
              killed = true;
              first.child.kill('SIGKILL');
            }
          });
        }
        if (i < TOTAL && !killed) setImmediate(pump);
      };
      pump();
    });
    assert.equal(await first.exited, 'SIGKILL');
    assert.ok(confirmed.size >= KILL_AFTER_CONFIRMED, `only ${confirmed.size} confirmed before the kill`);

    const second = await spawnBroker(dir);
    try {
      const conn2 = await amqp.connect(`amqp://guest:guest@127.0.0.1:${second.amqpPort}`);
      const ch2 = await conn2.createChannel();
      const q = await ch2.checkQueue('crash');
      const seen = new Map<number, number>();
      for (let n = 0; n < q.messageCount; n++) {
        const m = await ch2.get('crash', { noAck: true });
        assert.ok(m, `basic.get ${n} of ${q.messageCount} came back empty`);
        const id = Number(m.content.toString());
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      for (const id of confirmed) assert.equal(seen.get(id), 1, `confirmed message ${id} seen ${seen.get(id) ?? 0} times`);
      for (const [id, count] of seen) assert.equal(count, 1, `message ${id} duplicated`);
      assert.match(second.output(), /recovered .* persistent messages/);
      await conn2.close();
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
