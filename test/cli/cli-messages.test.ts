/** `postbox publish|consume|purge` move messages through the management API of a real broker. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { drainBodies, readyCount } from '../helpers/amqplib.js';
import { startTestBroker, tempDataDir, type TestBroker } from '../helpers/broker.js';
import { cli, cliJson, cliOk } from './helpers/cli-run.js';

/** Above the CLI's progress-bar threshold, so the bulk path runs (the bar itself stays off: stderr is a pipe). */
const BULK = 150;

let broker: TestBroker;
let conn: ChannelModel;
let ch: ConfirmChannel;
let scratch: string;

before(async () => {
  broker = await startTestBroker();
  conn = await amqp.connect(broker.url);
  ch = await conn.createConfirmChannel();
  scratch = tempDataDir('postbox-cli-files-');
});

after(async () => {
  await conn.close();
  await broker.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('publish --count N puts N numbered messages in the queue, and consume gets them back in order', async () => {
  await ch.assertQueue('cli.bulk');
  const published = await cli(broker, 'publish', '--routing-key', 'cli.bulk', '--count', String(BULK), '--body', 'order {n}');
  assert.equal(published.code, 0, published.stderr);
  assert.equal(published.stdout, `published ${BULK} messages to the default exchange with routing key 'cli.bulk' in vhost '/': ${BULK} routed, 0 unroutable\n`);
  assert.ok(!published.stderr.includes('\r'), 'no progress bar when stderr is not a terminal');
  assert.equal(await readyCount(ch, 'cli.bulk'), BULK);

  const consumed = await cli(broker, 'consume', '--queue', 'cli.bulk', '--count', String(BULK));
  assert.equal(consumed.code, 0, consumed.stderr);
  assert.deepEqual(
    consumed.stdout.split('\n').slice(0, -1),
    Array.from({ length: BULK }, (_, i) => `order ${i + 1}`),
  );
  assert.equal(consumed.stderr, `got ${BULK} messages from queue 'cli.bulk' in vhost '/' (acknowledged)\n`);
  assert.equal(await readyCount(ch, 'cli.bulk'), 0);
});

test('publish --json counts the messages no queue took as unroutable', async () => {
  const result = await cliJson(broker, 'publish', '--exchange', 'amq.direct', '--routing-key', 'nowhere', '--count', '3');
  assert.deepEqual(result, { vhost: '/', exchange: 'amq.direct', routing_key: 'nowhere', published: 3, routed: 0, unroutable: 3 });
});

test('publish to a named exchange carries the given properties to the bound queue', async () => {
  await ch.assertExchange('cli.x', 'direct');
  await ch.assertQueue('cli.props');
  await ch.bindQueue('cli.props', 'cli.x', 'k');
  const properties = JSON.stringify({ content_type: 'text/plain', delivery_mode: 2, headers: { tenant: 'acme' }, message_id: 'id-1' });
  const r = await cli(broker, 'publish', '--exchange', 'cli.x', '--routing-key', 'k', '--body', 'hello', '--properties', properties);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /to exchange 'cli\.x' with routing key 'k' in vhost '\/': 1 routed, 0 unroutable/);
  const m = await ch.get('cli.props', { noAck: true });
  assert.ok(m !== false);
  assert.equal(m.content.toString(), 'hello');
  assert.equal(m.fields.exchange, 'cli.x');
  assert.equal(m.properties.contentType, 'text/plain');
  assert.equal(m.properties.deliveryMode, 2);
  assert.equal(m.properties.messageId, 'id-1');
  assert.equal(m.properties.headers?.tenant, 'acme');
});

test('publish --file sends a text file with {n} numbered and a binary file byte for byte', async () => {
  await ch.assertQueue('cli.files');
  const text = join(scratch, 'body.txt');
  const binary = join(scratch, 'body.bin');
  writeFileSync(text, 'line {n}\n');
  writeFileSync(binary, Buffer.from([0x00, 0xff, 0x10, 0x80]));
  assert.match(await cliOk(broker, 'publish', '--routing-key', 'cli.files', '--file', text, '--count', '2'), /: 2 routed/);
  assert.match(await cliOk(broker, 'publish', '--routing-key', 'cli.files', '--file', binary), /: 1 routed/);
  const bodies: Buffer[] = [];
  for (;;) {
    const m = await ch.get('cli.files', { noAck: true });
    if (m === false) break;
    bodies.push(m.content);
  }
  assert.deepEqual(
    bodies.map((b) => b.toString('hex')),
    [Buffer.from('line 1\n').toString('hex'), Buffer.from('line 2\n').toString('hex'), '00ff1080'],
  );
  const missing = await cli(broker, 'publish', '--routing-key', 'cli.files', '--file', join(scratch, 'absent'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^postbox publish: cannot read --file .*absent/);
});

test('consume --requeue leaves the messages in the queue; consume stops early when the queue runs empty', async () => {
  await ch.assertQueue('cli.peek');
  for (let i = 1; i <= 5; i++) ch.sendToQueue('cli.peek', Buffer.from(`p${i}`));
  await ch.waitForConfirms();
  const peeked = await cliJson<any[]>(broker, 'consume', '--queue', 'cli.peek', '--count', '2', '--requeue');
  assert.deepEqual(
    peeked.map((m) => [m.payload, m.payload_encoding, m.routing_key]),
    [
      ['p1', 'string', 'cli.peek'],
      ['p2', 'string', 'cli.peek'],
    ],
  );
  assert.equal(await readyCount(ch, 'cli.peek'), 5);

  const all = await cli(broker, 'consume', '--queue', 'cli.peek', '--count', '10', '--ack');
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(
    all.stdout
      .split('\n')
      .filter((l) => l !== '')
      .sort(),
    ['p1', 'p2', 'p3', 'p4', 'p5'],
  );
  assert.match(all.stderr, /^got 5 messages from queue 'cli\.peek' in vhost '\/' \(acknowledged\)\n$/);
  assert.equal(await readyCount(ch, 'cli.peek'), 0);
});

test('consume prints a payload that is not UTF-8 base64-encoded', async () => {
  await ch.assertQueue('cli.binary');
  ch.sendToQueue('cli.binary', Buffer.from([0x00, 0xff, 0x10]));
  await ch.waitForConfirms();
  const r = await cli(broker, 'consume', '--queue', 'cli.binary');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'base64:AP8Q\n');
});

test('purge empties a queue and leaves it in place', async () => {
  await ch.assertQueue('cli.purge');
  for (let i = 0; i < 10; i++) ch.sendToQueue('cli.purge', Buffer.from('x'));
  await ch.waitForConfirms();
  const r = await cli(broker, 'purge', '--queue', 'cli.purge');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "purged queue 'cli.purge' in vhost '/'\n");
  assert.equal(await readyCount(ch, 'cli.purge'), 0);
  ch.sendToQueue('cli.purge', Buffer.from('after'));
  await ch.waitForConfirms();
  assert.deepEqual(await drainBodies(ch, 'cli.purge'), ['after']);
  assert.deepEqual(await cliJson(broker, 'purge', '--queue', 'cli.purge'), { vhost: '/', queue: 'cli.purge', result: 'purged' });
});

test('purge and consume of a queue that does not exist exit 1 with the 404', async () => {
  for (const command of ['purge', 'consume']) {
    const r = await cli(broker, command, '--queue', 'cli.absent');
    assert.equal(r.code, 1, `${command}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^postbox ${command}: .*\\(HTTP 404\\)\\n$`));
  }
});
