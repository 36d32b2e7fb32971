/**
 * The query parameters RabbitMQ's list routes take, applied to a list of JSON rows:
 *
 *   name=<text>&use_regex=true   keep rows whose name contains <text> (or matches the regex: the linear-time
 *                                subset of util/linear-regex.ts; anything else is a 400 naming it)
 *   sort=<field>&sort_reverse=true  order by a (dotted) field; the default order is by vhost, then name
 *   columns=a,b.c                keep only these (dotted) fields of each row
 *   page=<n>&page_size=<m>       one page: { items, page, page_count, page_size, item_count,
 *                                filtered_count, total_count } instead of a bare array
 *
 * A listing may cover 100,000 channels or queues, so no step holds the event loop for more than
 * LISTING_SLICE_MS: rows are built, filtered and keyed in time slices, sorted by a merge sort that yields
 * between slices, and a listing without `page` is written as a JSON array in pieces (JsonStream, written
 * by http.ts) instead of one string of tens of megabytes.
 */
import { LinearRegex } from '../util/linear-regex.js';
import { Errors } from '../errors/errors.js';
import { apiError, type ApiReply, type ApiRequest } from './router.js';

/** Rows per page when `page` is given without `page_size` (RabbitMQ's default). */
export const DEFAULT_PAGE_SIZE = 100;
/** Largest page RabbitMQ serves; a bigger page_size is refused the same way. */
export const MAX_PAGE_SIZE = 500;
/**
 * Longest a listing works before it lets the event loop run (AMQP and Kafka clients, other requests), ms:
 * short enough that nobody notices, long enough that yielding costs little.
 */
export const LISTING_SLICE_MS = 2;
/** Rows handled between two looks at the clock (performance.now() is cheap, but not free). */
const ROWS_PER_CLOCK_CHECK = 32;
/** Elements of the insertion-sorted runs the merge sort starts from. */
const SORT_RUN = 32;

type Row = Record<string, unknown>;

/** Tells a long loop when its slice is used up, and waits one event-loop turn. */
export class Slicer {
  private until = performance.now() + LISTING_SLICE_MS;
  private count = 0;

  /** true (now and then) when the slice is used up: the caller then awaits next() */
  due(): boolean {
    if (++this.count < ROWS_PER_CLOCK_CHECK) return false;
    this.count = 0;
    return performance.now() >= this.until;
  }

  async next(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.until = performance.now() + LISTING_SLICE_MS;
    this.count = 0;
  }
}

/** Rows made lazily from `items`: a listing builds each row inside its time slices. */
export function* mapRows<T>(items: Iterable<T>, toRow: (item: T) => Row): Generator<Row> {
  for (const item of items) yield toRow(item);
}

function pathValue(row: Row, path: string): unknown {
  let v: unknown = row;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Row)[part];
  }
  return v;
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function pickColumns(row: Row, columns: readonly string[]): Row {
  const out: Row = {};
  for (const column of columns) {
    const value = pathValue(row, column);
    if (value === undefined) continue;
    const parts = column.split('.');
    let target = out;
    for (let i = 0; i < parts.length - 1; i++) target = (target[parts[i]!] ??= {}) as Row;
    target[parts[parts.length - 1]!] = value;
  }
  return out;
}

function positiveInt(request: ApiRequest, name: string, fallback: number): number {
  const raw = request.query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw apiError(Errors.INVALID_ARGUMENT, `'${name}' must be a positive integer, got '${raw}'`);
  return n;
}

/**
 * The order of `n` elements under `cmp` (of their indexes), as a stable merge sort that yields to the event
 * loop whenever its slice is used up: sorting 100,000 rows takes ~100 ms, far too long in one piece.
 */
export async function sortIndexes(n: number, cmp: (i: number, j: number) => number, slicer: Slicer): Promise<number[]> {
  let from: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) from[i] = i;
  for (let lo = 0; lo < n; lo += SORT_RUN) {
    const hi = Math.min(n, lo + SORT_RUN);
    for (let i = lo + 1; i < hi; i++) {
      const x = from[i]!;
      let j = i - 1;
      while (j >= lo && cmp(from[j]!, x) > 0) {
        from[j + 1] = from[j]!;
        j--;
      }
      from[j + 1] = x;
    }
    if (slicer.due()) await slicer.next();
  }
  let to: number[] = new Array<number>(n);
  for (let width = SORT_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        // <= keeps equal elements in their order: stable, like Array.prototype.sort
        if (i < mid && (j >= hi || cmp(from[i]!, from[j]!) <= 0)) to[k] = from[i++]!;
        else to[k] = from[j++]!;
        if (slicer.due()) await slicer.next();
      }
    }
    const swap = from;
    from = to;
    to = swap;
  }
  return from;
}

/**
 * A 200 reply listing `rows` with the request's filter, sort, columns and pagination applied. `rows` is
 * iterated inside time slices, so pass a generator (mapRows) to have rows built there too.
 */
export async function listReply(request: ApiRequest, rows: Iterable<Row>): Promise<ApiReply> {
  const q = request.query;
  // every parameter is checked before any work is done
  const name = q.get('name');
  let matcher: ((s: string) => boolean) | null = null;
  if (name !== null && name !== '') {
    if (q.get('use_regex') === 'true') {
      // a linear-time matcher: the pattern comes from the request, and RegExp backtracks ((a+)+$ ...)
      let re: LinearRegex;
      try {
        re = new LinearRegex(name);
      } catch (err) {
        throw apiError(Errors.INVALID_ARGUMENT, `'name' is not a supported regular expression (${(err as Error).message}): ${name}`);
      }
      matcher = (s) => re.test(s);
    } else {
      matcher = (s) => s.includes(name);
    }
  }
  const paged = q.get('page') !== null;
  const page = paged ? positiveInt(request, 'page', 1) : 0;
  const pageSize = paged ? positiveInt(request, 'page_size', DEFAULT_PAGE_SIZE) : 0;
  if (pageSize > MAX_PAGE_SIZE) throw apiError(Errors.INVALID_ARGUMENT, `'page_size' must be at most ${MAX_PAGE_SIZE}`);
  const sort = q.get('sort');
  const columnList = q.get('columns');
  const columns = columnList !== null && columnList !== '' ? columnList.split(',') : null;

  const slicer = new Slicer();
  let total = 0;
  const kept: Row[] = [];
  for (const row of rows) {
    total++;
    if (matcher === null || matcher(String(row.name ?? ''))) kept.push(row);
    if (slicer.due()) await slicer.next();
  }

  let cmp: (i: number, j: number) => number;
  if (sort !== null && sort !== '') {
    const keys: unknown[] = new Array(kept.length);
    for (let i = 0; i < kept.length; i++) {
      keys[i] = pathValue(kept[i]!, sort);
      if (slicer.due()) await slicer.next();
    }
    cmp = (i, j) => compare(keys[i], keys[j]);
  } else {
    cmp = (i, j) => compare(kept[i]!.vhost, kept[j]!.vhost) || compare(kept[i]!.name, kept[j]!.name);
  }
  const order = await sortIndexes(kept.length, cmp, slicer);
  if (q.get('sort_reverse') === 'true') order.reverse();

  if (paged) {
    const pageCount = Math.ceil(kept.length / pageSize);
    if (page > Math.max(1, pageCount)) throw apiError(Errors.INVALID_ARGUMENT, `page ${page} is past the last page (${pageCount})`);
    const items = order.slice((page - 1) * pageSize, page * pageSize).map((i) => (columns !== null ? pickColumns(kept[i]!, columns) : kept[i]!));
    return {
      status: 200,
      body: { filtered_count: kept.length, item_count: items.length, items, page, page_count: pageCount, page_size: pageSize, total_count: total },
    };
  }
  const out: Row[] = new Array(order.length);
  for (let k = 0; k < order.length; k++) {
    const row = kept[order[k]!]!;
    out[k] = columns !== null ? pickColumns(row, columns) : row;
    if (slicer.due()) await slicer.next();
  }
  return { status: 200, stream: { parts: ['[', out, ']'] } };
}
