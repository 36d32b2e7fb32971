/**
 * Definitions written while the disk is full: the change is refused with the protocol's error (AMQP 541
 * INTERNAL_ERROR, HTTP 500 with a JSON reason) and never applied, so memory and disk agree; once space is
 * back the same change succeeds. The data directory is a 1 MiB tmpfs filled to the last page (needs root to
 * mount; skipped otherwise).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';

const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

function mountTinyTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes a filler file until the filesystem has no free page left. */
function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

async function api(broker: TestBroker, method: string, pathname: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${broker.httpUrl}${pathname}`, {
    method,
    headers: { authorization: GUEST, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? null : JSON.parse(text) };
}

const mountDir = tempDataDir('postbox-tinyfs-');
const mounted = mountTinyTmpfs(mountDir);

test(
  'on a full disk a queue, vhost or user that cannot be written is refused (541, HTTP 500) and exists neither in memory nor after a restart; with space back the same declarations succeed',
  { skip: mounted ? false : 'mounting a tmpfs needs root' },
  async () => {
    const dataDir = path.join(mountDir, 'data');
    let broker = await startTestBroker({ dataDir, diskFreeLimitBytes: 0 });
    try {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createChannel();
      await ch.assertQueue('before-full', { durable: true });
      await ch.close();
      const filler = fillDisk(mountDir);

      // AMQP: declarations succeed while the journal's last page has room, then one closes the connection
      // with 541 and that queue exists nowhere
      const amqpOk: string[] = [];
      const closed = new Promise<{ code?: number; message: string }>((resolve) => conn.once('error', resolve));
      let amqpRefused = '';
      for (let i = 0; i < 200 && amqpRefused === ''; i++) {
        try {
          const c = await conn.createChannel();
          await c.assertQueue(`amqp-${i}`, { durable: true });
          amqpOk.push(`amqp-${i}`);
        } catch {
          amqpRefused = `amqp-${i}`;
        }
      }
      const error = await closed;
      assert.equal(error.code, 541);
      assert.match(error.message, /INTERNAL_ERROR - definitions could not be written to disk \(ENOSPC\)/);
      const vhost = broker.core.vhosts.get('/')!;
      assert.equal(vhost.queues.has(amqpRefused), false);

      // HTTP: queues, vhosts and users the same way, refused with 500 and a JSON reason
      const refusedOver = async (
        kind: string,
        put: (i: number) => Promise<{ status: number; json: any }>,
        exists: (i: number) => boolean | Promise<boolean>,
      ): Promise<number[]> => {
        const ok: number[] = [];
        for (let i = 0; i < 200; i++) {
          const reply = await put(i);
          if (reply.status < 300) {
            ok.push(i);
            continue;
          }
          assert.equal(reply.status, 500, `${kind} ${i}: ${JSON.stringify(reply.json)}`);
          assert.match(reply.json.reason, /ENOSPC/);
          assert.equal(await exists(i), false, `${kind} ${i} was refused but exists in memory`);
          return ok;
        }
        assert.fail(`${kind}: the full disk refused nothing`);
      };
      const httpQueues = await refusedOver(
        'queue',
        (i) => api(broker, 'PUT', `/api/queues/%2F/http-${i}`, { durable: true }),
        (i) => vhost.queues.has(`http-${i}`),
      );
      const vhosts = await refusedOver(
        'vhost',
        (i) => api(broker, 'PUT', `/api/vhosts/v-${i}`),
        (i) => broker.core.vhosts.has(`v-${i}`),
      );
      const users = await refusedOver(
        'user',
        (i) => api(broker, 'PUT', `/api/users/u-${i}`, { password: 'secret', tags: '' }),
        async (i) => (await api(broker, 'GET', `/api/users/u-${i}`)).status === 200,
      );

      // the broker is still serving: a transient queue needs no definitions write
      const again = await amqp.connect(broker.url);
      const ach = await again.createChannel();
      await ach.assertQueue('transient-while-full', { durable: false });

      // space back: the same declarations succeed
      fs.unlinkSync(filler);
      await ach.assertQueue('after-space', { durable: true });
      assert.equal((await api(broker, 'PUT', '/api/vhosts/space-vhost')).status, 201);
      await again.close();
      await broker.stop();

      broker = await startTestBroker({ dataDir, diskFreeLimitBytes: 0 });
      const restored = broker.core.vhosts.get('/')!;
      for (const name of ['before-full', 'after-space', ...amqpOk, ...httpQueues.map((i) => `http-${i}`)]) assert.ok(restored.queues.has(name), `${name} lost`);
      assert.equal(restored.queues.has(amqpRefused), false);
      assert.equal(restored.queues.has(`http-${httpQueues.length}`), false);
      for (const i of vhosts) assert.ok(broker.core.vhosts.has(`v-${i}`));
      assert.equal(broker.core.vhosts.has(`v-${vhosts.length}`), false);
      assert.ok(broker.core.vhosts.has('space-vhost'));
      for (const i of users) assert.equal((await api(broker, 'GET', `/api/users/u-${i}`)).status, 200);
      assert.equal((await api(broker, 'GET', `/api/users/u-${users.length}`)).status, 404);
    } finally {
      await broker.stop().catch(() => {});
      execFileSync('umount', [mountDir]);
      fs.rmSync(mountDir, { recursive: true, force: true });
    }
  },
);

if (!mounted) fs.rmSync(mountDir, { recursive: true, force: true });
