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
 *
 * Each rule applies to the queues whose name matches `queue` (a regular expression, default every queue)
 * in `vhost` (default every vhost). A (rule, queue) pair is `ok` until its condition holds, `pending` while
 * it has held for less than `for_ms`, `firing` after that, and `ok` again (resolved) once it stops holding.
 * Rules come from the config file's `alerts` array and from `PUT /api/alert-rules/{name}`; the rules made
 * through the API are kept in <data-dir>/alert-rules.json.
 */
import fs from 'node:fs';
import type { Logger } from '../log/logger.js';
import type { UserConfig } from '../config/config.js';
import { writeFileAtomic } from '../storage/files.js';
import { LinearRegex } from '../util/linear-regex.js';
import { ADMINISTRATOR_TAGS, hasTag, httpError, jsonObject, requireTag, type ManagementContext, type Route } from './router.js';

export const ALERT_KINDS = ['queue_depth', 'dead_letter_growth', 'no_consumers', 'processing_delay'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** A webhook call that takes longer than this is abandoned, ms. */
export const WEBHOOK_TIMEOUT_MS = 5000;
/** Dead-letter counts remembered per queue for dead_letter_growth windows (one per evaluation). */
const MAX_HISTORY = 10_000;

export interface AlertRule {
  readonly name: string;
  readonly kind: AlertKind;
  /** regular expression over queue names; '' or absent = every queue */
  readonly queue: string;
  /** vhost name; '' or absent = every vhost */
  readonly vhost: string;
  readonly threshold: number;
  readonly forMs: number;
}

/** What the engine needs of one queue at one moment. */
export interface QueueSample {
  readonly vhost: string;
  readonly name: string;
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
  readonly vhost: string;
  readonly queue: string;
  state: AlertStateName;
  /** when the condition started to hold (pending/firing) or stopped (ok), ms since the epoch */
  since: number;
  /** the measured value at the last evaluation */
  value: number;
  readonly threshold: number;
  message: string;
}

interface Tracked extends AlertState {
  /** dead-letter counts with their times, oldest first (dead_letter_growth) */
  history: Array<{ at: number; count: number }>;
}

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
  const threshold = r.threshold ?? 0;
  const forMs = r.for_ms ?? 0;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0) throw new AlertRuleError('threshold must be a number >= 0');
  if (typeof forMs !== 'number' || !Number.isInteger(forMs) || forMs < 0) throw new AlertRuleError('for_ms must be an integer >= 0');
  return { name, kind: kind as AlertKind, queue, vhost, threshold, forMs };
}

export function ruleToJson(rule: AlertRule): Record<string, unknown> {
  return { name: rule.name, kind: rule.kind, queue: rule.queue, vhost: rule.vhost, threshold: rule.threshold, for_ms: rule.forMs };
}

export interface AlertEngineOptions {
  readonly logger: Logger;
  /** rules from the config file (not persisted by the engine) */
  readonly configRules: readonly AlertRule[];
  /** where API-made rules are kept; null = not kept */
  readonly rulesFile: string | null;
  /** POSTed a JSON event when an alert fires or resolves; '' = none */
  readonly webhookUrl: string;
  readonly sample: () => QueueSample[];
  readonly intervalMs: number;
}

export class AlertEngine {
  private readonly rules = new Map<string, AlertRule>();
  /** compiled queue patterns of the rules, by pattern */
  private readonly matchers = new Map<string, LinearRegex>();
  private readonly apiRules = new Set<string>();
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | null = null;
  private webhookFailing = false;

  constructor(private readonly options: AlertEngineOptions) {
    for (const rule of options.configRules) this.rules.set(rule.name, rule);
    if (options.rulesFile !== null) this.loadRules(options.rulesFile);
  }

  start(): void {
    this.timer = setInterval(() => this.evaluate(Date.now()), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  listRules(): AlertRule[] {
    return [...this.rules.values()];
  }

  rule(name: string): AlertRule | undefined {
    return this.rules.get(name);
  }

  /** the rule comes from the config file (and has not been replaced through the API) */
  isConfigRule(name: string): boolean {
    return this.rules.has(name) && !this.apiRules.has(name);
  }

  setRule(rule: AlertRule): void {
    this.rules.set(rule.name, rule);
    this.apiRules.add(rule.name);
    this.forgetRule(rule.name);
    this.saveRules();
  }

  deleteRule(name: string): boolean {
    if (!this.rules.delete(name)) return false;
    this.apiRules.delete(name);
    this.forgetRule(name);
    this.saveRules();
    return true;
  }

  /** every (rule, queue) pair that is pending or firing, and the ones that resolved at the last evaluation */
  states(): AlertState[] {
    return [...this.tracked.values()].map(({ history: _history, ...state }) => state);
  }

  /**
   * The linear-time matcher for a rule's queue pattern (user-supplied: a backtracking RegExp could freeze
   * the broker on every evaluation), compiled once; only the patterns of current rules are kept.
   */
  private matcher(pattern: string): LinearRegex {
    let m = this.matchers.get(pattern);
    if (m === undefined) {
      if (this.matchers.size >= this.rules.size) this.matchers.clear();
      m = new LinearRegex(pattern);
      this.matchers.set(pattern, m);
    }
    return m;
  }

  /** one evaluation pass over every rule and queue */
  evaluate(now: number): void {
    let samples: QueueSample[];
    try {
      samples = this.options.sample();
    } catch (err) {
      this.options.logger.warn(`alerts: sampling queues failed: ${(err as Error).message}`);
      return;
    }
    const seen = new Set<string>();
    for (const rule of this.rules.values()) {
      const pattern = this.matcher(rule.queue);
      for (const q of samples) {
        if (rule.vhost !== '' && q.vhost !== rule.vhost) continue;
        if (!pattern.test(q.name)) continue;
        const key = `${rule.name}\u0000${q.vhost}\u0000${q.name}`;
        seen.add(key);
        this.step(key, rule, q, now);
      }
    }
    // queues that went away (or rules that no longer match): a firing alert resolves, the rest is dropped
    for (const [key, t] of this.tracked) {
      if (seen.has(key)) continue;
      if (t.state === 'firing') this.transition(t, 'ok', now, 'the queue is gone');
      this.tracked.delete(key);
    }
  }

  private step(key: string, rule: AlertRule, q: QueueSample, now: number): void {
    let t = this.tracked.get(key);
    if (t === undefined) {
      t = { rule: rule.name, kind: rule.kind, vhost: q.vhost, queue: q.name, state: 'ok', since: now, value: 0, threshold: rule.threshold, message: '', history: [] };
      this.tracked.set(key, t);
    }
    const { holds, value, message } = this.condition(rule, q, t, now);
    t.value = value;
    if (!holds) {
      if (t.state === 'firing') this.transition(t, 'ok', now, `resolved: ${message}`);
      else if (t.state === 'pending') {
        t.state = 'ok';
        t.since = now;
        t.message = message;
      }
      return;
    }
    if (t.state === 'ok') {
      t.state = 'pending';
      t.since = now;
    }
    t.message = message;
    // for dead_letter_growth `for_ms` is the window the growth is measured over, not a duration to wait
    const holdFor = rule.kind === 'dead_letter_growth' ? 0 : rule.forMs;
    if (t.state === 'pending' && now - t.since >= holdFor) this.transition(t, 'firing', now, message);
  }

  private condition(rule: AlertRule, q: QueueSample, t: Tracked, now: number): { holds: boolean; value: number; message: string } {
    const where = `queue '${q.name}' in vhost '${q.vhost}'`;
    const messages = (n: number): string => `${n} message${n === 1 ? '' : 's'}`;
    switch (rule.kind) {
      case 'queue_depth':
        return { holds: q.messages > rule.threshold, value: q.messages, message: `${where} holds ${messages(q.messages)} (threshold ${rule.threshold})` };
      case 'no_consumers':
        return { holds: q.messages > 0 && q.consumers === 0, value: q.consumers, message: `${where} has ${messages(q.messages)} and ${q.consumers === 0 ? 'no consumer' : `${q.consumers} consumer${q.consumers === 1 ? '' : 's'}`}` };
      case 'processing_delay': {
        const oldest = q.oldestReadyPublishedAt();
        const age = oldest === null ? 0 : Math.max(0, now - oldest);
        return { holds: age > rule.threshold, value: age, message: `the oldest ready message of ${where} is ${age} ms old (threshold ${rule.threshold} ms)` };
      }
      case 'dead_letter_growth': {
        const history = t.history;
        history.push({ at: now, count: q.deadLettered });
        while (history.length > 1 && now - history[0]!.at > rule.forMs) history.shift();
        if (history.length > MAX_HISTORY) history.shift();
        const growth = q.deadLettered - history[0]!.count;
        // a window rule: it fires as soon as the growth within the window exceeds the threshold
        return { holds: growth > rule.threshold, value: growth, message: `${messages(growth)} dead-lettered from ${where} within ${rule.forMs} ms (threshold ${rule.threshold})` };
      }
    }
  }

  private transition(t: Tracked, to: 'ok' | 'firing', now: number, message: string): void {
    t.state = to;
    t.since = now;
    t.message = message;
    this.options.logger.warn(`alert ${to === 'firing' ? 'firing' : 'resolved'}: ${t.rule}: ${message}`);
    this.postWebhook({ alert: t.rule, kind: t.kind, vhost: t.vhost, queue: t.queue, state: to === 'firing' ? 'firing' : 'resolved', value: t.value, threshold: t.threshold, message, at: new Date(now).toISOString() });
  }

  private postWebhook(event: Record<string, unknown>): void {
    const url = this.options.webhookUrl;
    if (url === '') return;
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) }).then(
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
    for (const [key, t] of this.tracked) if (t.rule === name) this.tracked.delete(key);
  }

  private loadRules(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return; // none made through the API yet
    }
    const list = JSON.parse(text) as Array<Record<string, unknown>>;
    for (const raw of list) {
      const rule = parseAlertRule(String(raw.name), raw);
      this.rules.set(rule.name, rule);
      this.apiRules.add(rule.name);
    }
  }

  private saveRules(): void {
    const file = this.options.rulesFile;
    if (file === null) return;
    const list = [...this.apiRules].map((n) => this.rules.get(n)).filter((r): r is AlertRule => r !== undefined).map(ruleToJson);
    writeFileAtomic(file, JSON.stringify(list, null, 2) + '\n');
  }
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
  if (rule.vhost === '') throw httpError(403, `user '${user.name}' may not ${action} alert rule '${rule.name}': a rule over every vhost needs the administrator tag`);
  if (ctx.core.vhostFor(user, rule.vhost) === undefined) throw httpError(403, `user '${user.name}' may not ${action} alert rule '${rule.name}': no access to vhost '${rule.vhost}'`);
}

function engineOf(ctx: ManagementContext): AlertEngine {
  if (ctx.alerts === undefined) throw httpError(404, 'alerts are not enabled on this broker');
  return ctx.alerts;
}

export const alertRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/api/alerts',
    // a state names a queue and its depth: shown only to users who may use its vhost, as /api/queues is
    handler: (req, ctx) => ({ status: 200, body: engineOf(ctx).states().filter((a) => ctx.core.vhostFor(req.user, a.vhost) !== undefined) }),
  },
  { method: 'GET', path: '/api/alert-rules', handler: (_req, ctx) => ({ status: 200, body: engineOf(ctx).listRules().map(ruleToJson) }) },
  {
    method: 'GET',
    path: '/api/alert-rules/:name',
    handler: (req, ctx) => {
      const rule = engineOf(ctx).rule(req.params.name!);
      if (rule === undefined) throw httpError(404, `no alert rule '${req.params.name}'`);
      return { status: 200, body: ruleToJson(rule) };
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
        if (err instanceof AlertRuleError) throw httpError(400, err.message);
        throw err;
      }
      const engine = engineOf(ctx);
      const existing = engine.rule(rule.name);
      requireRuleScope(req.user, ctx, rule, 'set');
      if (existing !== undefined) requireRuleScope(req.user, ctx, existing, 'replace');
      engine.setRule(rule);
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
      if (rule === undefined) throw httpError(404, `no alert rule '${req.params.name}'`);
      requireRuleScope(req.user, ctx, rule, 'delete');
      engine.deleteRule(rule.name);
      return { status: 204 };
    },
  },
];
