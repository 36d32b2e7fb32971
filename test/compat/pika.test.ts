/**
 * Postbox through pika, the Python client (Debian's python3-pika 1.2; .ci/run installs it). The Python side
 * is test/compat/pika_smoke.py; this test starts a broker, runs the script against it and checks its output.
 * A missing python3 or pika fails the test with the install hint: it is never skipped silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker } from '../helpers/broker.js';
import { findPython, findRepoFile, run } from '../helpers/external.js';

test('pika BlockingConnection declares, publishes with confirms, gets, consumes, binds and closes', async () => {
  const script = findRepoFile('test/compat/pika_smoke.py');
  const python = await findPython('pika', 'install it with `apt-get install python3-pika`');
  const broker = await startTestBroker();
  try {
    const { code, stdout, stderr } = await run(python, [script, String(broker.amqpPort)]);
    assert.equal(code, 0, `pika_smoke.py failed (exit ${String(code)}):\n${stdout}\n${stderr}`);
    assert.deepEqual(stdout.trim().split('\n'), [
      'connected',
      'declared pika-smoke',
      'confirmed',
      'got hello pika',
      'empty',
      'consumed consume me',
      'routed routed',
      'returned unroutable',
      'closed',
    ]);
  } finally {
    await broker.stop();
  }
});
