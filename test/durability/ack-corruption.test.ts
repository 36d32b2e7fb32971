/**
 * A damaged ack file, seen from outside: a real `postbox serve` child takes confirmed messages, acks half
 * of them and is killed with SIGKILL; the test changes one byte of one ack entry so that it names the next
 * (never acked) message, and a second broker opens the directory. Nothing confirmed and unacked may be
 * missing: an ack entry that does not check out is ignored (its own message comes back: a redelivery,
 * allowed by at-least-once), never applied to another message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import amqp from 'amqplib';
import { tempDataDir, waitFor } from '../helpers/broker.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';

const MESSAGES = 100;
const QUEUE = 'ack-corruption-q';

async function stop(broker: BrokerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  broker.child.kill(signal);
  await broker.exited;
}

function findFile(dir: string, pattern: RegExp): string | undefined {
  const queues = path.join(dir, 'queues');
  for (const queue of fs.readdirSync(queues)) {
    for (const name of fs.readdirSync(path.join(queues, queue))) if (pattern.test(name)) return path.join(queues, queue, name);
  }
  return undefined;
}

/** Offset of the record holding `body` in a queue segment (16-byte header, then length u32 + crc u32 + payload). */
function offsetOf(segment: Buffer, body: string): number {
  for (let at = 16; at + 8 <= segment.length; at += 8 + segment.readUInt32BE(at)) {
    if (segment.subarray(at + 8, at + 8 + segment.readUInt32BE(at)).includes(body)) return at;
  }
  return -1;
}

/** Where the ack file holds the u32 `value` (4-byte aligned, as every entry is in both ack formats), or -1. */
function entryAt(ack: Buffer, value: number): number {
  for (let at = 0; at + 4 <= ack.length; at += 4) if (ack.readUInt32BE(at) === value) return at;
  return -1;
}

const body = (n: number): string => `message ${String(n).padStart(3, '0')} `.padEnd(120, '.');

test('an ack entry changed by one byte to name the next message never hides it: every confirmed unacked message comes back after kill -9', async (t) => {
  const dir = tempDataDir('postbox-ack-corruption-');
  try {
    const first = await spawnBroker(dir);
    let segmentFile: string;
    let ackFile: string;
    let changed: number;
    try {
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.amqpPort}`);
      conn.on('error', () => {}); // the kill -9 below closes it under the client
      const confirms = await conn.createConfirmChannel();
      await confirms.assertQueue(QUEUE, { durable: true });
      for (let n = 0; n < MESSAGES; n++) confirms.sendToQueue(QUEUE, Buffer.from(body(n)), { persistent: true });
      await confirms.waitForConfirms();
      const ch = await conn.createChannel();
      const held: amqp.GetMessage[] = [];
      for (let n = 0; n < MESSAGES; n++) {
        const message = await ch.get(QUEUE, { noAck: false });
        assert.ok(message !== false);
        assert.equal(message.content.toString(), body(n));
        held.push(message);
      }
      for (let n = 0; n < MESSAGES; n += 2) ch.ack(held[n]!); // the even messages are acked, the odd ones owed

      segmentFile = findFile(dir, /^\d{8}\.seg$/)!;
      const segment = fs.readFileSync(segmentFile);
      const offsets = Array.from({ length: MESSAGES }, (_, n) => offsetOf(segment, body(n)));
      assert.ok(offsets.every((offset) => offset >= 16));
      // an acked message n whose record offset differs from message n + 1's in the last byte only
      changed = offsets.findIndex((offset, n) => n >= 10 && n % 2 === 0 && offset >>> 8 === offsets[n + 1]! >>> 8);
      assert.ok(changed > 0);
      ackFile = findFile(dir, /^\d{8}\.ack$/)!;
      await waitFor(
        () => ackFile !== undefined && fs.existsSync(ackFile) && entryAt(fs.readFileSync(ackFile), offsets[MESSAGES - 2]!) >= 0,
        10_000,
        'the last ack to reach the ack file',
      );
      await stop(first, 'SIGKILL'); // (the acks reached the OS: a kill -9 keeps them)

      const ack = fs.readFileSync(ackFile);
      const at = entryAt(ack, offsets[changed]!);
      assert.ok(at >= 0, 'the ack of the chosen message is in the ack file');
      ack[at + 3] = offsets[changed + 1]! & 0xff; // now it names message changed + 1, never acked
      fs.writeFileSync(ackFile, ack);
    } finally {
      if (first.child.exitCode === null && first.child.signalCode === null) await stop(first, 'SIGKILL');
    }

    const second = await spawnBroker(dir);
    try {
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${second.amqpPort}`);
      const ch = await conn.createChannel();
      const bodies = new Set<string>();
      for (;;) {
        const message = await ch.get(QUEUE, { noAck: true });
        if (message === false) break;
        bodies.add(message.content.toString());
      }
      await conn.close();
      const missing = Array.from({ length: MESSAGES / 2 }, (_, k) => 2 * k + 1).filter((n) => !bodies.has(body(n)));
      // observed before ack checksums: message changed + 1 missing (hidden by the changed entry)
      assert.deepEqual(missing, [], `confirmed, unacked and missing: ${missing.join(', ')}`);
      assert.ok(bodies.has(body(changed)), 'the message whose ack is unreadable comes back (a redelivery, not a loss)');
      assert.equal(bodies.size, MESSAGES / 2 + 1);
      const errorLine = second
        .output()
        .split('\n')
        .find((line) => / error .*\.ack is DAMAGED/.test(line));
      assert.ok(errorLine, second.output());
      assert.match(errorLine, /1 of \d+ ack entries failed their checksum/);
      assert.ok(
        fs.readdirSync(path.dirname(ackFile)).some((name) => name.startsWith(`${path.basename(ackFile)}.damaged-`)),
        'the damaged entry is kept in a side file',
      );
      t.diagnostic(`${bodies.size} messages came back (message ${changed} again); ${errorLine}`);
    } finally {
      await stop(second);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
