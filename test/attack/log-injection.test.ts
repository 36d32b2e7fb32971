/**
 * Log injection: names a client chooses (an AMQP user name, a vhost name, through AMQP or the management
 * API) end up in log lines. A line feed, carriage return or terminal escape in one must not forge a line of
 * its own or rewrite the operator's terminal: the broker's stderr keeps one line per log call, every one
 * starting with its own timestamp. The real broker process and real clients (amqplib, fetch); a canary
 * publishes with confirms throughout. Worst canary latency measured: 45, 48 and 96 ms in three runs (2 CPUs
 * shared with other builds and tests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import amqp from 'amqplib';
import { tempDataDir, waitFor } from '../helpers/broker.js';
import { startCanary } from '../helpers/canary.js';
import { spawnBroker } from '../helpers/process.js';

/** What a forged line would look like: a timestamp and a level of its own. */
const FORGED = '2026-01-01T00:00:00.000Z error FORGED';
/** A log line as the logger writes it: ISO timestamp, level. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) /;

async function refusedConnect(options: amqp.Options.Connect): Promise<void> {
  await assert.rejects(amqp.connect(options));
}

test('newlines, carriage returns and escapes in client-chosen names are escaped in the log, never forging a line', async () => {
  const dir = tempDataDir();
  const broker = await spawnBroker(dir, ['--log-level', 'debug']);
  const canary = await startCanary(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
  try {
    const base = { protocol: 'amqp', hostname: '127.0.0.1', port: broker.amqpPort };
    // a user name with a line feed and a forged line: login refused, logged with the name
    await refusedConnect({ ...base, username: `mallory\n${FORGED} user-lf`, password: 'x' });
    // a carriage return and an ANSI escape that would clear the operator's terminal
    await refusedConnect({ ...base, username: `mallory\r${FORGED} user-cr\x1b[2J`, password: 'x' });
    // a vhost that does not exist, named with a forged line
    await refusedConnect({ ...base, username: 'guest', password: 'guest', vhost: `nope\r\n${FORGED} vhost-amqp` });
    // a vhost created through the management API (logged with its name), then opened over AMQP
    const vhost = `v\n${FORGED} vhost-http\u2028${FORGED} vhost-ls`;
    const auth = { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') };
    const res = await fetch(`http://127.0.0.1:${broker.httpPort}/api/vhosts/${encodeURIComponent(vhost)}`, { method: 'PUT', headers: auth });
    assert.ok(res.status === 201 || res.status === 204, `PUT vhost: ${res.status}`);
    await res.arrayBuffer();
    const conn = await amqp.connect({ ...base, username: 'guest', password: 'guest', vhost });
    await conn.close();

    await canary.check();
    // every attack reached the log, escaped
    const marks = ['user-lf', 'user-cr', 'vhost-amqp', 'vhost-http', 'vhost-ls'];
    await waitFor(() => marks.every((m) => broker.output().includes(`${FORGED} ${m}`)), 10_000, 'the attacks to be logged');
    const out = broker.output();
    assert.ok(out.includes(`mallory\\n${FORGED} user-lf`), 'the line feed is written as \\n');
    assert.ok(out.includes(`mallory\\r${FORGED} user-cr\\x1b[2J`), 'the carriage return and ESC are written as \\r and \\x1b');
    assert.ok(out.includes(`nope\\r\\n${FORGED} vhost-amqp`));
    assert.ok(out.includes(`\\u2028${FORGED} vhost-ls`), 'U+2028 is written as \\u2028');
    assert.equal(out.includes('\r'), false, 'no raw carriage return');
    assert.equal(out.includes('\x1b'), false, 'no raw escape');
    const lines = out.split('\n').filter((l) => l !== '');
    for (const line of lines) {
      assert.match(line, LOG_LINE, `a line that is not one log call's: ${JSON.stringify(line)}`);
      assert.equal(line.startsWith(FORGED), false, `a forged line: ${line}`);
    }
  } finally {
    const report = await canary.stop();
    assert.ok(report.confirmed > 0);
    broker.child.kill('SIGTERM');
    await broker.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
