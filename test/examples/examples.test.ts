/**
 * Runs every program in examples/ against one real broker and checks the summary each returns, so the
 * examples keep working as the broker changes. An example's log lines are shown only when it fails.
 */
import { test, describe, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import * as workQueue from '../../examples/work-queue.js';
import * as publishSubscribe from '../../examples/publish-subscribe.js';
import * as requestReply from '../../examples/request-reply.js';
import * as competingConsumers from '../../examples/competing-consumers.js';
import * as priority from '../../examples/priority.js';
import * as retryDeadLetter from '../../examples/retry-dead-letter.js';
import * as ttl from '../../examples/ttl.js';
import * as delayedDelivery from '../../examples/delayed-delivery.js';

describe('examples/ against a real broker', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(async () => {
    await broker.stop();
  });

  /** run an example; if it fails, the lines it logged so far become the test's diagnostics */
  async function runExample<R>(t: TestContext, example: { run(url: string, log: (line: string) => void): Promise<R> }): Promise<R> {
    const lines: string[] = [];
    try {
      return await example.run(broker.url, (line) => lines.push(line));
    } catch (err) {
      for (const line of lines) t.diagnostic(line);
      throw err;
    }
  }

  test('work queue: every task is processed exactly once', async (t) => {
    const { sent, processed } = await runExample(t, workQueue);
    assert.ok(sent.length > 0);
    assert.deepEqual([...processed].sort(), [...sent].sort());
  });

  test('publish/subscribe: every subscriber receives every message, in publish order', async (t) => {
    const { published, received } = await runExample(t, publishSubscribe);
    assert.ok(Object.keys(received).length >= 2);
    for (const [name, got] of Object.entries(received)) assert.deepEqual(got, published, `subscriber ${name}`);
  });

  test('request-reply: each reply answers its own request and carries its correlation id, with a reply queue and with direct reply-to', async (t) => {
    const { replyQueue, directReplyTo } = await runExample(t, requestReply);
    for (const calls of [replyQueue, directReplyTo]) {
      assert.ok(calls.length > 1);
      assert.equal(new Set(calls.map((c) => c.correlationId)).size, calls.length, 'correlation ids are unique');
      for (const c of calls) {
        assert.equal(c.replyCorrelationId, c.correlationId);
        assert.equal(c.reply, c.request ** 2);
      }
    }
  });

  test('competing consumers: both consumers take a share, and together they process every job exactly once', async (t) => {
    const { jobs, byConsumer } = await runExample(t, competingConsumers);
    const shares = Object.values(byConsumer);
    assert.equal(shares.length, 2);
    for (const share of shares) assert.ok(share.length > 0, `each consumer got some jobs: ${shares.map((s) => s.length).join(' / ')}`);
    assert.deepEqual(shares.flat().sort(), [...jobs].sort());
  });

  test('priority: waiting high-priority messages come out first, FIFO within a priority', async (t) => {
    const { published, consumed } = await runExample(t, priority);
    const expected = [...published].sort((a, b) => b.priority - a.priority); // Array.prototype.sort is stable
    assert.deepEqual(consumed, expected);
  });

  test('retry with a retry queue: the failing message is retried the configured number of times, then parked with its x-death counts', async (t) => {
    const { retryQueue } = await runExample(t, retryDeadLetter);
    assert.deepEqual(retryQueue.succeeded, ['order 1', 'order 3']);
    assert.equal(retryQueue.attempts, 4, 'the first attempt and 3 retries');
    assert.equal(retryQueue.parked.body, 'order 2 (poison)');
    const counts = Object.fromEntries(retryQueue.parked.deaths.map((d) => [`${d.queue}/${d.reason}`, d.count]));
    assert.deepEqual(counts, { 'examples.retry.work/rejected': 3, 'examples.retry.wait/expired': 3 });
  });

  test('retry with native backoff: requeued deliveries are spaced and counted, then dead-lettered with reason delivery_limit', async (t) => {
    const { nativeBackoff } = await runExample(t, retryDeadLetter);
    assert.deepEqual(nativeBackoff.deliveryCounts, [undefined, 1, 2, 3]);
    // the backoff doubles from 50 ms: lower bounds only (a few ms of slack for clock granularity)
    nativeBackoff.gapsMs.forEach((gap, i) => assert.ok(gap >= 50 * 2 ** i - 5, `gap ${i + 1} was ${gap} ms`));
    assert.equal(nativeBackoff.dead.body, 'order 4 (poison)');
    assert.deepEqual(nativeBackoff.dead.deaths, [{ queue: 'examples.retry.native', reason: 'delivery_limit', count: 1 }]);
  });

  test('ttl: stale messages reach the dead-letter queue with reason expired, and the fresh one is consumed', async (t) => {
    const { expired, consumed } = await runExample(t, ttl);
    assert.equal(expired.length, 2);
    for (const e of expired) {
      assert.equal(e.reason, 'expired');
      assert.equal(e.queue, 'examples.ttl.quotes');
      assert.equal(e.count, 1);
    }
    const perMessage = expired.find((e) => e.body.includes('valid 50 ms'));
    const byQueueTtl = expired.find((e) => e.body.includes('queue TTL'));
    assert.equal(perMessage?.originalExpiration, '50');
    assert.ok(byQueueTtl !== undefined && byQueueTtl.originalExpiration === undefined);
    assert.deepEqual(consumed, ['EUR/USD 1.0820 (fresh)']);
  });

  test('delayed delivery: the delayed message arrives no earlier than its delay and after the undelayed one', async (t) => {
    const { delayMs, received } = await runExample(t, delayedDelivery);
    assert.deepEqual(
      received.map((m) => m.body),
      ['welcome aboard', 'reminder: your trial ends tomorrow'],
    );
    assert.ok(received[1]!.afterMs >= delayMs, `arrived ${received[1]!.afterMs} ms after publishing, delay ${delayMs} ms`);
  });
});
