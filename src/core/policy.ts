/**
 * Policies: named rules that apply a set of keys (a definition) to every queue or exchange of a vhost whose
 * name matches a regular expression, as RabbitMQ's policies do.
 *
 * - The pattern is a JavaScript RegExp source, matched unanchored (`^`/`$` anchor it), as RabbitMQ matches
 *   its PCRE patterns.
 * - At most one policy applies to a resource: among the matching policies whose apply-to covers it, the one
 *   with the highest priority. On a priority tie the one defined (set or last updated) most recently wins.
 * - A queue's own `x-…` arguments win over the policy, except for the numeric limits where the lower value
 *   wins (see queue/settings.ts, which resolves the effective settings).
 *
 * Validation failures are PRECONDITION_FAILED (HTTP 400, AMQP 406) with a message naming the key.
 */
import { brokerError, Errors } from '../errors/errors.js';
import type { FieldValue } from './field-table.js';
import { MAX_EXPIRY_MS, type AppliedPolicy } from './queue/settings.js';
import { LinearRegex } from '../util/linear-regex.js';

/**
 * What a policy applies to. `classic_queues`, `quorum_queues` and `streams` are RabbitMQ 3.12's narrower
 * forms; Postbox has no AMQP stream queues, so a `streams` policy matches no queue here.
 */
export type PolicyApplyTo = 'queues' | 'classic_queues' | 'quorum_queues' | 'streams' | 'exchanges' | 'all';

export const POLICY_APPLY_TO: readonly PolicyApplyTo[] = ['queues', 'classic_queues', 'quorum_queues', 'streams', 'exchanges', 'all'];

/** RabbitMQ's default for apply-to when a policy does not say. */
export const DEFAULT_POLICY_APPLY_TO: PolicyApplyTo = 'all';

/** A policy as set by a user and stored in the definitions file. */
export interface Policy {
  readonly vhost: string;
  readonly name: string;
  /** a RegExp source, matched unanchored against resource names */
  readonly pattern: string;
  readonly applyTo: PolicyApplyTo;
  /** higher wins; an integer, negative allowed (as RabbitMQ) */
  readonly priority: number;
  readonly definition: Readonly<Record<string, FieldValue>>;
}

type KeyCheck = (value: FieldValue) => string | null;

function isInteger(v: FieldValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

const nonNegativeInteger: KeyCheck = (v) => (isInteger(v) && v >= 0 ? null : 'expected a non-negative integer');
/** a duration in ms up to MAX_EXPIRY_MS (2^32 − 1, RabbitMQ's limit); `positive`: 0 refused too */
const duration =
  (positive: boolean): KeyCheck =>
  (v) =>
    isInteger(v) && (positive ? v > 0 : v >= 0) && v <= MAX_EXPIRY_MS
      ? null
      : `expected ${positive ? 'a positive' : 'a non-negative'} integer up to ${MAX_EXPIRY_MS} (ms)`;
const aString: KeyCheck = (v) => (typeof v === 'string' ? null : 'expected a string');
const overflowMode: KeyCheck = (v) =>
  v === 'drop-head' || v === 'reject-publish' || v === 'reject-publish-dlx' ? null : 'expected drop-head, reject-publish or reject-publish-dlx';

/** The queue keys Postbox applies, with their checks (RabbitMQ's names, plus Postbox's native retry). */
export const QUEUE_POLICY_KEYS: Readonly<Record<string, KeyCheck>> = Object.freeze({
  'message-ttl': duration(false),
  expires: duration(true),
  'dead-letter-exchange': aString,
  'dead-letter-routing-key': aString,
  'max-length': nonNegativeInteger,
  'max-length-bytes': nonNegativeInteger,
  overflow: overflowMode,
  'delivery-limit': nonNegativeInteger,
  'retry-backoff': duration(false),
  'retry-backoff-max': duration(false),
});

/**
 * Other RabbitMQ policy keys: accepted and stored so definitions written for RabbitMQ load unchanged, but
 * they have no effect in Postbox (mirroring, federation, exchange and stream keys, queue modes).
 */
export const IGNORED_POLICY_KEYS: ReadonlySet<string> = new Set([
  'ha-mode',
  'ha-params',
  'ha-sync-mode',
  'ha-sync-batch-size',
  'ha-promote-on-shutdown',
  'ha-promote-on-failure',
  'queue-mode',
  'queue-version',
  'queue-master-locator',
  'queue-leader-locator',
  'max-in-memory-length',
  'max-in-memory-bytes',
  'dead-letter-strategy',
  'consumer-timeout',
  'delivery-limit-strategy',
  'alternate-exchange',
  'federation-upstream',
  'federation-upstream-set',
  'max-age',
  'stream-max-segment-size-bytes',
  'stream-filter-size-bytes',
  'initial-cluster-size',
  'target-group-size',
]);

function invalid(message: string): never {
  throw brokerError(Errors.PRECONDITION_FAILED, message);
}

/** Refuse an unknown key or a value of the wrong type, naming the key. */
export function validatePolicyDefinition(definition: unknown): Record<string, FieldValue> {
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
    invalid('policy definition must be a JSON object of policy keys');
  }
  const entries = Object.entries(definition as Record<string, FieldValue>);
  if (entries.length === 0) invalid('policy definition must contain at least one key');
  const out: Record<string, FieldValue> = {};
  for (const [key, value] of entries) {
    const check = QUEUE_POLICY_KEYS[key];
    if (check !== undefined) {
      const why = check(value);
      if (why !== null) invalid(`invalid value for policy key '${key}': ${why}, got ${JSON.stringify(value) ?? String(value)}`);
    } else if (!IGNORED_POLICY_KEYS.has(key)) {
      invalid(`unknown policy key '${key}' (supported: ${Object.keys(QUEUE_POLICY_KEYS).join(', ')})`);
    }
    out[key] = value;
  }
  return out;
}

/** A policy's pattern as a linear-time matcher (util/linear-regex.ts: the subset, and why not RegExp). */
export function compilePattern(pattern: string): LinearRegex {
  try {
    return new LinearRegex(pattern);
  } catch (err) {
    return invalid(`invalid policy pattern '${pattern}': ${(err as Error).message}`);
  }
}

/** Validate a policy as it arrives (HTTP, CLI, definitions file) and return it normalised and frozen. */
export function validatePolicy(input: { vhost: string; name: unknown; pattern: unknown; applyTo?: unknown; priority?: unknown; definition: unknown }): Policy {
  if (typeof input.name !== 'string' || input.name.length === 0) invalid('policy name must be a non-empty string');
  if (typeof input.pattern !== 'string') invalid(`policy '${input.name}': pattern must be a string`);
  compilePattern(input.pattern);
  const applyTo = input.applyTo ?? DEFAULT_POLICY_APPLY_TO;
  if (!(POLICY_APPLY_TO as readonly unknown[]).includes(applyTo)) {
    invalid(`policy '${input.name}': apply-to must be one of ${POLICY_APPLY_TO.join(', ')}, got ${JSON.stringify(applyTo)}`);
  }
  const priority = input.priority ?? 0;
  if (!isInteger(priority as FieldValue)) invalid(`policy '${input.name}': priority must be an integer, got ${JSON.stringify(priority)}`);
  const definition = validatePolicyDefinition(input.definition);
  return Object.freeze({
    vhost: input.vhost,
    name: input.name,
    pattern: input.pattern,
    applyTo: applyTo as PolicyApplyTo,
    priority: priority as number,
    definition: Object.freeze(definition),
  });
}

/** A stored policy with its compiled pattern and the object handed to the resources it applies to. */
interface Entry {
  readonly policy: Policy;
  readonly regex: LinearRegex;
  /** the same object for as long as the policy is unchanged, so "did the policy change" is an identity test */
  readonly applied: AppliedPolicy;
  /** definition order: ties in priority go to the larger (later) sequence */
  readonly sequence: number;
}

/** One vhost's policies. Knows nothing of queues: the vhost asks it which policy applies to a name. */
export class PolicyRegistry {
  private readonly entries = new Map<string, Entry>();
  private sequence = 0;

  /** store (or replace) a validated policy; true when it was new */
  set(policy: Policy): boolean {
    const created = !this.entries.has(policy.name);
    // a replaced policy counts as defined now: delete first so the map keeps definition order
    this.entries.delete(policy.name);
    this.entries.set(policy.name, {
      policy,
      regex: compilePattern(policy.pattern),
      applied: Object.freeze({ name: policy.name, definition: policy.definition }),
      sequence: ++this.sequence,
    });
    return created;
  }

  /** false when there was no such policy */
  delete(name: string): boolean {
    return this.entries.delete(name);
  }

  get(name: string): Policy | undefined {
    return this.entries.get(name)?.policy;
  }

  /** every policy in definition order (the order they are persisted and restored in) */
  list(): Policy[] {
    return [...this.entries.values()].map((e) => e.policy);
  }

  get size(): number {
    return this.entries.size;
  }

  /** the policy that applies to a queue of this name and type, or null */
  forQueue(name: string, queueType: 'classic' | 'quorum' = 'classic'): AppliedPolicy | null {
    return this.effective(name, queueType === 'quorum' ? 'quorum_queues' : 'classic_queues')?.applied ?? null;
  }

  /** the policy that applies to an exchange of this name, or null (stored for later: exchanges ignore it today) */
  forExchange(name: string): AppliedPolicy | null {
    return this.effective(name, 'exchanges')?.applied ?? null;
  }

  private effective(name: string, kind: 'classic_queues' | 'quorum_queues' | 'exchanges'): Entry | null {
    let best: Entry | null = null;
    for (const e of this.entries.values()) {
      const to = e.policy.applyTo;
      if (to !== kind && to !== 'all' && !(to === 'queues' && kind !== 'exchanges')) continue;
      if (!e.regex.test(name)) continue;
      if (best === null || e.policy.priority > best.policy.priority || (e.policy.priority === best.policy.priority && e.sequence > best.sequence)) {
        best = e;
      }
    }
    return best;
  }
}
