/**
 * What the `postbox` command says when it is used wrongly or pointed at the wrong port: one clear line in
 * its own words (never Node's parseArgs or llhttp text), a did-you-mean for near misses, and the usage.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { CLI_PATH } from '../helpers/process.js';
import { cli, runCli, unusedPort } from './helpers/cli-run.js';

let broker: TestBroker;

before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

/** `postbox serve ...` with no POSTBOX_* variables but those given, synchronously (it exits at once on these errors). */
function serve(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const clean: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(clean)) if (name.startsWith('POSTBOX_')) delete clean[name];
  return spawnSync(process.execPath, [CLI_PATH, 'serve', ...args], { encoding: 'utf8', env: { ...clean, ...env } });
}

test('status against the AMQP or Kafka port says the port did not answer HTTP', async () => {
  for (const [port, why] of [
    [broker.amqpPort, 'HPE_INVALID_CONSTANT'],
    [broker.kafkaPort, 'ECONNRESET'],
  ] as const) {
    const r = await runCli(['status', '--host', '127.0.0.1', '--http-port', String(port)]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `postbox status: 127.0.0.1:${port} did not answer HTTP (${why}): is it the AMQP or Kafka port? --http-port is the management API's port (default 15672)\n`,
    );
  }
});

test('an unknown option is named in plain words, with a did-you-mean and the usage lines', async () => {
  const r = await cli(broker, 'queues', '--bogus');
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    'postbox queues: unknown option --bogus\nUsage:\n  postbox queues [list] [--vhost <vhost>] [--json]\n' +
      r.stderr.slice(r.stderr.indexOf('  postbox queues declare')),
  );
  assert.match(r.stderr, /\nRun 'postbox queues --help' for every flag\.\n$/);
  const near = await cli(broker, 'publish', '--routing-kye', 'x');
  assert.equal(near.code, 2);
  assert.match(near.stderr, /^postbox publish: unknown option --routing-kye \(did you mean --routing-key\?\)\nUsage:\n  postbox publish /);
  const missing = await cli(broker, 'consume', '--queue');
  assert.match(missing.stderr, /^postbox consume: --queue needs a value\n/);
});

test('a mistyped command or action gets a did-you-mean', async () => {
  const r = await runCli(['queus']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "postbox: unknown command 'queus' (did you mean 'queues'?); 'postbox --help' lists the commands\n");
  const policies = await cli(broker, 'policies', 'lst');
  assert.equal(policies.code, 2);
  assert.match(policies.stderr, /^postbox policies: unknown action 'lst' \(did you mean 'list'\?\); the actions are list, set and clear\nUsage:\n/);
  const definitions = await cli(broker, 'definitions', 'exprot');
  assert.equal(definitions.code, 2);
  assert.match(definitions.stderr, /^postbox definitions: unknown action 'exprot' \(did you mean 'export'\?\); the actions are export and import\nUsage:\n/);
  const groups = await cli(broker, 'groups', 'reset-offset', 'g');
  assert.equal(groups.code, 2);
  assert.match(groups.stderr, /^postbox groups: unknown action 'reset-offset' \(did you mean 'reset-offsets'\?\)/);
});

test('a bad setting value names the flag or the environment variable once', () => {
  const flag = serve(['--amqp-port', 'x']);
  assert.equal(flag.status, 1);
  assert.equal(flag.stderr, "postbox: --amqp-port must be a port 0..65535, or -1 for off, got 'x'\n");
  const env = serve([], { POSTBOX_HEARTBEAT: 'soon' });
  assert.equal(env.status, 1);
  assert.equal(env.stderr, `postbox: POSTBOX_HEARTBEAT must be an integer 0..${Number.MAX_SAFE_INTEGER}, got 'soon'\n`);
});

test("serve --help puts every flag's description in one column and shows no empty default", () => {
  const r = serve(['--help']);
  assert.equal(r.status, 0);
  assert.ok(!r.stdout.includes('(default ;'), 'an empty default is left out');
  assert.match(r.stdout, /--tls-cert <path> +PEM file[^]*?\(env POSTBOX_TLS_CERT\)/);
  const flagLines = r.stdout.split('\n').filter((l) => /^ {2}--\S/.test(l));
  const columns = new Set<number>();
  for (const line of flagLines) {
    const doc = /^ {2}--\S+(?: <[^>]+>)? {2,}/.exec(line);
    if (doc !== null) columns.add(doc[0].length);
  }
  assert.equal(columns.size, 1, `descriptions start at columns ${[...columns].join(', ')}`);
  const column = [...columns][0]!;
  for (const line of r.stdout.split('\n')) {
    assert.ok(line.length <= 110, `too long: ${line}`);
    if (line.startsWith(' ') && !line.startsWith('  --') && line.trim() !== '' && r.stdout.indexOf(line) > r.stdout.indexOf('Flags:')) {
      assert.equal(line.length - line.trimStart().length, column, `continuation line not under the column: '${line}'`);
    }
  }
});

test("bench stops with the management API's error instead of trying port 5672", async () => {
  const port = await unusedPort();
  const r = await runCli(['bench', '--messages', '10', '--host', '127.0.0.1', '--http-port', String(port)]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `postbox bench: cannot find the broker's AMQP port (give --amqp-port to skip this): cannot reach the management API at http://127.0.0.1:${port} (ECONNREFUSED): is the broker running, and are --host and --http-port right?\n`,
  );
  const refused = await cli(broker, 'bench', '--messages', '10', '--password', 'wrong');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^postbox bench: cannot find the broker's AMQP port \(give --amqp-port to skip this\): .*\(HTTP 401\)\n$/);
});
