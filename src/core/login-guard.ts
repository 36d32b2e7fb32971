/**
 * Failed logins, per source address: logged without flooding the log, and slowed (fail2ban-like; RabbitMQ
 * has no throttle of its own). One guard serves every protocol that checks credentials: AMQP (PLAIN,
 * AMQPLAIN), the management API (HTTP basic auth), Kafka SASL and AMQP EXTERNAL. A protocol adapter calls
 *
 *     const cancel = core.logins.attempt(
 *       { source: socket.remoteAddress, protocol: 'Kafka', mechanism: 'SCRAM-SHA-256', user: name },
 *       () => userOrUndefined,          // the final credential check, run now or after the delay
 *       (user, why) => answer(user),    // called once, on a timer when delayed; user undefined = refuse
 *     );
 *
 * and calls `cancel()` if its connection goes away first (nothing is then checked or answered).
 *
 * What it does, per source (an IPv4 address, an IPv4-mapped IPv6 address counting as its IPv4 address, or
 * an IPv6 /64: see sourceKey()):
 * - The first FREE_FAILURES failed logins are answered at once. After that each attempt, successful or
 *   not, is answered after a delay that doubles from FIRST_DELAY_MS up to MAX_DELAY_MS; the credentials are
 *   checked when the delay ends. A successful login clears the source's record.
 * - At most one delayed answer per source is held: an attempt from a source that already waits for one is
 *   refused at once, without checking its credentials (why = 'busy'), so a client cannot pile up work or
 *   guess in parallel. Held answers over all sources are bounded by MAX_PENDING_ANSWERS as well.
 * - A source's record is forgotten FAILURE_MEMORY_MS after its last failure, and at most MAX_SOURCES records
 *   are kept (least recently failed dropped first): a spray of addresses cannot grow memory.
 * - Logging: the first failure of a source is one `warn` line; later ones are counted and summed up in one
 *   line per source at most every LOG_INTERVAL_MS (count, user names tried, the delay now applied), and in a
 *   final line when the source logs in successfully. Over all sources at most MAX_LINES_PER_INTERVAL such
 *   lines are written per LOG_INTERVAL_MS; failures past that are summed up in one line per interval. The
 *   logger escapes what the names contain.
 *
 * Lines (an operator greps, or points fail2ban at, `login failed from <address>:`):
 *   warn  login failed from 203.0.113.9: user 'admin' (AMQP PLAIN)
 *   warn  login failed from 203.0.113.9: 412 more failed logins in the last 60 s, users 'admin', 'root', 'test', 'guest', 'rabbit' and others (AMQP PLAIN, HTTP basic); answers to it are now delayed 5000 ms
 *   warn  login succeeded from 203.0.113.9 as 'admin' after 3 failed logins (users 'admin'); its failures are forgotten
 */
import { isIPv6 } from 'node:net';
import type { Logger } from '../log/logger.js';

/** Failed logins from a source answered without delay: a person mistyping, or a client with a stale password reconnecting, is not slowed. */
export const FREE_FAILURES = 10;
/** Delay of the first attempt past FREE_FAILURES, ms; each further failure doubles it. */
export const FIRST_DELAY_MS = 1000;
/**
 * Longest delay, ms: 5 s keeps a delayed answer inside client timeouts (kafkajs' authenticationTimeout and
 * pika's socket_timeout are 10 s; the AMQP handshake timeout is 10 s) while a source that is refused
 * everything else meanwhile gets at most 12 checked guesses a minute, against thousands a second without it.
 */
export const MAX_DELAY_MS = 5000;
/** A source's failures are forgotten this long after its last one, ms (fail2ban's findtime default is 10 min). */
export const FAILURE_MEMORY_MS = 10 * 60_000;
/** Most sources remembered at once (LRU): measured 1.5 KB each at worst (five 64-character names listed), so 15 MB. */
export const MAX_SOURCES = 10_000;
/** Most delayed answers held at once over every source: further attempts that would wait are refused at once. */
export const MAX_PENDING_ANSWERS = 1000;
/** Longest gap between two log lines about one source while it keeps failing, ms (so one line per minute at most). */
export const LOG_INTERVAL_MS = 60_000;
/** How often summaries that fell due are written, ms. */
const FLUSH_CHECK_MS = 5000;
/** Most per-source lines written in one LOG_INTERVAL_MS over every source; the rest are summed up in one line. */
export const MAX_LINES_PER_INTERVAL = 100;
/** Distinct user names listed in a source's line; more are counted. */
export const MAX_NAMES_LISTED = 5;
/** Characters of a user name shown in the log; longer ones are cut. */
export const MAX_NAME_CHARS = 64;

/** Who tries to log in, and how. */
export interface LoginAttempt {
  /** the peer's IP address (socket.remoteAddress); undefined or '' counts as one unknown source */
  readonly source: string | undefined;
  /** 'AMQP', 'HTTP', 'Kafka', ... */
  readonly protocol: string;
  /** 'PLAIN', 'AMQPLAIN', 'basic', 'SCRAM-SHA-256', 'EXTERNAL', ... */
  readonly mechanism: string;
  /** the user name claimed ('' when none could be read) */
  readonly user: string;
}

/**
 * Why an attempt was refused: 'refused' (checked and wrong), 'busy' (not checked: the source already waits
 * for an answer, or too many answers are held). Undefined when it succeeded.
 */
export type RefusalReason = 'refused' | 'busy';

/** Counters for metrics and tests. */
export interface LoginGuardStats {
  /** failed logins (refused and busy) */
  failures: number;
  /** answers delayed (successes included) */
  delayed: number;
  /** attempts refused at once because an answer was already held for the source */
  busy: number;
  /** delayed answers held now */
  pending: number;
  /** most delayed answers held at once for one source, ever */
  peakPendingPerSource: number;
  /** log lines written */
  lines: number;
}

/** The clock and timers the guard uses (tests inject their own). */
export interface GuardClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: GuardClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface LoginGuardOptions {
  readonly logger: Logger;
  readonly maxSources?: number;
  readonly clock?: GuardClock;
  /** start the timer that writes due summaries (the broker does; unit tests call flush()) */
  readonly flushTimer?: boolean;
}

interface SourceRecord {
  /** failures since the record began (drives the delay) */
  failures: number;
  lastFailureAt: number;
  /** failures not yet in a log line */
  unlogged: number;
  /** -Infinity until the first line */
  loggedAt: number;
  /** distinct names tried since the last line, at most MAX_NAMES_LISTED, and whether others were tried */
  names: string[];
  otherNames: boolean;
  /** 'AMQP PLAIN', 'HTTP basic', ... since the last line */
  ways: string[];
  pending: number;
}

/**
 * Bits of an IPv6 address that name one source: a /64, the prefix one site or one host is given (RFC 6177,
 * RFC 8273), so a host cannot get fresh free failures by rotating through the 2^64 addresses it owns.
 */
export const IPV6_SOURCE_PREFIX_BITS = 64;

/**
 * A record's key: an IPv4 address as it is; an IPv4-mapped IPv6 address (a dual-stack listener) as its IPv4
 * address; loopback `::1` as it is; any other IPv6 address as its /64 (`2001:db8:1:2::/64`).
 */
export function sourceKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (address === '::1' || !isIPv6(address)) return address;
  const groups = ipv6Groups(address);
  if (groups === null) return address;
  const prefix = groups
    .slice(0, IPV6_SOURCE_PREFIX_BITS / 16)
    .map((g) => g.toString(16))
    .join(':');
  return `${prefix}::/${IPV6_SOURCE_PREFIX_BITS}`;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or null for a form this does not read. */
function ipv6Groups(address: string): number[] | null {
  const bare = address.split('%', 1)[0]!;
  const halves = bare.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      // an embedded IPv4 tail (::ffff:1.2.3.4 handled above; 64:ff9b::1.2.3.4 here) is two groups
      if (g.includes('.')) {
        const o = g.split('.').map(Number);
        if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return null;
        out.push(o[0]! * 256 + o[1]!, o[2]! * 256 + o[3]!);
      } else {
        const v = Number.parseInt(g, 16);
        if (!/^[0-9a-fA-F]{1,4}$/.test(g) || Number.isNaN(v)) return null;
        out.push(v);
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

export class LoginGuard {
  private readonly sources = new Map<string, SourceRecord>();
  private readonly maxSources: number;
  private readonly clock: GuardClock;
  private readonly logger: Logger;
  private readonly flushTimer: NodeJS.Timeout | null;
  /** lines written in the current interval, and when it began */
  private linesInInterval = 0;
  private intervalStart = -Infinity;
  /** failures past the line budget in the current interval, and their sources */
  private overflowFailures = 0;
  private readonly overflowSources = new Set<string>();
  readonly stats: LoginGuardStats = { failures: 0, delayed: 0, busy: 0, pending: 0, peakPendingPerSource: 0, lines: 0 };

  constructor(options: LoginGuardOptions) {
    this.logger = options.logger;
    this.maxSources = Math.max(1, options.maxSources ?? MAX_SOURCES);
    this.clock = options.clock ?? REAL_CLOCK;
    if (options.flushTimer === true) {
      this.flushTimer = setInterval(() => this.flush(), FLUSH_CHECK_MS);
      this.flushTimer.unref();
    } else {
      this.flushTimer = null;
    }
  }

  /** sources remembered now */
  get size(): number {
    return this.sources.size;
  }

  /** the delay the next attempt from `address` would wait, ms (0: answered at once) */
  delayFor(address: string | undefined): number {
    const record = this.live(sourceKey(address));
    return record === undefined ? 0 : delayAfter(record.failures);
  }

  /**
   * One login attempt: `check` is the final credential check (the user, or undefined to refuse); `answer`
   * gets its result, at once or when the source's delay has passed. Returns a function that cancels a
   * delayed attempt (the connection went away): neither `check` nor `answer` is then called.
   */
  attempt<T>(attempt: LoginAttempt, check: () => T | undefined, answer: (user: T | undefined, reason: RefusalReason | undefined) => void): () => void {
    const key = sourceKey(attempt.source);
    const record = this.live(key);
    const delay = record === undefined ? 0 : delayAfter(record.failures);
    if (delay === 0) {
      this.settle(key, attempt, check, answer);
      return NOTHING_TO_CANCEL;
    }
    if (record!.pending > 0 || this.stats.pending >= MAX_PENDING_ANSWERS) {
      this.stats.busy++;
      this.failed(key, attempt);
      answer(undefined, 'busy');
      return NOTHING_TO_CANCEL;
    }
    record!.pending++;
    this.stats.pending++;
    this.stats.delayed++;
    if (record!.pending > this.stats.peakPendingPerSource) this.stats.peakPendingPerSource = record!.pending;
    let done = false;
    const release = (): void => {
      done = true;
      record!.pending--;
      this.stats.pending--;
    };
    const timer = this.clock.setTimeout(() => {
      if (done) return;
      release();
      this.settle(key, attempt, check, answer);
    }, delay);
    return () => {
      if (done) return;
      release();
      this.clock.clearTimeout(timer);
    };
  }

  /** Writes the summary lines that fell due (the broker's timer calls this every few seconds). */
  flush(): void {
    const now = this.clock.now();
    for (const [key, record] of this.sources) {
      if (record.unlogged > 0 && now - record.loggedAt >= LOG_INTERVAL_MS) this.writeSummary(key, record, now, null);
    }
    if (now - this.intervalStart >= LOG_INTERVAL_MS) this.newInterval(now);
  }

  close(): void {
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
  }

  private settle<T>(
    key: string,
    attempt: LoginAttempt,
    check: () => T | undefined,
    answer: (user: T | undefined, reason: RefusalReason | undefined) => void,
  ): void {
    const user = check();
    if (user === undefined) {
      this.failed(key, attempt);
      answer(undefined, 'refused');
      return;
    }
    const record = this.sources.get(key);
    if (record !== undefined) {
      // the failures not yet logged are told now, with the success (a guessed password shows here)
      if (record.failures > 0) this.writeSummary(key, record, this.clock.now(), attempt.user);
      if (record.pending === 0) this.sources.delete(key);
      else record.failures = 0; // a held answer still refers to it; it is dropped when it ages
    }
    answer(user, undefined);
  }

  private failed(key: string, attempt: LoginAttempt): void {
    const now = this.clock.now();
    this.stats.failures++;
    let record = this.live(key);
    if (record === undefined) {
      record = { failures: 0, lastFailureAt: now, unlogged: 0, loggedAt: -Infinity, names: [], otherNames: false, ways: [], pending: 0 };
      this.sources.set(key, record);
      if (this.sources.size > this.maxSources) this.evictOldest();
    } else {
      // most recently failed last: the Map's order is the LRU order
      this.sources.delete(key);
      this.sources.set(key, record);
    }
    record.failures++;
    record.lastFailureAt = now;
    record.unlogged++;
    const name = attempt.user.length > MAX_NAME_CHARS ? attempt.user.slice(0, MAX_NAME_CHARS) + '…' : attempt.user;
    if (!record.names.includes(name)) {
      if (record.names.length < MAX_NAMES_LISTED) record.names.push(name);
      else record.otherNames = true;
    }
    const way = `${attempt.protocol} ${attempt.mechanism}`;
    if (!record.ways.includes(way) && record.ways.length < MAX_NAMES_LISTED) record.ways.push(way);
    if (now - record.loggedAt >= LOG_INTERVAL_MS) this.writeSummary(key, record, now, null);
  }

  /** the record of `key` unless it has aged out (then it is dropped) */
  private live(key: string): SourceRecord | undefined {
    const record = this.sources.get(key);
    if (record === undefined) return undefined;
    if (record.pending === 0 && this.clock.now() - record.lastFailureAt >= FAILURE_MEMORY_MS) {
      if (record.unlogged > 0) this.writeSummary(key, record, this.clock.now(), null);
      this.sources.delete(key);
      return undefined;
    }
    return record;
  }

  private evictOldest(): void {
    for (const [key, record] of this.sources) {
      // its unlogged failures are counted in the interval's overflow line rather than lost
      if (record.unlogged > 0) {
        this.overflowFailures += record.unlogged;
        this.overflowSources.add(key);
      }
      this.sources.delete(key);
      return;
    }
  }

  private writeSummary(key: string, record: SourceRecord, now: number, succeededAs: string | null): void {
    if (now - this.intervalStart >= LOG_INTERVAL_MS) this.newInterval(now);
    const unlogged = record.unlogged;
    const names = namesText(record.names, record.otherNames);
    const ways = record.ways.join(', ');
    record.unlogged = 0;
    record.loggedAt = now;
    record.names = [];
    record.otherNames = false;
    record.ways = [];
    if (unlogged === 0 && succeededAs === null) return;
    if (this.linesInInterval >= MAX_LINES_PER_INTERVAL) {
      this.overflowFailures += unlogged;
      if (this.overflowSources.size < this.maxSources) this.overflowSources.add(key);
      return;
    }
    this.linesInInterval++;
    this.stats.lines++;
    if (succeededAs !== null) {
      const since = unlogged === 0 ? '' : ` (${unlogged} of them not logged yet: ${names.length === 0 ? '' : `users ${names} `}(${ways}))`;
      this.logger.warn(`login succeeded from ${key} as '${succeededAs}' after ${plural(record.failures, 'failed login')}${since}; its failures are forgotten`);
      return;
    }
    const delay = delayAfter(record.failures);
    const slowed = delay === 0 ? '' : `; answers to it are now delayed ${delay} ms`;
    if (unlogged === 1 && record.failures === 1) {
      this.logger.warn(`login failed from ${key}: user ${names} (${ways})${slowed}`);
    } else {
      this.logger.warn(
        `login failed from ${key}: ${plural(unlogged, 'more failed login')} in the last ${Math.round(LOG_INTERVAL_MS / 1000)} s, ${record.failures} in all, users ${names} (${ways})${slowed}`,
      );
    }
  }

  private newInterval(now: number): void {
    if (this.overflowFailures > 0) {
      this.stats.lines++;
      this.logger.warn(
        `login failed from ${plural(this.overflowSources.size, 'more source')}: ${plural(this.overflowFailures, 'failed login')} not logged one source a line ` +
          `(at most ${MAX_LINES_PER_INTERVAL} such lines per ${Math.round(LOG_INTERVAL_MS / 1000)} s)`,
      );
    }
    this.overflowFailures = 0;
    this.overflowSources.clear();
    this.linesInInterval = 0;
    this.intervalStart = now;
  }
}

const NOTHING_TO_CANCEL = (): void => {};

/** the delay of the next attempt from a source with `failures` failures, ms */
export function delayAfter(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  const doublings = Math.min(failures - FREE_FAILURES, 16);
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** doublings);
}

function namesText(names: readonly string[], others: boolean): string {
  const listed = names.map((n) => `'${n}'`).join(', ');
  return others ? `${listed} and others` : listed;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
