/**
 * Progress bars of the CLI as a user at a terminal sees them: each command runs under a pseudo-terminal
 * (util-linux `script`), and the last state its bar was drawn in must be the finished one, 100%.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { readyCount } from '../helpers/amqplib.js';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { IMPORT_PROGRESS_MIN_BYTES } from '../../src/cli/definitions.js';
import { CONSUME_BATCH } from '../../src/cli/messages.js';
import { cliInTerminal } from './helpers/cli-run.js';

const MESSAGES = 400;
/** More than one consume batch (CONSUME_BATCH), so bodies and bar alternate on the terminal. */
const CONSUMED = 3 * CONSUME_BATCH - 100;

let broker: TestBroker;
let scratch: string;

before(async () => {
  broker = await startTestBroker();
  scratch = tempDataDir('postbox-cli-progress-');
});
after(async () => {
  await broker.stop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Draw {
  percent: number;
  done: number;
  total: number;
  label: string;
}

/** Every bar state drawn on the terminal, in order: `[####....] 40% 160/400 published`. */
function draws(screen: string): Draw[] {
  const found: Draw[] = [];
  for (const m of screen.matchAll(/\[([#.]{30})\] (\d+)% (\d+)\/(\d+) ([^\r\n\x1b]*)/g)) {
    found.push({ percent: Number(m[2]), done: Number(m[3]), total: Number(m[4]), label: m[5]!.trimEnd() });
  }
  return found;
}

/** The bar's last state, asserting it was drawn and only ever moved forward. */
function finalDraw(screen: string): Draw {
  const all = draws(screen);
  assert.ok(all.length >= 1, `a progress bar drawn on the terminal; saw:\n${JSON.stringify(screen.slice(0, 2000))}`);
  for (let i = 1; i < all.length; i++) assert.ok(all[i]!.done >= all[i - 1]!.done, `the bar went back: ${JSON.stringify(all.slice(i - 1, i + 1))}`);
  return all[all.length - 1]!;
}

test('publish and consume of many messages draw a bar that ends at 100% of the count, and the bodies consume prints keep lines of their own', async () => {
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('progress.q');
    const published = await cliInTerminal(broker, 'publish', '--routing-key', 'progress.q', '--count', String(CONSUMED), '--body', 'm{n}');
    assert.equal(published.code, 0, published.stdout);
    assert.deepEqual(finalDraw(published.stdout), { percent: 100, done: CONSUMED, total: CONSUMED, label: 'published' });
    assert.match(published.stdout, new RegExp(`published ${CONSUMED} messages .*: ${CONSUMED} routed, 0 unroutable`));
    assert.equal(await readyCount(ch, 'progress.q'), CONSUMED);

    const consumed = await cliInTerminal(broker, 'consume', '--queue', 'progress.q', '--count', String(CONSUMED));
    assert.equal(consumed.code, 0, consumed.stdout);
    assert.ok(draws(consumed.stdout).length >= 3, 'the bar drawn after each batch');
    assert.deepEqual(finalDraw(consumed.stdout), { percent: 100, done: CONSUMED, total: CONSUMED, label: 'consumed' });
    // what the terminal shows once each erase-line has done its work: every body on a line of its own
    const shown = consumed.stdout.split('\r\n').map((line) => line.slice(line.lastIndexOf('\x1b[2K') + 1).replace(/^\[2K/, ''));
    const bodies = shown.filter((line) => /^m\d+$/.test(line));
    assert.deepEqual(
      bodies,
      Array.from({ length: CONSUMED }, (_, i) => `m${i + 1}`),
    );
    assert.match(consumed.stdout, new RegExp(`got ${CONSUMED} messages from queue 'progress.q'`));
    assert.equal(await readyCount(ch, 'progress.q'), 0);
  } finally {
    await conn.close();
  }
});

test('definitions import of an indented export draws a bar that reaches 100% of the bytes sent, then says the broker is applying them', async () => {
  // an exported file is indented; the upload is the same definitions without indentation
  const queues = Array.from({ length: 3000 }, (_, i) => ({
    name: `progress.import.${i}`,
    vhost: '/',
    durable: true,
    auto_delete: false,
    arguments: { 'x-message-ttl': 60_000 },
  }));
  const definitions = { vhosts: [{ name: '/' }], queues, exchanges: [], bindings: [] };
  const text = JSON.stringify(definitions, null, 2);
  assert.ok(JSON.stringify(definitions).length >= IMPORT_PROGRESS_MIN_BYTES, 'the upload is large enough for a bar');
  const file = join(scratch, 'indented.json');
  writeFileSync(file, text);
  const r = await cliInTerminal(broker, 'definitions', 'import', '--file', file);
  assert.equal(r.code, 0, r.stdout);
  const last = finalDraw(r.stdout);
  assert.equal(last.percent, 100);
  assert.equal(last.done, last.total);
  assert.equal(last.total, Buffer.byteLength(JSON.stringify(definitions)));
  assert.equal(last.label, 'bytes sent; the broker is applying them');
  assert.match(r.stdout, /imported definitions from .*: 1 vhosts, 3000 queues, 0 exchanges, 0 bindings/);
});

test('bench draws its publish and consume bars to 100%', async () => {
  const r = await cliInTerminal(broker, 'bench', '--messages', String(MESSAGES), '--size', '10', '--amqp-port', String(broker.amqpPort));
  assert.equal(r.code, 0, r.stdout);
  const all = draws(r.stdout);
  const byLabel = (label: string): Draw[] => all.filter((d) => d.label === label);
  assert.deepEqual(byLabel('published and confirmed').at(-1), { percent: 100, done: MESSAGES, total: MESSAGES, label: 'published and confirmed' });
  assert.deepEqual(byLabel('consumed').at(-1), { percent: 100, done: MESSAGES, total: MESSAGES, label: 'consumed' });
});
