/** `postbox bench` runs a publish/consume round over AMQP against a real broker and prints its rates. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { cli, cliJson, tableRows, unusedPort } from './helpers/cli-run.js';

let broker: TestBroker;

before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

test('bench publishes with confirms and consumes through a temporary queue, and prints a table of non-zero rates', async () => {
  const r = await cli(broker, 'bench', '--messages', '2000', '--size', '100', '--amqp-port', String(broker.amqpPort));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^bench: 2000 messages of 100 bytes over AMQP at 127\\.0\\.0\\.1:${broker.amqpPort}, publisher confirms on\\n`));
  const rows = tableRows(r.stdout.slice(r.stdout.indexOf('\n') + 1));
  assert.deepEqual(
    rows.map((row) => [row.phase, row.messages]),
    [
      ['publish', '2000'],
      ['consume', '2000'],
      ['total', '2000'],
    ],
  );
  for (const row of rows.slice(0, 2)) {
    assert.ok(Number(row['msg/s']) > 0, `${row.phase} msg/s is ${row['msg/s']}`);
    assert.match(row.elapsed!, /^\d+\.\d{3} s$/);
  }
  assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
});

test('bench finds the AMQP port through the management API and reports JSON', async () => {
  const result = await cliJson(broker, 'bench', '--messages', '300', '--size', '0');
  assert.equal(result.amqp_port, broker.amqpPort);
  assert.equal(result.messages, 300);
  assert.equal(result.publish.messages, 300);
  assert.equal(result.consume.messages, 300);
  assert.ok(result.publish.messages_per_second > 0 && result.consume.messages_per_second > 0);
  const queues = await cliJson<any[]>(broker, 'queues');
  assert.deepEqual(queues, [], 'the temporary queue is gone');
});

test('bench against a port where nothing listens exits 1 with one clear line', async () => {
  const port = await unusedPort();
  const r = await cli(broker, 'bench', '--messages', '10', '--amqp-port', String(port));
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^postbox bench: cannot run the bench over AMQP at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\n$`));
});
