/**
 * The memory rule for x-delayed-message at full size: a million held messages, measured on a spawned
 * `postbox serve` (the process users run), then counted again after a restart.
 *
 * It runs on every `npm test` (about 20 s and 250 MB of disk here), so a clean checkout proves the figure.
 * The 1 KB-body variant (200k held) is in delayed.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import amqp from 'amqplib';
import { tempDataDir } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';

const MESSAGES = 1_000_000;
const BODY_BYTES = 100;
/** far in the future: nothing falls due during the test, nor during the restart */
const FAR_DELAY_MS = 3_600_000;
/** publishes in flight before the test waits for their confirms (a publisher with a confirm window) */
const CONFIRM_WINDOW = 10_000;
/** after the last confirm, let the broker finish the turn's writes and timers before reading RSS */
const SETTLE_MS = 2_000;
/**
 * The budget: RSS with a million held messages at most this far above the idle broker's. Measured in
 * CI (both suites alongside): Node 20.20 +32.2 MB, Node 24.21 +39.9 MB. Before the AMQP frame writer stopped
 * taking a fresh 128 KiB per flush, Node 24 measured +60.0 MB (its publishing burst kept more memory).
 */
const RSS_BUDGET_BYTES = 60 * 1024 * 1024;
const MEGABYTE = 1024 * 1024;

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error('no VmRSS in /proc status');
  return Number(m[1]) * 1024;
}

test(
  'a million held 100-byte delayed messages add at most 60 MB of RSS to an idle broker, and all are still held after a restart',
  { timeout: 900_000 },
  async () => {
    const dir = tempDataDir('postbox-delayed-1m-');
    try {
      const first = await spawnBroker(dir);
      try {
        const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.amqpPort}`);
        // a connection the broker closes fails the test at once instead of leaving confirms to wait forever
        const lost = new Promise<never>((_, reject) => {
          conn.on('error', reject);
          conn.on('close', () => reject(new Error(`connection closed; broker output:\n${first.output()}`)));
        });
        lost.catch(() => {});
        const ch = await conn.createConfirmChannel();
        await ch.assertExchange('delayed.1m', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': 'direct' } });
        await ch.assertQueue('delayed.1m.q', { durable: true });
        await ch.bindQueue('delayed.1m.q', 'delayed.1m', 'k');
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        const idleRss = rssOf(first.child.pid!);

        const body = Buffer.alloc(BODY_BYTES, 0x61);
        const options = { persistent: true, headers: { 'x-delay': FAR_DELAY_MS } };
        let peakRss = idleRss;
        for (let sent = 0; sent < MESSAGES;) {
          const window = Math.min(CONFIRM_WINDOW, MESSAGES - sent);
          for (let i = 0; i < window; i++) ch.publish('delayed.1m', 'k', body, options);
          sent += window;
          await Promise.race([ch.waitForConfirms(), lost]);
          peakRss = Math.max(peakRss, rssOf(first.child.pid!));
        }
        // every publish is confirmed, so every message is held (and fsynced); none was routed yet
        assert.equal((await ch.checkQueue('delayed.1m.q')).messageCount, 0);
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        const heldRss = rssOf(first.child.pid!);
        const growth = heldRss - idleRss;
        console.log(
          `idle RSS ${(idleRss / MEGABYTE).toFixed(1)} MB; with ${MESSAGES} held ${(heldRss / MEGABYTE).toFixed(1)} MB ` +
            `(+${(growth / MEGABYTE).toFixed(1)} MB; peak while publishing +${((peakRss - idleRss) / MEGABYTE).toFixed(1)} MB)`,
        );
        assert.ok(growth <= RSS_BUDGET_BYTES, `RSS grew by ${(growth / MEGABYTE).toFixed(1)} MB`);
        await conn.close();
      } finally {
        first.child.kill('SIGTERM');
        await first.exited;
      }

      const second = await spawnBroker(dir, [], 120_000);
      try {
        // the restored exchange reports what it rebuilt its due-time heap from
        const recovered = /delayed exchange 'delayed\.1m'.*?recovered \d+ segment\(s\), (\d+) live record\(s\)/.exec(second.output());
        assert.ok(recovered, `no recovery line for the delayed exchange in:\n${second.output()}`);
        assert.equal(Number(recovered[1]), MESSAGES);
        const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${second.amqpPort}`);
        const ch = await conn.createChannel();
        assert.equal((await ch.checkQueue('delayed.1m.q')).messageCount, 0, 'nothing fell due early');
        const restoredRss = rssOf(second.child.pid!);
        console.log(`after a restart with ${MESSAGES} held: RSS ${(restoredRss / MEGABYTE).toFixed(1)} MB`);
        await conn.close();
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
