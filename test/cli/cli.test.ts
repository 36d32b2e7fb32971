import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import amqp from 'amqplib';
import { SETTINGS } from '../../src/config/config.js';
import { tempDataDir } from '../helpers/broker.js';
import { CLI_PATH, spawnBroker } from '../helpers/process.js';

test('postbox --help and postbox serve --help describe the command and every flag', () => {
  const main = spawnSync(process.execPath, [CLI_PATH, '--help'], { encoding: 'utf8' });
  assert.equal(main.status, 0);
  assert.match(main.stdout, /postbox serve/);
  const serve = spawnSync(process.execPath, [CLI_PATH, 'serve', '--help'], { encoding: 'utf8' });
  assert.equal(serve.status, 0);
  for (const s of SETTINGS) assert.ok(serve.stdout.includes(s.flag), `serve --help lacks ${s.flag}`);
  assert.ok(serve.stdout.includes('--config'));
});

test('an unknown flag stops the broker with one clear line and exit code 1', () => {
  const r = spawnSync(process.execPath, [CLI_PATH, 'serve', '--no-such-flag', 'x'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown flag '--no-such-flag'/);
});

test('SIGTERM closes client connections with 320 CONNECTION_FORCED and exits 0', async () => {
  const dir = tempDataDir();
  try {
    const broker = await spawnBroker(dir);
    assert.match(broker.output(), /ready: amqp on 127\.0\.0\.1:\d+/);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
    const closed = new Promise<Error>((resolve) => conn.on('close', resolve));
    conn.on('error', () => {});
    broker.child.kill('SIGTERM');
    const err = await closed;
    assert.match(String(err), /320/);
    assert.equal(await broker.exited, 0);
    assert.match(broker.output(), /stopped cleanly/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
