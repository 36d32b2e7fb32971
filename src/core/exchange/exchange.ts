/**
 * An exchange and the interface every exchange type implements. One small file per type; the router
 * indexes bindings for its own matching rule and appends matching destinations to `out`.
 */
import type { FieldTable } from '../field-table.js';
import type { DelayedStore } from '../delayed/delayed-store.js';
import { ExchangeCounters } from '../stats.js';

/** A binding target: a queue or another exchange (exchange-to-exchange bindings). */
export interface Destination {
  readonly kind: 'queue' | 'exchange';
  readonly name: string;
}

export interface Binding {
  readonly source: string;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly arguments: FieldTable;
  /** canonical form of the arguments, for equality (binding identity includes its arguments) */
  readonly argumentsKey: string;
}

export interface RoutingInput {
  readonly routingKey: string;
  /** decoded message headers; only the headers exchange calls it */
  headers(): FieldTable | undefined;
}

export interface ExchangeRouter {
  add(binding: Binding): void;
  remove(binding: Binding): void;
  route(input: RoutingInput, out: Destination[]): void;
}

export const EXCHANGE_TYPES = ['direct', 'fanout', 'topic', 'headers'] as const;
export type ExchangeType = (typeof EXCHANGE_TYPES)[number];

export class Exchange implements Destination {
  readonly kind = 'exchange' as const;
  /** used by routing to visit an exchange once per message (cycles in exchange-to-exchange bindings) */
  routeMark = 0;
  readonly bindings: Binding[] = [];
  readonly alternateExchange: string | undefined;
  /** the held messages of an x-delayed-message exchange (see exchange/delayed.ts); null for other types */
  delayed: DelayedStore | null = null;
  /** messages published into it and routed out of it (the management API's message_stats) */
  readonly counters = new ExchangeCounters();

  constructor(
    readonly name: string,
    readonly type: string,
    readonly durable: boolean,
    readonly autoDelete: boolean,
    readonly internal: boolean,
    readonly arguments_: FieldTable,
    readonly router: ExchangeRouter,
  ) {
    const ae = arguments_['alternate-exchange'];
    this.alternateExchange = typeof ae === 'string' && ae.length > 0 ? ae : undefined;
  }

  findBinding(destination: Destination, routingKey: string, argumentsKey: string): number {
    return this.bindings.findIndex((b) => b.destination === destination && b.routingKey === routingKey && b.argumentsKey === argumentsKey);
  }

  addBinding(binding: Binding): boolean {
    if (this.findBinding(binding.destination, binding.routingKey, binding.argumentsKey) >= 0) return false;
    this.bindings.push(binding);
    this.router.add(binding);
    return true;
  }

  removeBindingAt(index: number): Binding {
    const [binding] = this.bindings.splice(index, 1);
    this.router.remove(binding!);
    return binding!;
  }
}

/** A stable text form of binding arguments, so two bindings with equal arguments compare equal. */
export function argumentsKey(args: FieldTable): string {
  const keys = Object.keys(args);
  if (keys.length === 0) return '';
  return JSON.stringify(keys.sort().map((k) => [k, canonicalValue(args[k])]));
}

function canonicalValue(v: unknown): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (Buffer.isBuffer(v)) return `0x${v.toString('hex')}`;
  if (v instanceof Date) return `T${v.getTime()}`;
  if (Array.isArray(v)) return v.map(canonicalValue);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.keys(o)
      .sort()
      .map((k) => [k, canonicalValue(o[k])]);
  }
  return v;
}
