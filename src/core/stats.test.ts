import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerStats, QueueCounters, Q_PUBLISH, type SampledQueue } from './stats.js';

/** `n` queues that each published `published` messages */
function queues(n: number, published: number): SampledQueue[] {
  return Array.from({ length: n }, () => {
    const counters = new QueueCounters();
    counters.publish = published;
    return { counters, messageCount: 1, unackedCount: 0 };
  });
}

async function untilSamples(stats: BrokerStats, n: number): Promise<void> {
  while (stats.samples < n) await new Promise((r) => setImmediate(r));
}

test('a sampling pass over 200,000 queues runs in slices, lets the event loop run, and sums every queue once', async () => {
  const live = queues(200_000, 2);
  const stats = new BrokerStats();
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  stats.start(3_600_000, () => live);
  // the first pass is under way, not done: it yields to the event loop between slices
  assert.equal(stats.samples, 0);
  await untilSamples(stats, 1);
  clearInterval(ticker);
  stats.stop();
  assert.ok(turns > 0, 'timers ran while the pass was under way');
  assert.equal(stats.queueTotals.publish, 400_000);
  assert.equal(stats.queueTotals.previous[Q_PUBLISH], 400_000);
});

test('a queue deleted during a pass, after the pass counted it, is not counted twice in the totals', async () => {
  const live = queues(200_000, 1);
  const stats = new BrokerStats();
  stats.start(3_600_000, () => live);
  assert.equal(stats.samples, 0);
  // the first queue was visited in the first slice; it is deleted now, before the pass ends
  const first = live[0]!;
  stats.queueDeleted(first.counters);
  await untilSamples(stats, 1);
  stats.stop();
  // 199,999 live ones were summed, the deleted one is in the retired counts: 200,000 in all, not 200,001
  assert.equal(stats.queueTotals.publish, 200_000);
});
