/**
 * Durable definitions (exchanges, queues, bindings, policies) in one JSON file per data directory, rewritten
 * atomically (write temp, fsync, rename, fsync dir) on every change. Field tables are stored with tagged
 * values so types that JSON lacks (bigint, bytes, timestamps, decimals) round-trip exactly.
 * `policies` was added within version 1: a file without the key has no policies. So were `vhosts` (vhosts
 * created at run time; config-file vhosts are not listed), `users` and `permissions` (users managed through
 * the management API, with password hashes, never passwords): a file without them has none.
 */
import { readFileSync, existsSync } from 'node:fs';
import { writeFileAtomic } from '../storage/files.js';
import { UnsupportedFormatError } from '../storage/format-error.js';
import { join } from 'node:path';
import { AmqpDecimal, type FieldTable, type FieldValue } from './field-table.js';
import type { Policy } from './policy.js';
import type { PermissionDefinition, UserDefinition } from './users.js';

export const DEFINITIONS_FILE = 'definitions.json';
export const DEFINITIONS_VERSION = 1;

export interface ExchangeDefinition {
  vhost: string;
  name: string;
  type: string;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export interface QueueDefinition {
  vhost: string;
  name: string;
  autoDelete: boolean;
  arguments: FieldTable;
  /** storage directory name under queues/ */
  storage: string;
}

export interface BindingDefinition {
  vhost: string;
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: FieldTable;
}

export interface Definitions {
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
  /** in definition order (a priority tie goes to the later one) */
  policies: Policy[];
  /** vhosts created at run time (config-file vhosts are not listed) */
  vhosts: string[];
  /** users managed through the management API */
  users: UserDefinition[];
  permissions: PermissionDefinition[];
}

export function emptyDefinitions(): Definitions {
  return { exchanges: [], queues: [], bindings: [], policies: [], vhosts: [], users: [], permissions: [] };
}

function encodeValue(v: FieldValue): unknown {
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('base64') };
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof AmqpDecimal) return { $decimal: [v.scale, v.value] };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v !== null && typeof v === 'object') return { $table: encodeTable(v as FieldTable) };
  return v;
}

function encodeTable(t: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(t)) out[k] = encodeValue(t[k]!);
  return out;
}

function decodeValue(v: unknown): FieldValue {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, any>;
    if ('$bigint' in o) return BigInt(o.$bigint);
    if ('$bytes' in o) return Buffer.from(o.$bytes, 'base64');
    if ('$date' in o) return new Date(o.$date);
    if ('$decimal' in o) return new AmqpDecimal(o.$decimal[0], o.$decimal[1]);
    if ('$table' in o) return decodeTable(o.$table);
  }
  return v as FieldValue;
}

function decodeTable(t: Record<string, unknown>): FieldTable {
  const out: FieldTable = {};
  for (const k of Object.keys(t)) out[k] = decodeValue(t[k]);
  return out;
}

export function loadDefinitions(dataDir: string): Definitions {
  const path = join(dataDir, DEFINITIONS_FILE);
  if (!existsSync(path)) return emptyDefinitions();
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  if (raw.version !== DEFINITIONS_VERSION) throw new UnsupportedFormatError(path, raw.version, DEFINITIONS_VERSION, 'definitions version');
  return {
    exchanges: raw.exchanges.map((e: any) => ({ ...e, arguments: decodeTable(e.arguments) })),
    queues: raw.queues.map((q: any) => ({ ...q, arguments: decodeTable(q.arguments) })),
    bindings: raw.bindings.map((b: any) => ({ ...b, arguments: decodeTable(b.arguments) })),
    policies: (raw.policies ?? []).map((p: any) => ({ ...p, definition: decodeTable(p.definition) })),
    vhosts: raw.vhosts ?? [],
    users: raw.users ?? [],
    permissions: raw.permissions ?? [],
  };
}

export function saveDefinitions(dataDir: string, defs: Definitions): void {
  const path = join(dataDir, DEFINITIONS_FILE);
  const text = JSON.stringify(
    {
      version: DEFINITIONS_VERSION,
      exchanges: defs.exchanges.map((e) => ({ ...e, arguments: encodeTable(e.arguments) })),
      queues: defs.queues.map((q) => ({ ...q, arguments: encodeTable(q.arguments) })),
      bindings: defs.bindings.map((b) => ({ ...b, arguments: encodeTable(b.arguments) })),
      policies: defs.policies.map((p) => ({ ...p, definition: encodeTable(p.definition) })),
      vhosts: defs.vhosts,
      users: defs.users,
      permissions: defs.permissions,
    },
    null,
    1,
  );
  writeFileAtomic(path, text);
}
