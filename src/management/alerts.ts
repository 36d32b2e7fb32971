/**
 * Alerts: rules over queue samples, evaluated on a coarse timer, with a state per (rule, queue), shown at
 * `GET /api/alerts`, in the dashboard, and posted to an optional webhook when they fire and when they clear.
 *
 * Rule kinds (the monitoring literature's four):
 *   queue_depth        messages (ready + unacknowledged) above `threshold` for `for_ms`
 *   dead_letter_growth messages dead-lettered from the queue (any reason) grew by more than `threshold`
 *                      within the last `for_ms` (a window, not a duration: growth is a rate)
 *   no_consumers       the queue has messages and no consumer for `for_ms` (threshold ignored)
 *   processing_delay   the oldest ready message is older than `threshold` ms for `for_ms`
 * and two that watch something other than a queue:
 *   resource_alarm     a resource alarm (memory high watermark, low disk) is on for `for_ms` (threshold ignored)
 *   consumer_lag       a Kafka consumer group's lag (every partition's, summed) is above `threshold` for `for_ms`;
 *                      `group` (a regular expression, default every group) picks the groups
 *
 * Each rule applies to the queues whose name matches `queue` (a regular expression, default every queue)
 * in `vhost` (default every vhost). A (rule, queue) pair is `ok` until its condition holds, `pending` while
 * it has held for less than `for_ms`, `firing` after that, and `ok` again (resolved) once it stops holding.
 * Rules come from the built-in defaults (DEFAULT_ALERT_RULES, unless --alert-default-rules=false), the
 * config file's `alerts` array and `PUT /api/alert-rules/{name}`, a later source replacing an earlier rule of
 * the same name. The rules made through the API are kept in <data-dir>/alert-rules.json, with the names of
 * the defaults deleted through the API (so a default replaced or deleted stays so across restarts).
 *
 * With 200,000 queues and MAX_ALERT_RULES rules, an evaluation must neither hold the event loop nor keep a
 * state per (rule, queue): a pass runs in LISTING_SLICE_MS slices; each queue's matching rules are found once
 * per rule change (the regular expressions run then, not at every pass) and kept as a few bytes; a pair has
 * a state object only while it is pending or firing, and for RESOLVED_KEPT_MS after it resolves; and the
 * dead-letter history is kept per queue (one entry per change of its count), not per pair.
 */
import fs from 'node:fs';
import type { Logger } from '../log/logger.js';
import type { UserConfig } from '../config/config.js';
import { LinearRegex } from '../util/linear-regex.js';
import { Slicer } from './listing.js';
import { Errors } from '../errors/errors.js';
import { ADMINISTRATOR_TAGS, hasTag, apiError, jsonObject, requireTag, type ManagementContext, type Route } from './router.js';

export const ALERT_KINDS = ['queue_depth', 'dead_letter_growth', 'no_consumers', 'processing_delay', 'resource_alarm', 'consumer_lag'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
/** the kinds evaluated per queue (the others watch the node or Kafka consumer groups) */
const QUEUE_KINDS: ReadonlySet<AlertKind> = new Set(['queue_depth', 'dead_letter_growth', 'no_consumers', 'processing_delay']);

/** A webhook call that takes longer than this is abandoned, ms. */
export const WEBHOOK_TIMEOUT_MS = 5000;
/**
 * Changes of a queue's dead-letter count remembered for dead_letter_growth windows. A window that saw more
 * changes than this is measured from an older count (the second-oldest entry is dropped), so growth over a
 * very long window may be overstated, never missed.
 */
const MAX_HISTORY = 64;
/** Most rules, from the config file and the API together: every rule is looked at for every queue at every pass. */
export const MAX_ALERT_RULES = 100;
/** A resolved pair stays in /api/alerts (state ok, with its resolution message) this long, ms. */
export const RESOLVED_KEPT_MS = 5 * 60 * 1000;

/** How long the default rules let a condition hold before they fire, ms: long enough to ride out a deploy or a burst. */
const DEFAULT_RULE_FOR_MS = 5 * 60 * 1000;
/** Dead letters within DEFAULT_RULE_FOR_MS above which the default rule fires: a few are routine (a TTL, a reject), a stream of them is not. */
const DEFAULT_DEAD_LETTER_THRESHOLD = 10;
/** Messages a Kafka consumer group may lag (all partitions) before the default rule fires. */
const DEFAULT_CONSUMER_LAG_THRESHOLD = 1000;

/**
 * The rules a broker starts with, so alerting works before anyone writes a rule. Each is an ordinary rule an
 * operator can replace (PUT with its name) or delete (DELETE: remembered in alert-rules.json, so it stays
 * deleted); --alert-default-rules=false leaves them all out. A config-file rule of the same name replaces one.
 */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = Object.freeze([
  {
    name: 'default.dead-letter-growth',
    kind: 'dead_letter_growth',
    queue: '',
    vhost: '',
    group: '',
    threshold: DEFAULT_DEAD_LETTER_THRESHOLD,
    forMs: DEFAULT_RULE_FOR_MS,
  },
  { name: 'default.no-consumers', kind: 'no_consumers', queue: '', vhost: '', group: '', threshold: 0, forMs: DEFAULT_RULE_FOR_MS },
  { name: 'default.resource-alarm', kind: 'resource_alarm', queue: '', vhost: '', group: '', threshold: 0, forMs: 0 },
  {
    name: 'default.consumer-lag',
    kind: 'consumer_lag',
    queue: '',
    vhost: '',
    group: '',
    threshold: DEFAULT_CONSUMER_LAG_THRESHOLD,
    forMs: DEFAULT_RULE_FOR_MS,
  },
] satisfies AlertRule[]);

export interface AlertRule {
  readonly name: string;
  readonly kind: AlertKind;
  /** regular expression over queue names; '' or absent = every queue */
  readonly queue: string;
  /** vhost name; '' or absent = every vhost */
  readonly vhost: string;
  /** consumer_lag: regular expression over Kafka consumer group ids; '' = every group */
  readonly group: string;
  readonly threshold: number;
  readonly forMs: number;
}

/** What the engine needs of one Kafka consumer group at one moment. */
export interface GroupSample {
  readonly groupId: string;
  /** messages behind the high watermarks, every partition with a committed offset summed */
  readonly lag: number;
}

/** One resource alarm that is on. */
export interface AlarmSample {
  readonly resource: string;
  readonly reason: string;
}

/** What the engine needs of one queue at one moment. */
export interface QueueSample {
  readonly vhost: string;
  readonly name: string;
  /** the queue itself (its identity keys the engine's state for it; a queue deleted and declared again starts afresh) */
  readonly id: object;
  /** ready + unacknowledged */
  readonly messages: number;
  readonly consumers: number;
  /** messages dead-lettered from this queue so far, every reason (only grows) */
  readonly deadLettered: number;
  /** publish time of the oldest ready message, ms since the epoch; null when none is ready (read only when a rule needs it) */
  oldestReadyPublishedAt(): number | null;
}

export type AlertStateName = 'ok' | 'pending' | 'firing';

export interface AlertState {
  readonly rule: string;
  readonly kind: AlertKind;
  /** the queue's vhost; a consumer group's: the Kafka vhost; '' for the node */
  readonly vhost: string;
  /** the queue; '' for a rule that watches the node or a consumer group */
  readonly queue: string;
  /** what a rule that does not watch a queue watched: 'node' or `group <id>` */
  readonly target?: string;
  state: AlertStateName;
  /** when the condition started to hold (pending/firing) or stopped (ok), ms since the epoch */
  since: number;
  /** the measured value at the last evaluation */
  value: number;
  readonly threshold: number;
  message: string;
}

interface Tracked extends AlertState {
  /** the queue's alert state that holds this pair */
  readonly owner: QueueAlerts;
  /** the last pass that saw the queue */
  pass: number;
}

/** What the engine keeps per queue (by the queue's identity, so a deleted queue's goes with it). */
interface QueueAlerts {
  /** the rules generation `matches` was found for */
  generation: number;
  /** indexes in the rule list of the rules that match the queue (16 bits: rules kept from an older rules file may pass MAX_ALERT_RULES) */
  matches: Uint16Array;
  /** pairs that are pending, firing or recently resolved, by rule name */
  tracked: Map<string, Tracked> | null;
  /** dead-letter counts when they changed, oldest first: [at, count, at, count, ...] (only while a dead_letter_growth rule exists) */
  deadLetters: number[] | null;
}

const NO_MATCHES = new Uint16Array(0);

export class AlertRuleError extends Error {}

/** Validates one rule as given in JSON (API body or config file). */
export function parseAlertRule(name: string, raw: unknown): AlertRule {
  if (typeof raw !== 'object' || raw === null) throw new AlertRuleError('an alert rule is a JSON object');
  const r = raw as Record<string, unknown>;
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(name)) throw new AlertRuleError(`alert rule name '${name}' must be 1-200 characters of [A-Za-z0-9._-]`);
  const kind = r.kind;
  if (typeof kind !== 'string' || !(ALERT_KINDS as readonly string[]).includes(kind)) {
    throw new AlertRuleError(`kind must be one of ${ALERT_KINDS.join(', ')}`);
  }
  const queue = r.queue ?? '';
  const vhost = r.vhost ?? '';
  if (typeof queue !== 'string' || typeof vhost !== 'string') throw new AlertRuleError('queue and vhost must be strings');
  try {
    new LinearRegex(queue);
  } catch (err) {
    throw new AlertRuleError(`queue '${queue}' is not a supported regular expression: ${(err as Error).message}`);
  }
  const group = r.group ?? '';
  if (typeof group !== 'string') throw new AlertRuleError('group must be a string');
  if (group !== '' && kind !== 'consumer_lag') throw new AlertRuleError('group applies to consumer_lag rules only');
  try {
    new LinearRegex(group);
  } catch (err) {
    throw new AlertRuleError(`group '${group}' is not a supported regular expression: ${(err as Error).message}`);
  }
  const threshold = r.threshold ?? 0;
  const forMs = r.for_ms ?? 0;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0) throw new AlertRuleError('threshold must be a number >= 0');
  if (typeof forMs !== 'number' || !Number.isInteger(forMs) || forMs < 0) throw new AlertRuleError('for_ms must be an integer >= 0');
  return { name, kind: kind as AlertKind, queue, vhost, group, threshold, forMs };
}

export function ruleToJson(rule: AlertRule): Record<string, unknown> {
  const json: Record<string, unknown> = {
    name: rule.name,
    kind: rule.kind,
    queue: rule.queue,
    vhost: rule.vhost,
    threshold: rule.threshold,
    for_ms: rule.forMs,
  };
  if (rule.kind === 'consumer_lag') json.group = rule.group;
  return json;
}

export interface AlertEngineOptions {
  readonly logger: Logger;
  /** rules from the config file (not persisted by the engine) */
  readonly configRules: readonly AlertRule[];
  /** where API-made rules are kept; null = not kept */
  readonly rulesFile: string | null;
  /**
   * replaces the rules file with `text`, atomically and durably (the composition root gives the storage's
   * writeFileAtomic); absent = a plain write (tests)
   */
  readonly writeRulesFile?: (file: string, text: string) => void;
  /** POSTed a JSON event when an alert fires or resolves; '' = none */
  readonly webhookUrl: string;
  /** every queue now, made as it is iterated (a pass iterates it in slices) */
  readonly sample: () => Iterable<QueueSample>;
  /** the resource alarms on now (read only while a resource_alarm rule exists) */
  readonly alarms?: () => readonly AlarmSample[];
  /** every Kafka consumer group with its lag (read only while a consumer_lag rule exists) */
  readonly groups?: () => Iterable<GroupSample>;
  /** the vhost Kafka clients use (consumer_lag alerts are shown to users of it) */
  readonly kafkaVhost?: string;
  /** start with DEFAULT_ALERT_RULES (default true) */
  readonly defaultRules?: boolean;
  readonly intervalMs: number;
}

/** A rule refused because the broker holds MAX_ALERT_RULES already (HTTP 400, as a bad rule). */
export class AlertRuleLimitError extends AlertRuleError {}

export class AlertEngine {
  private readonly rules = new Map<string, AlertRule>();
  private readonly apiRules = new Set<string>();
  private readonly configRuleNames = new Set<string>();
  /** the names of the built-in defaults this broker starts with (whether or not replaced since) */
  private readonly defaultNames = new Set<string>();
  /** defaults deleted through the API: kept in the rules file so they stay deleted */
  private readonly deletedDefaults = new Set<string>();
  /** state of targets that are not queues ('node', 'group:<id>'), as perQueue holds queues' */
  private readonly otherTargets = new Map<string, QueueAlerts>();
  /** the rules as a list (indexes are what QueueAlerts.matches holds), their patterns compiled; rebuilt on change */
  private ruleList: AlertRule[] = [];
  private patterns: LinearRegex[] = [];
  private generation = 0;
  /** the longest dead_letter_growth window, ms; -1 = no such rule (no history is kept) */
  private longestWindowMs = -1;
  private readonly perQueue = new WeakMap<object, QueueAlerts>();
  /** every pair that has a state (pending, firing, recently resolved) */
  private readonly tracked = new Set<Tracked>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private pass = 0;
  /** passes that went over every queue (a pass cut short by a rule change does not count) */
  private completed = 0;
  private webhookFailing = false;

  constructor(private readonly options: AlertEngineOptions) {
    const saved = options.rulesFile === null ? null : readRulesFile(options.rulesFile);
    if (saved !== null) for (const name of saved.deletedDefaults) this.deletedDefaults.add(name);
    if (options.defaultRules !== false) {
      for (const rule of DEFAULT_ALERT_RULES) {
        this.defaultNames.add(rule.name);
        if (!this.deletedDefaults.has(rule.name)) this.rules.set(rule.name, rule);
      }
    }
    for (const rule of options.configRules) {
      this.rules.set(rule.name, rule);
      this.configRuleNames.add(rule.name);
    }
    if (saved !== null) {
      for (const rule of saved.rules) {
        this.rules.set(rule.name, rule);
        this.apiRules.add(rule.name);
      }
    }
    this.rulesChanged();
  }

  start(): void {
    this.timer = setInterval(() => void this.evaluate(Date.now()), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** evaluations that went over every queue since the start (`postbox_alert_evaluations_total`) */
  get evaluations(): number {
    return this.completed;
  }

  listRules(): AlertRule[] {
    return [...this.rules.values()];
  }

  rule(name: string): AlertRule | undefined {
    return this.rules.get(name);
  }

  /** the rule comes from the config file (and has not been replaced through the API) */
  isConfigRule(name: string): boolean {
    return this.rules.has(name) && this.configRuleNames.has(name) && !this.apiRules.has(name);
  }

  /** the rule is a built-in default, as shipped (neither the config file nor the API replaced it) */
  isDefaultRule(name: string): boolean {
    return this.rules.has(name) && this.defaultNames.has(name) && !this.configRuleNames.has(name) && !this.apiRules.has(name);
  }

  /** rules an operator made (the built-in defaults, as shipped, are not counted against MAX_ALERT_RULES) */
  private get operatorRuleCount(): number {
    let n = 0;
    for (const name of this.rules.keys()) if (!this.isDefaultRule(name)) n++;
    return n;
  }

  /** adds or replaces a rule; AlertRuleLimitError when it would be one more than MAX_ALERT_RULES */
  setRule(rule: AlertRule): void {
    const count = this.operatorRuleCount;
    if ((!this.rules.has(rule.name) || this.isDefaultRule(rule.name)) && count >= MAX_ALERT_RULES) {
      throw new AlertRuleLimitError(`there are already ${count} alert rules, the most a broker keeps (each is evaluated against every queue)`);
    }
    this.rules.set(rule.name, rule);
    this.apiRules.add(rule.name);
    this.deletedDefaults.delete(rule.name);
    this.forgetRule(rule.name);
    this.rulesChanged();
    this.saveRules();
  }

  deleteRule(name: string): boolean {
    if (!this.rules.delete(name)) return false;
    this.apiRules.delete(name);
    // a default deleted (as shipped or as replaced) stays deleted across restarts
    if (this.defaultNames.has(name)) this.deletedDefaults.add(name);
    this.forgetRule(name);
    this.rulesChanged();
    this.saveRules();
    return true;
  }

  /** every (rule, queue) pair that is pending or firing, and the ones that resolved within RESOLVED_KEPT_MS */
  states(): AlertState[] {
    const out: AlertState[] = [];
    for (const t of this.tracked) {
      const state: AlertState = {
        rule: t.rule,
        kind: t.kind,
        vhost: t.vhost,
        queue: t.queue,
        state: t.state,
        since: t.since,
        value: t.value,
        threshold: t.threshold,
        message: t.message,
      };
      out.push(t.target === undefined ? state : { ...state, target: t.target });
    }
    return out;
  }

  /**
   * One pass over every queue, in slices. A pass already running makes this one a no-op (a slow pass is not
   * stacked); a rule change during a pass ends it (the next one starts from the new rules).
   */
  async evaluate(now: number): Promise<void> {
    if (this.running) return;
    this.running = true;
    const pass = ++this.pass;
    const generation = this.generation;
    const slicer = new Slicer();
    try {
      for (const q of this.options.sample()) {
        if (this.generation !== generation) return;
        this.evaluateQueue(q, now, pass);
        if (slicer.due()) await slicer.next();
      }
      if (this.generation !== generation) return;
      this.evaluateOtherTargets(now, pass);
      // queues that went away: a firing alert resolves, the rest is dropped
      for (const t of this.tracked) {
        if (t.pass === pass) continue;
        if (t.state === 'firing') this.transition(t, 'ok', now, t.target === undefined ? 'the queue is gone' : `${t.target} is gone`);
        this.untrack(t);
      }
      this.completed++;
    } catch (err) {
      this.options.logger.warn(`alerts: evaluating rules failed: ${(err as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  /** the rules that watch the node (resource_alarm) and Kafka consumer groups (consumer_lag) */
  private evaluateOtherTargets(now: number, pass: number): void {
    let alarmRules: number[] | null = null;
    let lagRules: number[] | null = null;
    for (let i = 0; i < this.ruleList.length; i++) {
      const kind = this.ruleList[i]!.kind;
      if (kind === 'resource_alarm') (alarmRules ??= []).push(i);
      else if (kind === 'consumer_lag') (lagRules ??= []).push(i);
    }
    if (alarmRules !== null && this.options.alarms !== undefined) {
      const alarms = this.options.alarms();
      const reasons = alarms.map((a) => `${a.resource} (${a.reason})`).join(', ');
      const target = this.otherTarget('node');
      const sample: TargetSample = { vhost: '', name: '', target: 'node', value: alarms.length, detail: reasons };
      for (const i of alarmRules) this.stepTarget(target, this.ruleList[i]!, sample, now, pass);
    }
    if (lagRules !== null && this.options.groups !== undefined) {
      const vhost = this.options.kafkaVhost ?? '/';
      for (const g of this.options.groups()) {
        let target: QueueAlerts | null = null;
        for (const i of lagRules) {
          if (!this.patterns[i]!.test(g.groupId)) continue;
          target ??= this.otherTarget(`group:${g.groupId}`);
          this.stepTarget(target, this.ruleList[i]!, { vhost, name: g.groupId, target: `group ${g.groupId}`, value: g.lag, detail: '' }, now, pass);
        }
      }
    }
    // targets with nothing tracked any more are dropped (a group that went away)
    for (const [key, qa] of this.otherTargets) if (qa.tracked === null || qa.tracked.size === 0) this.otherTargets.delete(key);
  }

  private otherTarget(key: string): QueueAlerts {
    let qa = this.otherTargets.get(key);
    if (qa === undefined) {
      qa = { generation: this.generation, matches: NO_MATCHES, tracked: null, deadLetters: null };
      this.otherTargets.set(key, qa);
    }
    return qa;
  }

  /** one (rule, target) step for a rule that does not watch a queue: fires while `value` is above the threshold */
  private stepTarget(qa: QueueAlerts, rule: AlertRule, sample: TargetSample, now: number, pass: number): void {
    const value = sample.value;
    const t = qa.tracked?.get(rule.name);
    if (value <= rule.threshold) {
      if (t !== undefined) this.clear(t, value, now, pass, t.state === 'firing' ? this.describeTarget(rule, sample) : '');
      return;
    }
    this.raise(qa, t, rule, sample.vhost, '', sample.target, value, this.describeTarget(rule, sample), rule.forMs, now, pass);
  }

  /** A pair whose condition no longer holds: a firing alert resolves; a pending one, or a resolved one kept long enough, is forgotten. */
  private clear(t: Tracked, value: number, now: number, pass: number, message: string): void {
    t.pass = pass;
    t.value = value;
    if (t.state === 'firing') this.transition(t, 'ok', now, `resolved: ${message}`);
    else if (t.state === 'pending') this.untrack(t);
    else if (now - t.since > RESOLVED_KEPT_MS) this.untrack(t);
  }

  /** A pair whose condition holds: tracked (pending) from now if it was not, firing once it held `holdFor` ms. */
  private raise(
    qa: QueueAlerts,
    tracked: Tracked | undefined,
    rule: AlertRule,
    vhost: string,
    queue: string,
    target: string | undefined,
    value: number,
    message: string,
    holdFor: number,
    now: number,
    pass: number,
  ): void {
    let t = tracked;
    if (t === undefined) {
      t = {
        rule: rule.name,
        kind: rule.kind,
        vhost,
        queue,
        target,
        state: 'pending',
        since: now,
        value,
        threshold: rule.threshold,
        message: '',
        owner: qa,
        pass,
      };
      (qa.tracked ??= new Map()).set(rule.name, t);
      this.tracked.add(t);
    } else if (t.state === 'ok') {
      t.state = 'pending';
      t.since = now;
    }
    t.pass = pass;
    t.value = value;
    t.message = message;
    if (t.state === 'pending' && now - t.since >= holdFor) this.transition(t, 'firing', now, message);
  }

  private describeTarget(rule: AlertRule, sample: TargetSample): string {
    if (rule.kind === 'resource_alarm') return sample.value === 0 ? 'no resource alarm is on' : `resource alarm on: ${sample.detail}; publishers are blocked`;
    return `Kafka consumer group '${sample.name}' lags ${sample.value} message${sample.value === 1 ? '' : 's'} behind (threshold ${rule.threshold})`;
  }

  private rulesChanged(): void {
    this.generation++;
    this.ruleList = [...this.rules.values()];
    this.patterns = this.ruleList.map((r) => new LinearRegex(r.kind === 'consumer_lag' ? r.group : r.queue));
    this.longestWindowMs = -1;
    for (const r of this.ruleList) if (r.kind === 'dead_letter_growth') this.longestWindowMs = Math.max(this.longestWindowMs, r.forMs);
  }

  private evaluateQueue(q: QueueSample, now: number, pass: number): void {
    let qa = this.perQueue.get(q.id);
    // a queue first seen after the first pass is new: every dead letter it has counts as growth
    const isNew = qa === undefined && pass > 1;
    if (qa === undefined) {
      qa = { generation: -1, matches: NO_MATCHES, tracked: null, deadLetters: null };
      this.perQueue.set(q.id, qa);
    }
    if (qa.generation !== this.generation) {
      qa.matches = this.matchingRules(q);
      qa.generation = this.generation;
    }
    if (this.longestWindowMs >= 0) this.recordDeadLetters(qa, q.deadLettered, now, isNew);
    else qa.deadLetters = null;
    const matches = qa.matches;
    for (let i = 0; i < matches.length; i++) this.step(qa, this.ruleList[matches[i]!]!, q, now, pass);
  }

  /** the indexes of the rules that apply to the queue (the only place a rule's pattern runs) */
  private matchingRules(q: QueueSample): Uint16Array {
    let found: number[] | null = null;
    for (let i = 0; i < this.ruleList.length; i++) {
      const rule = this.ruleList[i]!;
      if (!QUEUE_KINDS.has(rule.kind)) continue;
      if (rule.vhost !== '' && q.vhost !== rule.vhost) continue;
      if (!this.patterns[i]!.test(q.name)) continue;
      (found ??= []).push(i);
    }
    return found === null ? NO_MATCHES : Uint16Array.from(found);
  }

  private recordDeadLetters(qa: QueueAlerts, count: number, now: number, isNew: boolean): void {
    let h = qa.deadLetters;
    if (h === null) {
      h = qa.deadLetters = isNew && count > 0 ? [now, 0] : [];
    }
    if (h.length === 0 || h[h.length - 1] !== count) {
      if (h.length >= MAX_HISTORY * 2) h.splice(2, 2);
      h.push(now, count);
    }
    // keep the last entry at or before the longest window's start (the baseline) and everything after it
    let drop = 0;
    while (drop + 2 < h.length && h[drop + 2]! <= now - this.longestWindowMs) drop += 2;
    if (drop > 0) h.splice(0, drop);
  }

  private step(qa: QueueAlerts, rule: AlertRule, q: QueueSample, now: number, pass: number): void {
    const value = this.value(rule, qa, q, now);
    const holds = rule.kind === 'no_consumers' ? q.messages > 0 && q.consumers === 0 : value > rule.threshold;
    const t = qa.tracked?.get(rule.name);
    if (!holds) {
      if (t !== undefined) this.clear(t, value, now, pass, t.state === 'firing' ? this.describe(rule, q, value) : '');
      return;
    }
    // for dead_letter_growth `for_ms` is the window the growth is measured over, not a duration to wait
    const holdFor = rule.kind === 'dead_letter_growth' ? 0 : rule.forMs;
    this.raise(qa, t, rule, q.vhost, q.name, undefined, value, this.describe(rule, q, value), holdFor, now, pass);
  }

  /** the measured value of a rule's condition (no_consumers: the consumer count) */
  private value(rule: AlertRule, qa: QueueAlerts, q: QueueSample, now: number): number {
    switch (rule.kind) {
      case 'queue_depth':
        return q.messages;
      case 'no_consumers':
        return q.consumers;
      case 'processing_delay': {
        const oldest = q.oldestReadyPublishedAt();
        return oldest === null ? 0 : Math.max(0, now - oldest);
      }
      case 'dead_letter_growth': {
        // growth since the count at the window's start: the last change at or before it, else the first seen
        const h = qa.deadLetters!;
        let baseline = h[1]!;
        for (let i = 0; i < h.length && h[i]! <= now - rule.forMs; i += 2) baseline = h[i + 1]!;
        return q.deadLettered - baseline;
      }
      default:
        return 0; // not a queue kind: never matched to a queue
    }
  }

  private describe(rule: AlertRule, q: QueueSample, value: number): string {
    const where = `queue '${q.name}' in vhost '${q.vhost}'`;
    const messages = (n: number): string => `${n} message${n === 1 ? '' : 's'}`;
    switch (rule.kind) {
      case 'queue_depth':
        return `${where} holds ${messages(value)} (threshold ${rule.threshold})`;
      case 'no_consumers':
        return `${where} has ${messages(q.messages)} and ${value === 0 ? 'no consumer' : `${value} consumer${value === 1 ? '' : 's'}`}`;
      case 'processing_delay':
        return `the oldest ready message of ${where} is ${value} ms old (threshold ${rule.threshold} ms)`;
      case 'dead_letter_growth':
        return `${messages(value)} dead-lettered from ${where} within ${rule.forMs} ms (threshold ${rule.threshold})`;
      default:
        return where;
    }
  }

  private untrack(t: Tracked): void {
    this.tracked.delete(t);
    t.owner.tracked?.delete(t.rule);
  }

  private transition(t: Tracked, to: 'ok' | 'firing', now: number, message: string): void {
    t.state = to;
    t.since = now;
    t.message = message;
    this.options.logger.warn(`alert ${to === 'firing' ? 'firing' : 'resolved'}: ${t.rule}: ${message}`);
    this.postWebhook({
      alert: t.rule,
      kind: t.kind,
      vhost: t.vhost,
      queue: t.queue,
      ...(t.target === undefined ? {} : { target: t.target }),
      state: to === 'firing' ? 'firing' : 'resolved',
      value: t.value,
      threshold: t.threshold,
      message,
      at: new Date(now).toISOString(),
    });
  }

  private postWebhook(event: Record<string, unknown>): void {
    const url = this.options.webhookUrl;
    if (url === '') return;
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    }).then(
      (res) => {
        if (!res.ok) this.webhookFailed(`HTTP ${res.status}`);
        else if (this.webhookFailing) {
          this.webhookFailing = false;
          this.options.logger.info(`alerts: webhook ${url} answers again`);
        }
      },
      (err: unknown) => this.webhookFailed((err as Error).message),
    );
  }

  /** one line when the webhook starts failing, not one per alert */
  private webhookFailed(reason: string): void {
    if (this.webhookFailing) return;
    this.webhookFailing = true;
    this.options.logger.warn(`alerts: webhook ${this.options.webhookUrl} failed (${reason}); alerts are still shown at /api/alerts`);
  }

  private forgetRule(name: string): void {
    for (const t of this.tracked) if (t.rule === name) this.untrack(t);
  }

  private saveRules(): void {
    const file = this.options.rulesFile;
    if (file === null) return;
    const list = [...this.apiRules]
      .map((n) => this.rules.get(n))
      .filter((r): r is AlertRule => r !== undefined)
      .map(ruleToJson);
    // the plain list (the file's first form) unless a default was deleted, which must be remembered too
    const doc = this.deletedDefaults.size === 0 ? list : { rules: list, deleted_defaults: [...this.deletedDefaults].sort() };
    (this.options.writeRulesFile ?? fs.writeFileSync)(file, JSON.stringify(doc, null, 2) + '\n');
  }
}

/** A rule of a kind that watches something other than a queue, at one moment. */
interface TargetSample {
  readonly vhost: string;
  /** the consumer group's id; '' for the node */
  readonly name: string;
  /** 'node' or `group <id>` */
  readonly target: string;
  /** the measured value: active alarms, or the group's lag */
  readonly value: number;
  /** the alarms' reasons */
  readonly detail: string;
}

/**
 * <data-dir>/alert-rules.json: the rules made through the API, either as a list (the first form) or as
 * `{ rules: [...], deleted_defaults: [names] }` once a built-in default was deleted. null when there is none.
 */
function readRulesFile(file: string): { rules: AlertRule[]; deletedDefaults: string[] } | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null; // none made through the API yet
  }
  const parsed = JSON.parse(text) as unknown;
  const list = (Array.isArray(parsed) ? parsed : ((parsed as { rules?: unknown }).rules ?? [])) as Array<Record<string, unknown>>;
  const deleted = Array.isArray(parsed) ? [] : ((parsed as { deleted_defaults?: unknown }).deleted_defaults ?? []);
  if (!Array.isArray(list) || !Array.isArray(deleted)) throw new AlertRuleError(`${file}: expected a list of rules, or { rules, deleted_defaults }`);
  return { rules: list.map((raw) => parseAlertRule(String(raw.name), raw)), deletedDefaults: deleted.map(String) };
}

// ---------------------------------------------------------------- HTTP routes

/** Who may change alert rules: those who may change policies. */
const ALERT_WRITER_TAGS: readonly string[] = ['administrator', 'policymaker'];

/**
 * A policymaker changes rules of the vhosts it may use, as it does policies; a rule over every vhost (vhost
 * '') watches queues it may not see, so only an administrator sets, replaces or deletes one.
 */
function requireRuleScope(user: UserConfig, ctx: ManagementContext, rule: AlertRule, action: string): void {
  if (hasTag(user, ADMINISTRATOR_TAGS)) return;
  if (rule.vhost === '')
    throw apiError(
      Errors.ACCESS_REFUSED,
      `user '${user.name}' may not ${action} alert rule '${rule.name}': a rule over every vhost needs the administrator tag`,
    );
  if (ctx.core.vhostFor(user, rule.vhost) === undefined)
    throw apiError(Errors.ACCESS_REFUSED, `user '${user.name}' may not ${action} alert rule '${rule.name}': no access to vhost '${rule.vhost}'`);
}

/** a rule as the API lists it: a built-in default, as shipped, says so with `default: true` */
function ruleListJson(engine: AlertEngine, rule: AlertRule): Record<string, unknown> {
  const json = ruleToJson(rule);
  if (engine.isDefaultRule(rule.name)) json.default = true;
  return json;
}

function engineOf(ctx: ManagementContext): AlertEngine {
  if (ctx.alerts === undefined) throw apiError(Errors.NOT_FOUND, 'alerts are not enabled on this broker');
  return ctx.alerts;
}

export const alertRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/alerts',
    // a state names a queue and its depth: shown only to users who may use its vhost, as /api/queues is
    // a resource alarm concerns the whole node: every management user sees it, as the overview shows alarms
    handler: (req, ctx) => ({
      status: 200,
      body: engineOf(ctx)
        .states()
        .filter((a) => a.kind === 'resource_alarm' || ctx.core.vhostFor(req.user, a.vhost) !== undefined),
    }),
  },
  {
    method: 'GET',
    path: '/api/alert-rules',
    handler: (_req, ctx) => ({
      status: 200,
      body: engineOf(ctx)
        .listRules()
        .map((r) => ruleListJson(engineOf(ctx), r)),
    }),
  },
  {
    method: 'GET',
    path: '/api/alert-rules/:name',
    handler: (req, ctx) => {
      const rule = engineOf(ctx).rule(req.params.name!);
      if (rule === undefined) throw apiError(Errors.NOT_FOUND, `no alert rule '${req.params.name}'`);
      return { status: 200, body: ruleListJson(engineOf(ctx), rule) };
    },
  },
  {
    method: 'PUT',
    path: '/api/alert-rules/:name',
    handler: (req, ctx) => {
      requireTag(req.user, ALERT_WRITER_TAGS, 'set alert rules');
      let rule: AlertRule;
      try {
        rule = parseAlertRule(req.params.name!, jsonObject(req));
      } catch (err) {
        if (err instanceof AlertRuleError) throw apiError(Errors.INVALID_ARGUMENT, err.message);
        throw err;
      }
      const engine = engineOf(ctx);
      const existing = engine.rule(rule.name);
      requireRuleScope(req.user, ctx, rule, 'set');
      if (existing !== undefined) requireRuleScope(req.user, ctx, existing, 'replace');
      try {
        engine.setRule(rule);
      } catch (err) {
        if (err instanceof AlertRuleError) throw apiError(Errors.INVALID_ARGUMENT, err.message);
        throw err;
      }
      return { status: existing !== undefined ? 204 : 201 };
    },
  },
  {
    method: 'DELETE',
    path: '/api/alert-rules/:name',
    handler: (req, ctx) => {
      requireTag(req.user, ALERT_WRITER_TAGS, 'delete alert rules');
      const engine = engineOf(ctx);
      const rule = engine.rule(req.params.name!);
      if (rule === undefined) throw apiError(Errors.NOT_FOUND, `no alert rule '${req.params.name}'`);
      requireRuleScope(req.user, ctx, rule, 'delete');
      engine.deleteRule(rule.name);
      return { status: 204 };
    },
  },
];
