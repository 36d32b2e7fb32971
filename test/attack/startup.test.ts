/**
 * Operator mistakes at startup: a second broker on a data directory in use, a port in use, listening on both
 * address families, SIGTERM the moment the broker is ready, a misspelt config key. Each runs the real
 * `postbox serve` (or startBroker) and checks what an operator sees: the exit code, one line on stderr,
 * and the data directory, file by file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import amqp from 'amqplib';
import { startBroker } from '../../src/broker.js';
import { createLogger } from '../../src/log/logger.js';
import { DataDirLockedError } from '../../src/storage/data-dir-lock.js';
import { buildConfig, ConfigError } from '../../src/config/config.js';
import { tempDataDir, startTestBroker } from '../helpers/broker.js';
import { CLI_PATH, runRefusedBroker, serveArgs, spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';

const QUEUE = 'orders';

/** Every file and directory under `dir`: type, size, mode, inode, mtime and a hash of the contents. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string, rel: string): void => {
    const st = lstatSync(path);
    if (st.isDirectory()) {
      out[rel + '/'] = `dir mode ${st.mode} mtime ${st.mtimeMs}`;
      for (const name of readdirSync(path).sort()) walk(join(path, name), rel === '' ? name : `${rel}/${name}`);
    } else {
      const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
      out[rel] = `file ${st.size} bytes mode ${st.mode} inode ${st.ino} mtime ${st.mtimeMs} sha256 ${hash}`;
    }
  };
  walk(dir, '');
  return out;
}

/** Publish `count` persistent messages to the durable QUEUE and wait for every confirm. */
async function publishConfirmed(amqpPort: number, from: number, count: number): Promise<void> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(QUEUE, { durable: true });
  for (let i = from; i < from + count; i++) ch.sendToQueue(QUEUE, Buffer.from(`m${i}`), { persistent: true });
  await ch.waitForConfirms();
  await conn.close();
}

/** The bodies in QUEUE, sorted, taken with basic.get and left in the queue (nacked back). */
async function queuedBodies(amqpPort: number): Promise<string[]> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
  const ch = await conn.createChannel();
  const bodies: string[] = [];
  for (;;) {
    const m = await ch.get(QUEUE, { noAck: false });
    if (m === false) break;
    bodies.push(m.content.toString());
  }
  await conn.close();
  return bodies.sort();
}

function expected(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `m${i}`).sort();
}

async function stopCleanly(broker: BrokerProcess): Promise<void> {
  broker.child.kill('SIGTERM');
  assert.equal(await broker.exited, 0, broker.output());
}

function lines(output: string): string[] {
  return output.split('\n').filter((l) => l.trim() !== '');
}

test('a second broker on the same data directory exits with one line naming it and the holder, and touches nothing', async () => {
  const dir = tempDataDir();
  const first = await spawnBroker(dir);
  try {
    await publishConfirmed(first.amqpPort, 0, 50);
    // what a second broker that ran recovery would delete: the live broker's transient/ directory
    writeFileSync(join(dir, 'transient', 'in-use-by-the-first-broker'), 'x');
    const before = snapshot(dir);
    const second = await runRefusedBroker([...serveArgs(dir)]);
    assert.equal(second.started, false, `the second broker started:\n${second.output}`);
    assert.notEqual(second.code, 0);
    const said = lines(second.output);
    assert.equal(said.length, 1, second.output);
    assert.ok(said[0]!.includes(dir), said[0]);
    assert.ok(said[0]!.includes(`pid ${first.child.pid}`), said[0]);
    assert.deepEqual(snapshot(dir), before);
    // the first keeps serving, and everything it confirmed, before and after, survives its restart
    await publishConfirmed(first.amqpPort, 50, 50);
    await stopCleanly(first);
    const again = await spawnBroker(dir);
    try {
      assert.deepEqual(await queuedBodies(again.amqpPort), expected(100));
    } finally {
      await stopCleanly(again);
    }
  } finally {
    if (first.child.exitCode === null) first.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broker killed with kill -9 does not keep the next one from its data directory', async () => {
  const dir = tempDataDir();
  const first = await spawnBroker(dir);
  try {
    await publishConfirmed(first.amqpPort, 0, 20);
    assert.equal(readFileSync(join(dir, '.lock'), 'utf8').trim(), String(first.child.pid));
    first.child.kill('SIGKILL');
    await first.exited;
    // its .lock is left behind, naming a dead process: it must not matter
    assert.ok(existsSync(join(dir, '.lock')));
    const next = await spawnBroker(dir);
    try {
      assert.equal(readFileSync(join(dir, '.lock'), 'utf8').trim(), String(next.child.pid));
      assert.deepEqual(await queuedBodies(next.amqpPort), expected(20));
    } finally {
      await stopCleanly(next);
    }
    assert.equal(existsSync(join(dir, '.lock')), false, 'a clean stop removes .lock');
  } finally {
    if (first.child.exitCode === null) first.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startBroker() twice on one data directory: the second throws DataDirLockedError, and the directory is free again once the first closes', async () => {
  const dir = tempDataDir();
  const options = { dataDir: dir, hosts: ['127.0.0.1'], amqpPort: 0, httpPort: 0, kafkaPort: 0, prometheusPort: -1, logger: createLogger('silent') };
  const first = await startBroker(options);
  try {
    await assert.rejects(startBroker(options), (err: Error) => {
      assert.ok(err instanceof DataDirLockedError, String(err));
      assert.ok(err.message.includes(dir) && err.message.includes(`pid ${process.pid}`), err.message);
      return true;
    });
  } finally {
    await first.close();
  }
  const third = await startBroker(options);
  await third.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A data directory as a killed broker leaves it: messages in a durable queue, a non-empty transient/. */
async function leftBehindDataDir(): Promise<string> {
  const dir = tempDataDir();
  const broker = await spawnBroker(dir);
  await publishConfirmed(broker.amqpPort, 0, 10);
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.amqpPort}`);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('scratch', { durable: false });
  ch.sendToQueue('scratch', Buffer.from('transient'), { persistent: true });
  await ch.waitForConfirms();
  conn.on('error', () => {});
  broker.child.kill('SIGKILL');
  await broker.exited;
  await conn.close().catch(() => {});
  assert.ok(readdirSync(join(dir, 'transient')).length > 0, 'the killed broker left transient/ with a queue in it');
  return dir;
}

async function occupyPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { server, port: (server.address() as { port: number }).port };
}

for (const [flag, label] of [
  ['--amqp-port', 'AMQP'],
  ['--http-port', 'the management HTTP API'],
  ['--kafka-port', 'Kafka'],
] as const) {
  test(`a port in use (${flag}) is one line naming the listener and its flag, and the data directory is left byte for byte`, async () => {
    const dir = await leftBehindDataDir();
    const taken = await occupyPort();
    try {
      const before = snapshot(dir);
      const ports = { '--amqp-port': '0', '--http-port': '0', '--kafka-port': '0', [flag]: String(taken.port) };
      const run = await runRefusedBroker(['--data-dir', dir, '--host', '127.0.0.1', ...Object.entries(ports).flat()]);
      assert.equal(run.started, false, run.output);
      assert.deepEqual(snapshot(dir), before, 'the data directory changed');
      assert.equal(run.code, 1);
      assert.deepEqual(lines(run.output), [`postbox: cannot listen for ${label} on 127.0.0.1:${taken.port} (${flag}): address already in use`]);
    } finally {
      await new Promise<void>((r) => taken.server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('--host 0.0.0.0,:: listens on both families: AMQP, HTTP and Kafka clients connect over 127.0.0.1 and ::1', async () => {
  const broker = await startTestBroker({ hosts: ['0.0.0.0', '::'] });
  try {
    for (const host of ['127.0.0.1', '::1']) {
      const conn = await amqp.connect({ protocol: 'amqp', hostname: host, port: broker.amqpPort, username: 'guest', password: 'guest' });
      const ch = await conn.createChannel();
      const q = await ch.assertQueue('', { exclusive: true });
      assert.ok(q.queue.length > 0);
      await conn.close();
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${broker.httpPort}/api/overview`;
      const res = await fetch(url, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
      assert.equal(res.status, 200, `${url}: ${res.status}`);
      await res.arrayBuffer();
      const kafka = await RawKafkaClient.connect(broker.kafkaPort, 'dual-stack', host);
      const versions = await kafka.request(18, 3, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' });
      assert.equal(versions.errorCode, 0);
      kafka.close();
    }
  } finally {
    await broker.stop();
  }
});

test('SIGTERM the moment "ready" is printed stops the broker cleanly, every time', async () => {
  const dir = tempDataDir();
  try {
    for (let attempt = 0; attempt < 6; attempt++) {
      const child = spawn(
        process.execPath,
        [CLI_PATH, 'serve', '--data-dir', dir, '--host', '127.0.0.1', '--amqp-port', '0', '--http-port', '0', '--kafka-port', '0', '--prometheus-port', '-1'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let sent = false;
      child.stderr.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (!sent && out.includes(' ready: ')) {
          sent = true;
          child.kill('SIGTERM');
        }
      });
      const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
      assert.equal(sent, true, out);
      assert.deepEqual([code, signal], [0, null], `attempt ${attempt}:\n${out}`);
      assert.match(out, /stopped cleanly/, `attempt ${attempt}:\n${out}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown key in the config file is an error with a did-you-mean, and nothing is started', async () => {
  const root = tempDataDir();
  const dir = join(root, 'data');
  const configFile = join(root, 'postbox.json');
  writeFileSync(configFile, JSON.stringify({ amqpPrt: 5, host: '127.0.0.1' }));
  try {
    const run = await runRefusedBroker(['--config', configFile, '--data-dir', dir, '--http-port', '0', '--kafka-port', '0', '--prometheus-port', '-1']);
    assert.equal(run.started, false, run.output);
    assert.equal(run.code, 1);
    const said = lines(run.output);
    assert.equal(said.length, 1, run.output);
    assert.match(said[0]!, /unknown key 'amqpPrt' \(did you mean amqpPort\?\)/);
    assert.ok(said[0]!.includes(configFile), said[0]);
    assert.equal(existsSync(dir), false, 'the data directory was created');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  // the keys that are not settings are still accepted, and so are misspelt flags refused with a suggestion
  assert.doesNotThrow(() => buildConfig({ file: { users: [], vhosts: ['/'], alerts: [], defaultGuest: true, amqpPort: 5 } }));
  assert.throws(
    () => buildConfig({ file: { defaultGest: false } }),
    (e: Error) => e instanceof ConfigError && e.message.includes('did you mean defaultGuest?'),
  );
  mkdirSync(root, { recursive: true });
  const flagRun = await runRefusedBroker(['--data-dir', join(root, 'data'), '--amqp-prt', '5']);
  rmSync(root, { recursive: true, force: true });
  assert.equal(flagRun.code, 1);
  assert.match(flagRun.output, /unknown flag '--amqp-prt' \(did you mean --amqp-port\?\)/);
});

test('a --data-dir that cannot be a directory is one line naming it, and the file is left alone', async () => {
  const root = tempDataDir();
  const file = join(root, 'not-a-directory');
  writeFileSync(file, 'keep me');
  try {
    const run = await runRefusedBroker([...serveArgs(file)]);
    assert.equal(run.started, false, run.output);
    assert.equal(run.code, 1);
    const said = lines(run.output);
    assert.equal(said.length, 1, run.output);
    assert.ok(said[0]!.startsWith(`postbox: cannot use data directory ${file} (--data-dir)`), said[0]);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
