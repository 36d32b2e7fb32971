/**
 * Password guessing against the management API (HTTP basic auth) and AMQP (PLAIN): the guesses of one source
 * are logged in a line or two, never one line a guess; past the free failures the source's answers are
 * delayed and at most one is held at a time (the others are refused at once, unchecked); a right password
 * from it still logs in (after the delay) and clears the record; another source (127.0.0.2, the client
 * socket bound to it) is not slowed. A canary publishes with confirms throughout. Worst canary latency
 * measured: 54 and 70 ms (HTTP: 200 requests at once), 15 and 10 ms (AMQP), in two runs on 2 CPUs shared with
 * other builds and tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import amqp from 'amqplib';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';
import { startCanary } from '../helpers/canary.js';
import { createLogger } from '../../src/log/logger.js';
import { FREE_FAILURES } from '../../src/core/login-guard.js';

/** Most lines about one source's burst of guesses: the first failure (and, later, the success that ends them). */
const MAX_LINES_PER_BURST = 2;

function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

/** GET /api/whoami from `localAddress`, on a connection of its own; resolves with the status */
function whoami(broker: TestBroker, password: string, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: broker.httpPort, path: '/api/whoami', localAddress, agent: false, headers: { authorization: basic('guest', password) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function brokerWithLog(): Promise<{ broker: TestBroker; lines: string[] }> {
  const lines: string[] = [];
  const broker = await startTestBroker({ logger: createLogger('warn', (l) => lines.push(l)) });
  return { broker, lines };
}

function linesAbout(lines: readonly string[], address: string): string[] {
  return lines.filter((l) => l.includes(` from ${address}`) || l.includes(`${address}:`));
}

test('200 wrong HTTP passwords from one address: logged in a line, slowed with one answer held at a time; the right one still logs in, another address is not slowed', async (t) => {
  const { broker, lines } = await brokerWithLog();
  const canary = await startCanary(broker.url);
  const guard = broker.core.logins;
  try {
    const statuses = await Promise.all(Array.from({ length: 200 }, () => whoami(broker, 'wrong')));
    assert.deepEqual(new Set(statuses), new Set([401]), 'every guess refused');
    assert.equal(guard.stats.failures, 200);
    assert.ok(guard.stats.delayed >= 1, 'past the free failures, answers were delayed');
    assert.equal(guard.stats.peakPendingPerSource, 1, 'never more than one answer held for the source');
    assert.equal(guard.stats.delayed + guard.stats.busy, 200 - FREE_FAILURES, 'every guess past the free ones was delayed or refused unchecked');
    assert.ok(guard.stats.busy >= 100, `most were refused at once (${guard.stats.busy})`);
    assert.ok(linesAbout(lines, '127.0.0.1').length <= MAX_LINES_PER_BURST - 1, linesAbout(lines, '127.0.0.1').join('\n'));
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text();
    assert.match(metrics, /^postbox_login_failures_total 200$/m);
    assert.match(metrics, /^postbox_login_sources 1$/m);
    await canary.check();

    // another source: answered at once, right or wrong
    const delayedBefore = guard.stats.delayed;
    assert.equal(await whoami(broker, 'guest', '127.0.0.2'), 200);
    assert.equal(await whoami(broker, 'nope', '127.0.0.2'), 401);
    assert.equal(guard.stats.delayed, delayedBefore, 'nothing from 127.0.0.2 was delayed');

    // the right password from the guessing address: delayed, then accepted; the record is cleared
    assert.ok(guard.delayFor('127.0.0.1') > 0);
    assert.equal(await whoami(broker, 'guest'), 200);
    assert.equal(guard.stats.delayed, delayedBefore + 1, 'the right password waited its turn too');
    assert.equal(guard.delayFor('127.0.0.1'), 0, 'a successful login clears the source');
    const about = linesAbout(lines, '127.0.0.1');
    assert.ok(about.length <= MAX_LINES_PER_BURST, about.join('\n'));
    assert.match(about.at(-1)!, /login succeeded from 127\.0\.0\.1 as 'guest' after 200 failed logins/);
    await canary.check();
  } finally {
    const report = await canary.stop();
    assert.ok(report.confirmed > 0);
    t.diagnostic(`canary worst latency ${report.worstLatencyMs.toFixed(0)} ms`);
    await broker.stop();
  }
});

test('40 wrong AMQP passwords at once from one address: each refused with 403, logged in a line, one answer held; the right one still logs in, another address is not slowed', async (t) => {
  const { broker, lines } = await brokerWithLog();
  const canary = await startCanary(broker.url);
  const guard = broker.core.logins;
  const url = (password: string): string => `amqp://guest:${password}@127.0.0.1:${broker.amqpPort}`;
  try {
    // the free failures first, one after another, so all 30 that follow meet a slowed source
    for (let i = 0; i < FREE_FAILURES; i++) await assert.rejects(amqp.connect(url('wrong')), /403 \(ACCESS-REFUSED\)/);
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, () => amqp.connect(url('wrong'))));
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      assert.match(String((o as PromiseRejectedResult).reason), /403 \(ACCESS-REFUSED\)/);
    }
    assert.equal(guard.stats.failures, 40);
    assert.equal(guard.stats.peakPendingPerSource, 1, 'one answer held at a time');
    assert.ok(guard.stats.busy >= 1, 'the others were refused at once');
    assert.ok(linesAbout(lines, '127.0.0.1').length <= MAX_LINES_PER_BURST - 1, linesAbout(lines, '127.0.0.1').join('\n'));
    assert.equal(lines.filter((l) => l.includes('closing with 403')).length, 0, 'no line per refused connection');

    const delayedBefore = guard.stats.delayed;
    // amqplib hands its socket options to net.connect: the client socket is bound to 127.0.0.2
    const fromOther = { localAddress: '127.0.0.2' } as Parameters<typeof amqp.connect>[1];
    const other = await amqp.connect(url('guest'), fromOther);
    assert.equal((other.connection as unknown as { stream: { localAddress: string } }).stream.localAddress, '127.0.0.2');
    await other.close();
    await assert.rejects(amqp.connect(url('nope'), fromOther), /403 \(ACCESS-REFUSED\)/);
    assert.equal(guard.stats.delayed, delayedBefore, 'nothing from 127.0.0.2 was delayed');

    const conn = await amqp.connect(url('guest'));
    const ch = await conn.createChannel();
    await ch.checkQueue((await ch.assertQueue('', { exclusive: true })).queue);
    await conn.close();
    assert.equal(guard.stats.delayed, delayedBefore + 1, 'the right password was delayed, then accepted');
    const about = linesAbout(lines, '127.0.0.1');
    assert.ok(about.length <= MAX_LINES_PER_BURST, about.join('\n'));
    assert.match(about.at(-1)!, /login succeeded from 127\.0\.0\.1 as 'guest' after 40 failed logins/);
    await canary.check();
  } finally {
    const report = await canary.stop();
    assert.ok(report.confirmed > 0);
    t.diagnostic(`canary worst latency ${report.worstLatencyMs.toFixed(0)} ms`);
    await broker.stop();
  }
});

test('a client that hangs up while its answer is held is neither checked nor answered, and frees the slot', async () => {
  const { broker } = await brokerWithLog();
  const guard = broker.core.logins;
  try {
    for (let i = 0; i < FREE_FAILURES; i++) assert.equal(await whoami(broker, 'wrong'), 401);
    const req = http.request({
      host: '127.0.0.1',
      port: broker.httpPort,
      path: '/api/whoami',
      agent: false,
      headers: { authorization: basic('guest', 'guest') },
    });
    req.on('error', () => {});
    req.end();
    await waitFor(() => guard.stats.pending === 1, 10_000, 'the answer to be held');
    req.destroy();
    await waitFor(() => guard.stats.pending === 0, 10_000, 'the held answer to be dropped');
    assert.equal(guard.delayFor('127.0.0.1') > 0, true, 'the source is still slowed: nothing was checked');
  } finally {
    await broker.stop();
  }
});
