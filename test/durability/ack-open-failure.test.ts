/**
 * An ack whose ack file cannot be opened (EMFILE after the descriptor cache has given back its own
 * descriptors, or EIO), through amqplib against a real `postbox serve` child. POSTBOX_FAULTS
 * (storage/faults.ts) fails every open of an ack file while a switch file exists. Required: the channel
 * keeps working, storage reports the failure (health 503) and repairs itself once opens work again, and
 * after a kill -9 exactly the unacked messages come back: no acked one resurrected, no unacked one lost.
 * A tolerant canary (nacks allowed: the storage-failure path nacks what was in flight) runs during the
 * failure, the standard canary after it. Measured (2 CPUs shared): tolerant canary worst 114 ms (8 of
 * its publishes nacked, as the failure path does), standard canary after 6 ms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { tempDataDir, waitFor } from '../helpers/broker.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { startCanary, startTolerantCanary } from '../helpers/canary.js';

const QUEUE = 'ack-open-failure-q';
const MESSAGES = 20;

async function status(broker: BrokerProcess, urlPath: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${broker.httpPort}${urlPath}`, {
    headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') },
  });
  await res.arrayBuffer();
  return res.status;
}

async function metric(broker: BrokerProcess, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${broker.httpPort}/metrics`, {
    headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') },
  });
  const line = (await res.text()).split('\n').find((l) => l.startsWith(name + ' '));
  assert.ok(line !== undefined, `metric ${name} present`);
  return Number(line.split(' ')[1]);
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const [kind, errno] of [
  ['emfile', 'EMFILE'],
  ['openeio', 'EIO'],
] as const) {
  test(`an ack whose ack file cannot be opened (${errno}) keeps the channel, fails storage until opens work again, and loses or resurrects nothing`, async (t) => {
    const dir = tempDataDir('postbox-ackopen-');
    const switchFile = path.join(os.tmpdir(), `postbox-ackopen-switch-${process.pid}`);
    process.env.POSTBOX_FAULTS = `${kind}=1,open-match=.ack,open-while=${switchFile}`; // inherited by the child only
    let broker: BrokerProcess;
    try {
      broker = await spawnBroker(dir);
    } finally {
      delete process.env.POSTBOX_FAULTS;
    }
    try {
      const url = `amqp://guest:guest@127.0.0.1:${broker.amqpPort}`;
      const conn = await amqp.connect(url);
      const errors: Error[] = [];
      conn.on('error', (error: Error) => errors.push(error));
      const confirms = await conn.createConfirmChannel();
      await confirms.assertQueue(QUEUE, { durable: true });
      for (let n = 0; n < MESSAGES; n++) confirms.sendToQueue(QUEUE, Buffer.from(`message ${n}`), { persistent: true });
      await confirms.waitForConfirms();
      const canary = await startTolerantCanary(url);

      fs.writeFileSync(switchFile, ''); // from now on every ack file open fails with EMFILE
      const ch = await conn.createChannel();
      ch.on('error', (error: Error) => errors.push(error));
      const held: amqp.GetMessage[] = [];
      for (let n = 0; n < MESSAGES; n++) {
        const message = await ch.get(QUEUE, { noAck: false });
        assert.ok(message !== false, `message ${n} delivered`);
        held.push(message);
      }
      for (let n = 0; n < MESSAGES / 2; n++) ch.ack(held[n]!);
      await until(async () => (await status(broker, '/api/health/checks/alarms')) === 503, 'storage to report the failure');
      const check = await ch.checkQueue(QUEUE); // the channel that acked is alive
      assert.equal(check.queue, QUEUE);
      assert.deepEqual(errors, [], 'no channel or connection error');

      assert.ok((await metric(broker, 'postbox_storage_unrepaired_logs')) >= 1, 'the queue log cannot write its acks yet');

      fs.rmSync(switchFile); // descriptors are available again
      // (the health checks keep answering 503 for 10 s after the last failure: the metric says when it is repaired)
      await until(async () => (await metric(broker, 'postbox_storage_unrepaired_logs')) === 0, 'storage to repair itself');
      await waitFor(() => canary.settled().open === 0, 10_000, 'every tolerant-canary publish to be settled');
      const settled = canary.settled();
      await canary.stop();
      const standard = await startCanary(url);
      await standard.check();
      const report = await standard.stop();
      t.diagnostic(
        `tolerant canary: ${settled.acked} acked, ${settled.nacked} nacked, worst ${settled.worstMs} ms; canary after: worst ${report.worstLatencyMs} ms`,
      );
      assert.deepEqual(errors, []);
      assert.match(broker.output(), new RegExp(`error .*${errno}`), 'the failure was logged');

      broker.child.kill('SIGKILL'); // the acks were written once storage recovered: a crash keeps them
      await broker.exited;
      broker = await spawnBroker(dir);
      const after = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
      const reader = await after.createChannel();
      const bodies: string[] = [];
      for (;;) {
        const message = await reader.get(QUEUE, { noAck: true });
        if (message === false) break;
        bodies.push(message.content.toString());
      }
      await after.close();
      assert.deepEqual(bodies.sort(), Array.from({ length: MESSAGES / 2 }, (_, k) => `message ${MESSAGES / 2 + k}`).sort());
    } finally {
      fs.rmSync(switchFile, { force: true });
      if (broker!.child.exitCode === null && broker!.child.signalCode === null) {
        broker!.child.kill('SIGTERM');
        await broker!.exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
