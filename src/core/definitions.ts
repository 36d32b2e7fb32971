/**
 * What durable definitions are (exchanges, queues, bindings, policies, vhosts, managed users): their
 * shapes, the changes a declaration records, and their form as JSON documents for the metadata store
 * (storage/meta-store.ts, reached through BrokerCore). How they are stored (the file engine's snapshot and
 * journal: storage/definitions-file.ts) is the engine's.
 *
 * A document is a definition with its field tables encoded with tagged values, so the types JSON lacks
 * (bigint, bytes, timestamps, decimals) round-trip exactly through any engine: `{"$bigint": "…"}`,
 * `{"$bytes": base64}`, `{"$date": ms}`, `{"$decimal": [scale, value]}`, `{"$table": {…}}`; other values as
 * they are. A change is stated as its final value (`put` a definition, `del` one by its key, `set` a whole
 * small list), so applying it twice changes nothing.
 */
import type { BindingDocument, NamedDocument, StoredDefinitionChange, StoredDefinitions } from '../storage/stores.js';
import { AmqpDecimal, type FieldTable, type FieldValue } from './field-table.js';
import type { Policy } from './policy.js';
import type { PermissionDefinition, UserDefinition } from './users.js';

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

// ---- changes and documents -----------------------------------------------------------------------------

/**
 * One change as a caller states it: a definition put or deleted, or a small list (vhosts, managed
 * users with their permissions, policies) to be recorded whole as it now stands in memory.
 */
export type DefinitionChange = Exclude<JournalChange, { readonly set: string }> | { readonly set: 'vhosts' | 'users' | 'policies' };

/** One change with its lists filled in, stated as its final value. Keys: vhost + name; a binding is its own key. */
export type JournalChange =
  | { readonly put: 'queue'; readonly value: QueueDefinition }
  | { readonly del: 'queue'; readonly vhost: string; readonly name: string }
  | { readonly put: 'exchange'; readonly value: ExchangeDefinition }
  | { readonly del: 'exchange'; readonly vhost: string; readonly name: string }
  | { readonly put: 'binding'; readonly value: BindingDefinition }
  | { readonly del: 'binding'; readonly value: BindingDefinition }
  | { readonly set: 'vhosts'; readonly value: string[] }
  | { readonly set: 'users'; readonly users: UserDefinition[]; readonly permissions: PermissionDefinition[] }
  | { readonly set: 'policies'; readonly value: Policy[] };

/** Every definition as the documents the metadata store keeps (field tables tagged). */
export function toStoredDefinitions(defs: Definitions): StoredDefinitions {
  return {
    exchanges: defs.exchanges.map((e) => ({ ...e, arguments: encodeTable(e.arguments) })),
    queues: defs.queues.map((q) => ({ ...q, arguments: encodeTable(q.arguments) })),
    bindings: defs.bindings.map((b) => ({ ...b, arguments: encodeTable(b.arguments) })),
    policies: defs.policies.map((p) => ({ ...p, definition: encodeTable(p.definition) })),
    vhosts: defs.vhosts,
    users: defs.users,
    permissions: defs.permissions,
  };
}

/** The definitions the store gave back (field tables decoded). */
export function fromStoredDefinitions(stored: StoredDefinitions): Definitions {
  return {
    exchanges: stored.exchanges.map((e: any) => ({ ...e, arguments: decodeTable(e.arguments) })),
    queues: stored.queues.map((q: any) => ({ ...q, arguments: decodeTable(q.arguments) })),
    bindings: stored.bindings.map((b: any) => ({ ...b, arguments: decodeTable(b.arguments) })),
    policies: stored.policies.map((p: any) => ({ ...p, definition: decodeTable(p.definition) })),
    vhosts: stored.vhosts,
    users: stored.users as UserDefinition[],
    permissions: stored.permissions as PermissionDefinition[],
  };
}

function namedDocument(d: ExchangeDefinition | QueueDefinition): NamedDocument {
  return { ...d, arguments: encodeTable(d.arguments) };
}

function bindingDocument(b: BindingDefinition): BindingDocument {
  return { ...b, arguments: encodeTable(b.arguments) };
}

/** A change as the metadata store records it (field tables tagged; the rest as stated). */
export function toStoredChange(change: JournalChange): StoredDefinitionChange {
  if ('put' in change) {
    if (change.put === 'binding') return { put: 'binding', value: bindingDocument(change.value) };
    return { put: change.put, value: namedDocument(change.value) };
  }
  if ('del' in change) {
    if (change.del === 'binding') return { del: 'binding', value: bindingDocument(change.value) };
    return change;
  }
  if (change.set === 'policies') return { set: 'policies', value: change.value.map((p) => ({ ...p, definition: encodeTable(p.definition) })) };
  return change;
}
