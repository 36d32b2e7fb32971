import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../log/logger.js';
import {
  FAILURE_MEMORY_MS,
  FIRST_DELAY_MS,
  FREE_FAILURES,
  LOG_INTERVAL_MS,
  LoginGuard,
  MAX_DELAY_MS,
  MAX_LINES_PER_INTERVAL,
  MAX_SOURCES,
  delayAfter,
  sourceKey,
  type GuardClock,
} from './login-guard.js';

/** A clock the test moves by hand; timers fire when it passes them. */
class ManualClock implements GuardClock {
  time = 1_000_000;
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const t = { at: this.time + ms, fn, live: true };
    this.timers.push(t);
    return t;
  }
  clearTimeout(handle: unknown): void {
    (handle as { live: boolean }).live = false;
  }
  get waiting(): number {
    return this.timers.filter((t) => t.live).length;
  }
  advance(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.live && t.at <= this.time);
    this.timers = this.timers.filter((t) => t.live && t.at > this.time);
    for (const t of due) t.fn();
  }
}

function setup(maxSources?: number): { guard: LoginGuard; clock: ManualClock; lines: string[] } {
  const lines: string[] = [];
  const clock = new ManualClock();
  const guard = new LoginGuard({ logger: createLogger('warn', (l) => lines.push(l)), clock, maxSources });
  return { guard, clock, lines };
}

interface Outcome {
  user: string | undefined;
  reason: string | undefined;
}

/** one attempt: `ok` says whether the credentials are right; the outcome is filled in when answered */
function attempt(guard: LoginGuard, source: string, user: string, ok: boolean): { outcome: Outcome | null; checked: boolean; cancel: () => void } {
  const result: { outcome: Outcome | null; checked: boolean; cancel: () => void } = { outcome: null, checked: false, cancel: () => {} };
  result.cancel = guard.attempt(
    { source, protocol: 'AMQP', mechanism: 'PLAIN', user },
    () => {
      result.checked = true;
      return ok ? user : undefined;
    },
    (u, reason) => {
      result.outcome = { user: u, reason };
    },
  );
  return result;
}

test('the first failures of a source are answered at once; then answers wait a delay doubling up to the cap', () => {
  assert.deepEqual(
    Array.from({ length: 16 }, (_, i) => delayAfter(i)),
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, FIRST_DELAY_MS, 2 * FIRST_DELAY_MS, 4 * FIRST_DELAY_MS, MAX_DELAY_MS, MAX_DELAY_MS, MAX_DELAY_MS],
  );
  const { guard, clock } = setup();
  for (let i = 0; i < FREE_FAILURES; i++) assert.deepEqual(attempt(guard, '203.0.113.9', 'admin', false).outcome, { user: undefined, reason: 'refused' });
  const held = attempt(guard, '203.0.113.9', 'admin', false);
  assert.equal(held.outcome, null, 'held');
  assert.equal(held.checked, false, 'credentials are checked when the delay ends');
  clock.advance(FIRST_DELAY_MS - 1);
  assert.equal(held.outcome, null);
  clock.advance(1);
  assert.deepEqual(held.outcome, { user: undefined, reason: 'refused' });
  assert.equal(guard.delayFor('203.0.113.9'), 2 * FIRST_DELAY_MS);
});

test('while an answer is held for a source, its further attempts are refused at once without checking them', () => {
  const { guard, clock } = setup();
  for (let i = 0; i < FREE_FAILURES; i++) attempt(guard, '203.0.113.9', 'admin', false);
  const held = attempt(guard, '203.0.113.9', 'admin', false);
  const rest = Array.from({ length: 50 }, () => attempt(guard, '203.0.113.9', 'admin', true));
  for (const r of rest) {
    assert.deepEqual(r.outcome, { user: undefined, reason: 'busy' }, 'even right credentials: they are not looked at');
    assert.equal(r.checked, false);
  }
  assert.equal(guard.stats.pending, 1);
  assert.equal(guard.stats.peakPendingPerSource, 1);
  assert.equal(clock.waiting, 1, 'one timer for the source');
  clock.advance(MAX_DELAY_MS);
  assert.deepEqual(held.outcome, { user: undefined, reason: 'refused' });
  assert.equal(guard.stats.pending, 0);
});

test('a right password from a slowed source is delayed, then succeeds and clears the record; another source is not slowed', () => {
  const { guard, clock, lines } = setup();
  for (let i = 0; i < FREE_FAILURES + 3; i++) {
    const wait = guard.delayFor('203.0.113.9');
    const a = attempt(guard, '203.0.113.9', `user${i % 2}`, false);
    clock.advance(wait); // 7 s in all: no summary falls due before the success
    assert.equal(a.outcome?.reason, 'refused');
  }
  // another address: answered at once
  assert.deepEqual(attempt(guard, '203.0.113.10', 'admin', true).outcome, { user: 'admin', reason: undefined });
  assert.deepEqual(attempt(guard, '203.0.113.10', 'admin', false).outcome, { user: undefined, reason: 'refused' });
  const right = attempt(guard, '203.0.113.9', 'admin', true);
  assert.equal(right.outcome, null, 'delayed');
  clock.advance(8 * FIRST_DELAY_MS);
  assert.deepEqual(right.outcome, { user: 'admin', reason: undefined });
  assert.equal(guard.delayFor('203.0.113.9'), 0, 'forgotten after the success');
  assert.deepEqual(attempt(guard, '203.0.113.9', 'admin', false).outcome, { user: undefined, reason: 'refused' });
  const about = lines.filter((l) => l.includes('203.0.113.9'));
  assert.equal(about.length, 3, about.join('\n')); // the first failure, the success after them, the first failure again
  assert.match(about[0]!, / warn  login failed from 203\.0\.113\.9: user 'user0' \(AMQP PLAIN\)$/);
  assert.match(
    about[1]!,
    /login succeeded from 203\.0\.113\.9 as 'admin' after 13 failed logins \(12 of them not logged yet: users 'user1', 'user0' \(AMQP PLAIN\)\)/,
  );
});

test('a source failing without end gets one line per minute with the count and names, never one per guess', () => {
  const { guard, clock, lines } = setup();
  const names = ['root', 'admin', 'guest', 'test', 'rabbit', 'mq', 'x\ny'];
  let n = 0;
  for (let minute = 0; minute < 5; minute++) {
    for (let i = 0; i < 600; i++) {
      attempt(guard, '198.51.100.7', names[n++ % names.length]!, false);
      clock.advance(100);
      guard.flush();
    }
  }
  const about = lines.filter((l) => l.includes('198.51.100.7'));
  assert.ok(about.length <= 6, `${about.length} lines for 3000 guesses`);
  assert.ok(about.length >= 5, 'every minute is told');
  assert.match(
    about[1]!,
    /login failed from 198\.51\.100\.7: \d+ more failed logins in the last 60 s, \d+ in all, users ('[^']+', ){4}'[^']+' and others \(AMQP PLAIN\); answers to it are now delayed 5000 ms/,
  );
  assert.ok(!lines.some((l) => l.includes('x\ny')), 'a line feed in a name is escaped by the logger');
  clock.advance(MAX_DELAY_MS); // the last one was held
  assert.equal(guard.stats.failures, 3000, 'held, busy and checked failures all counted');
  assert.ok(guard.stats.busy > 2000, 'most guesses were refused unchecked');
});

test('20,000 sources failing stay within MAX_SOURCES records, and the log within its line budget', () => {
  const { guard, lines } = setup();
  for (let i = 0; i < 20_000; i++) attempt(guard, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'admin', false);
  assert.equal(guard.size, MAX_SOURCES);
  assert.equal(lines.length, MAX_LINES_PER_INTERVAL, 'one line per source up to the budget');
  // the oldest went first: the last address is remembered, the first is not
  assert.equal(guard.stats.failures, 20_000);
  guard.flush();
  assert.equal(lines.length, MAX_LINES_PER_INTERVAL, 'the overflow line waits for the interval to end');
});

test('the overflow of one interval is summed up in one line when the next begins', () => {
  const { guard, clock, lines } = setup();
  for (let i = 0; i < MAX_LINES_PER_INTERVAL + 50; i++) attempt(guard, `10.0.${i >> 8}.${i & 255}`, 'admin', false);
  clock.advance(LOG_INTERVAL_MS);
  guard.flush();
  assert.equal(lines.length, MAX_LINES_PER_INTERVAL + 1);
  assert.match(lines.at(-1)!, /login failed from 50 more sources: 50 failed logins not logged one source a line/);
});

test('an injected spray of 20,000 sources with a smaller bound keeps exactly that many records', () => {
  const { guard } = setup(100);
  for (let i = 0; i < 20_000; i++) attempt(guard, `fd00:0:0:${i.toString(16)}::1`, 'u', false);
  assert.equal(guard.size, 100);
});

test('a source is forgotten FAILURE_MEMORY_MS after its last failure', () => {
  const { guard, clock } = setup();
  for (let i = 0; i < FREE_FAILURES; i++) attempt(guard, '192.0.2.1', 'a', false);
  assert.equal(guard.delayFor('192.0.2.1'), FIRST_DELAY_MS);
  clock.advance(FAILURE_MEMORY_MS);
  assert.equal(guard.delayFor('192.0.2.1'), 0);
  assert.equal(guard.size, 0);
});

test('a cancelled held attempt is neither checked nor answered, and frees its slot', () => {
  const { guard, clock } = setup();
  for (let i = 0; i < FREE_FAILURES; i++) attempt(guard, '192.0.2.1', 'a', false);
  const held = attempt(guard, '192.0.2.1', 'a', true);
  held.cancel();
  assert.equal(guard.stats.pending, 0);
  clock.advance(MAX_DELAY_MS);
  assert.equal(held.checked, false);
  assert.equal(held.outcome, null);
});

test('an IPv4-mapped IPv6 address is the same source as its IPv4 address', () => {
  const { guard } = setup();
  for (let i = 0; i < FREE_FAILURES; i++) attempt(guard, i % 2 === 0 ? '::ffff:192.0.2.1' : '192.0.2.1', 'a', false);
  assert.equal(guard.size, 1);
  assert.equal(guard.delayFor('::ffff:192.0.2.1'), FIRST_DELAY_MS);
});

test('every address of one IPv6 /64 is one source; another /64 is another; loopback ::1 stays itself', () => {
  const { guard } = setup();
  // a host rotating through its own /64 gets the free failures once, not once per address
  for (let i = 0; i < FREE_FAILURES; i++) attempt(guard, `2001:db8:1:2:${(i + 1).toString(16)}::${i}`, 'a', false);
  assert.equal(guard.size, 1);
  assert.equal(guard.delayFor('2001:0db8:0001:0002:ffff:ffff:ffff:fffe'), FIRST_DELAY_MS);
  assert.equal(guard.delayFor('2001:db8:1:3::1'), 0);
  assert.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(sourceKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.equal(sourceKey('::1'), '::1');
  assert.equal(sourceKey('192.0.2.1'), '192.0.2.1');
});
