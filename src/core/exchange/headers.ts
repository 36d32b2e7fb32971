import type { FieldTable, FieldValue } from '../field-table.js';
import type { Binding, Destination, ExchangeRouter, RoutingInput } from './exchange.js';

/**
 * headers: a binding's arguments are matched against the message headers. `x-match` = `all` (default) or
 * `any`; `all-with-x` / `any-with-x` also compare keys starting with `x-` (RabbitMQ 3.10+). A binding value
 * of void (null) matches any value of a present header.
 */
type MatchMode = 'all' | 'any' | 'all-with-x' | 'any-with-x';

interface Compiled {
  readonly binding: Binding;
  readonly mode: MatchMode;
  readonly pairs: ReadonlyArray<readonly [string, FieldValue]>;
}

export function parseMatchMode(args: FieldTable): MatchMode | undefined {
  const raw = args['x-match'];
  if (raw === undefined) return 'all';
  if (raw === 'all' || raw === 'any' || raw === 'all-with-x' || raw === 'any-with-x') return raw;
  return undefined;
}

function valuesEqual(a: FieldValue, b: FieldValue): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  if (typeof a === 'number' && typeof b === 'bigint') return BigInt(a) === b;
  if (typeof a === 'bigint' && typeof b === 'number') return a === BigInt(b);
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Buffer.isBuffer(a) && typeof b === 'string') return a.toString('utf8') === b;
  if (typeof a === 'string' && Buffer.isBuffer(b)) return b.toString('utf8') === a;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => valuesEqual(v, b[i]!));
  if (typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ao = a as FieldTable;
    const bo = b as FieldTable;
    const ak = Object.keys(ao);
    return ak.length === Object.keys(bo).length && ak.every((k) => k in bo && valuesEqual(ao[k]!, bo[k]!));
  }
  return false;
}

export function headersMatch(mode: MatchMode, pairs: ReadonlyArray<readonly [string, FieldValue]>, headers: FieldTable | undefined): boolean {
  const any = mode === 'any' || mode === 'any-with-x';
  if (pairs.length === 0) return !any || false;
  const h = headers ?? {};
  for (const [key, expected] of pairs) {
    const present = Object.prototype.hasOwnProperty.call(h, key);
    const ok = present && (expected === null || valuesEqual(expected, h[key]!));
    if (any && ok) return true;
    if (!any && !ok) return false;
  }
  return !any;
}

export class HeadersRouter implements ExchangeRouter {
  private readonly compiled: Compiled[] = [];

  add(binding: Binding): void {
    const mode = parseMatchMode(binding.arguments) ?? 'all';
    const withX = mode === 'all-with-x' || mode === 'any-with-x';
    const pairs = Object.entries(binding.arguments).filter(([k]) => k !== 'x-match' && (withX || !k.startsWith('x-')));
    this.compiled.push({ binding, mode, pairs });
  }

  remove(binding: Binding): void {
    const i = this.compiled.findIndex((c) => c.binding === binding);
    if (i >= 0) this.compiled.splice(i, 1);
  }

  route(input: RoutingInput, out: Destination[]): void {
    if (this.compiled.length === 0) return;
    const headers = input.headers();
    for (const c of this.compiled) {
      if (!out.includes(c.binding.destination) && headersMatch(c.mode, c.pairs, headers)) out.push(c.binding.destination);
    }
  }
}
