/**
 * The query parameters RabbitMQ's list routes take, applied to a list of JSON rows:
 *
 *   name=<text>&use_regex=true   keep rows whose name contains <text> (or matches the regex)
 *   sort=<field>&sort_reverse=true  order by a (dotted) field; the default order is by vhost, then name
 *   columns=a,b.c                keep only these (dotted) fields of each row
 *   page=<n>&page_size=<m>       one page: { items, page, page_count, page_size, item_count,
 *                                filtered_count, total_count } instead of a bare array
 */
import { LinearRegex } from '../util/linear-regex.js';
import { httpError, type ApiReply, type ApiRequest } from './router.js';

/** Rows per page when `page` is given without `page_size` (RabbitMQ's default). */
export const DEFAULT_PAGE_SIZE = 100;
/** Largest page RabbitMQ serves; a bigger page_size is refused the same way. */
export const MAX_PAGE_SIZE = 500;

type Row = Record<string, unknown>;

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
  if (!Number.isInteger(n) || n < 1) throw httpError(400, `'${name}' must be a positive integer, got '${raw}'`);
  return n;
}

/** A 200 reply listing `rows` with the request's filter, sort, columns and pagination applied. */
export function listReply(request: ApiRequest, rows: Row[]): ApiReply {
  const q = request.query;
  const total = rows.length;
  let out = rows;
  const name = q.get('name');
  if (name !== null && name !== '') {
    if (q.get('use_regex') === 'true') {
      // a linear-time matcher: the pattern comes from the request, and RegExp backtracks ((a+)+$ ...)
      let re: LinearRegex;
      try {
        re = new LinearRegex(name);
      } catch (err) {
        throw httpError(400, `'name' is not a supported regular expression (${(err as Error).message}): ${name}`);
      }
      out = out.filter((r) => re.test(String(r.name ?? '')));
    } else {
      out = out.filter((r) => String(r.name ?? '').includes(name));
    }
  }
  const sort = q.get('sort');
  if (sort !== null && sort !== '') out = [...out].sort((a, b) => compare(pathValue(a, sort), pathValue(b, sort)));
  else out = [...out].sort((a, b) => compare(a.vhost, b.vhost) || compare(a.name, b.name));
  if (q.get('sort_reverse') === 'true') out.reverse();
  const columns = q.get('columns');
  const pick = (list: Row[]): Row[] => (columns !== null && columns !== '' ? list.map((r) => pickColumns(r, columns.split(','))) : list);
  if (q.get('page') === null) return { status: 200, body: pick(out) };
  const page = positiveInt(request, 'page', 1);
  const pageSize = positiveInt(request, 'page_size', DEFAULT_PAGE_SIZE);
  if (pageSize > MAX_PAGE_SIZE) throw httpError(400, `'page_size' must be at most ${MAX_PAGE_SIZE}`);
  const pageCount = Math.ceil(out.length / pageSize);
  if (page > Math.max(1, pageCount)) throw httpError(400, `page ${page} is past the last page (${pageCount})`);
  const items = pick(out.slice((page - 1) * pageSize, page * pageSize));
  return {
    status: 200,
    body: { filtered_count: out.length, item_count: items.length, items, page, page_count: pageCount, page_size: pageSize, total_count: total },
  };
}
