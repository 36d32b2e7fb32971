import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import amqp from 'amqplib';
import { tempDataDir } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';

const MESSAGES = 1_000_000;
const BODY_BYTES = 100;
/** the budget: RSS with a million queued messages at most this far above the idle broker's */
const RSS_BUDGET_BYTES = 60 * 1024 * 1024;

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error('no VmRSS in /proc status');
  return Number(m[1]) * 1024;
}

test('a million queued 100-byte persistent messages stay on disk: RSS grows by at most 60 MB, and all can be consumed', { timeout: 600_000 }, async () => {
  const dir = tempDataDir('postbox-memory-');
  const broker = await spawnBroker(dir);
  try {
    const url = `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`;
    const conn = await amqp.connect(url);
    const ch = await conn.createChannel();
    await ch.assertQueue('memory', { durable: true });
    await new Promise((r) => setTimeout(r, 500));
    const idleRss = rssOf(broker.child.pid!);

    const body = Buffer.alloc(BODY_BYTES, 0x61);
    let sent = 0;
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (sent < MESSAGES) {
          sent++;
          if (!ch.sendToQueue('memory', body, { persistent: true })) {
            ch.once('drain', pump);
            return;
          }
        }
        resolve();
      };
      pump();
    });
    let queued = 0;
    while (queued < MESSAGES) {
      queued = (await ch.checkQueue('memory')).messageCount;
      if (queued < MESSAGES) await new Promise((r) => setTimeout(r, 200));
    }
    const loadedRss = rssOf(broker.child.pid!);
    const growth = loadedRss - idleRss;
    console.log(
      `idle RSS ${(idleRss / 1048576).toFixed(1)} MB, with ${MESSAGES} queued ${(loadedRss / 1048576).toFixed(1)} MB (+${(growth / 1048576).toFixed(1)} MB)`,
    );
    assert.ok(growth <= RSS_BUDGET_BYTES, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`);

    await ch.prefetch(2000);
    let consumed = 0;
    await new Promise<void>((resolve) => {
      void ch.consume('memory', (m) => {
        if (m === null) return;
        consumed++;
        if (m.content.length !== BODY_BYTES) throw new Error('wrong body');
        if (consumed % 500 === 0 || consumed === MESSAGES) ch.ack(m, true);
        if (consumed === MESSAGES) resolve();
      });
    });
    assert.equal(consumed, MESSAGES);
    const after = await ch.checkQueue('memory');
    assert.equal(after.messageCount, 0);
    await conn.close();
  } finally {
    broker.child.kill('SIGTERM');
    await broker.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
