/**
 * Test support for the Kafka codecs: builds sample values for any message and version by walking the
 * generated schema table (./generated/schemas.ts), and encodes values with a small interpreter over the same
 * table, so the tests can compare the generated straight-line code against an independent reading of the spec.
 * Used only by the *.test.ts files beside it.
 */
import { KafkaWriter } from './codec.js';
import type { FieldSchema, MessageSchema, VersionRange } from './generated/schemas.js';

export type Variant = 'values' | 'nulls' | 'defaults';

export const inRange = (version: number, range: VersionRange | undefined): boolean =>
  range !== undefined && range !== null && version >= range[0] && version <= range[1];

function integerDefault(raw: string | undefined): bigint {
  if (raw === undefined) return 0n;
  const negative = raw.startsWith('-');
  const v = BigInt(negative ? raw.slice(1) : raw);
  return negative ? -v : v;
}

/** The value a decoder fills in for a field absent from a version, read straight from the spec default. */
export function defaultValue(f: FieldSchema): unknown {
  const isNull = f.default === 'null';
  switch (f.type) {
    case 'bool':
      return f.default === 'true';
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return Number(integerDefault(f.default));
    case 'float64':
      return f.default === undefined ? 0 : Number(f.default);
    case 'int64':
      return integerDefault(f.default);
    case 'string':
      return isNull ? null : (f.default ?? '');
    case 'bytes':
      return isNull ? null : Buffer.alloc(0);
    case 'records':
      return null;
    case 'uuid':
      return Buffer.alloc(16);
    case 'struct':
      return defaultStruct(f.fields ?? []);
    default:
      if (f.type.startsWith('[]')) return isNull ? null : [];
      throw new Error(`no default for ${f.type}`);
  }
}

function defaultStruct(fields: readonly FieldSchema[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of fields) o[f.name] = defaultValue(f);
  return o;
}

/** Deterministic, mostly non-default values; `counter` makes every field different. */
class SampleBuilder {
  private counter = 0;

  constructor(
    private readonly version: number,
    private readonly variant: Variant,
  ) {}

  struct(fields: readonly FieldSchema[]): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const f of fields) o[f.name] = this.field(f);
    return o;
  }

  private field(f: FieldSchema): unknown {
    const v = this.version;
    if (!inRange(v, f.versions)) return defaultValue(f);
    const nullableHere = inRange(v, f.nullableVersions);
    if (this.variant === 'nulls' && nullableHere) return null;
    if (this.variant === 'defaults') {
      const d = defaultValue(f);
      if (d !== null || nullableHere) return d;
      return f.type.startsWith('[]') ? [] : f.type === 'string' ? '' : Buffer.alloc(0);
    }
    return this.value(f, f.type);
  }

  private value(f: FieldSchema, type: string): unknown {
    const c = ++this.counter;
    const sign = c % 2 === 0 ? 1 : -1;
    switch (type) {
      case 'bool':
        return f.default !== 'true';
      case 'int8':
        return sign * (2 + (c % 100));
      case 'int16':
        return sign * (2 + ((c * 331) % 30000));
      case 'uint16':
        return 0x8000 + c;
      case 'int32':
        return sign * (1000 + c * 7919);
      case 'uint32':
        return 0x80000000 + c;
      case 'float64':
        return sign * (c + 0.5);
      case 'int64':
        return BigInt(sign) * (BigInt(c) * 0x100000001n + 2n);
      case 'string':
        // some long enough to need a two-byte compact length, all with a multi-byte character
        return c % 5 === 0 ? `long-${c}-${'x'.repeat(150)}-é` : `s${c}-é`;
      case 'bytes':
      case 'records':
        return Buffer.alloc(c % 3 === 0 ? 130 : 1 + (c % 7), c & 0xff);
      case 'uuid': {
        const b = Buffer.alloc(16);
        b.writeUInt32BE(c, 12);
        b[0] = 0xa5;
        return b;
      }
      case 'struct':
        return this.struct(f.fields ?? []);
      case '[]struct':
        return [this.struct(f.fields ?? []), this.struct(f.fields ?? [])];
      default:
        if (type.startsWith('[]')) return [this.value(f, type.slice(2)), this.value(f, type.slice(2))];
        throw new Error(`no sample for ${type}`);
    }
  }
}

/** A sample body for `schema` at `version`: fields absent from the version hold their defaults. */
export function sampleMessage(schema: MessageSchema, version: number, variant: Variant): Record<string, unknown> {
  return new SampleBuilder(version, variant).struct(schema.fields);
}

// ---------------------------------------------------------------------------------------------------------
// An interpreting encoder over the schema table: slow and obvious, for cross-checking generated code
// ---------------------------------------------------------------------------------------------------------

const FIXED: Record<string, number> = { bool: 1, int8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, float64: 8, uuid: 16 };

type Out = number[];

function uvarint(out: Out, n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function fixed(out: Out, type: string, v: unknown): void {
  const width = FIXED[type];
  if (width === undefined) throw new Error(`${type} is not a fixed-width type`);
  const b = Buffer.alloc(width);
  switch (type) {
    case 'bool':
      b[0] = v ? 1 : 0;
      break;
    case 'int8':
      b.writeInt8(v as number);
      break;
    case 'int16':
      b.writeInt16BE(v as number);
      break;
    case 'uint16':
      b.writeUInt16BE(v as number);
      break;
    case 'int32':
      b.writeInt32BE(v as number);
      break;
    case 'uint32':
      b.writeUInt32BE(v as number);
      break;
    case 'int64':
      b.writeBigInt64BE(v as bigint);
      break;
    case 'float64':
      b.writeDoubleBE(v as number);
      break;
    case 'uuid':
      (v as Buffer).copy(b);
      break;
  }
  out.push(...b);
}

/** Length prefix: int16 (strings) / int32 (bytes, arrays), or compact uvarint N + 1; null is -1 / 0. */
function lengthPrefix(out: Out, n: number | null, compact: boolean, wide: boolean): void {
  if (compact) return uvarint(out, n === null ? 0 : n + 1);
  const b = Buffer.alloc(wide ? 4 : 2);
  if (wide) b.writeInt32BE(n ?? -1);
  else b.writeInt16BE(n ?? -1);
  out.push(...b);
}

function isDefault(f: FieldSchema, v: unknown): boolean {
  const d = defaultValue(f);
  if (typeof d === 'object' && d !== null && !Buffer.isBuffer(d) && !Array.isArray(d)) {
    return (f.fields ?? []).every((sub) => isDefault(sub, (v as Record<string, unknown>)[sub.name]));
  }
  if (Buffer.isBuffer(d)) return Buffer.isBuffer(v) && d.equals(v);
  if (Array.isArray(d)) return Array.isArray(v) && v.length === 0;
  return v === d;
}

class Interpreter {
  constructor(
    private readonly schema: MessageSchema,
    private readonly version: number,
  ) {}

  private get flexible(): boolean {
    return inRange(this.version, this.schema.flexibleVersions);
  }

  struct(out: Out, fields: readonly FieldSchema[], value: Record<string, unknown>): void {
    const v = this.version;
    const tagged: FieldSchema[] = [];
    for (const f of fields) {
      if (!inRange(v, f.versions)) continue;
      if (inRange(v, f.taggedVersions)) tagged.push(f);
      else this.value(out, f, f.type, value[f.name]);
    }
    if (!this.flexible) return;
    const written = tagged.filter((f) => !isDefault(f, value[f.name])).sort((a, b) => (a.tag ?? 0) - (b.tag ?? 0));
    uvarint(out, written.length);
    for (const f of written) {
      const data: Out = [];
      this.value(data, f, f.type, value[f.name]);
      uvarint(out, f.tag ?? 0);
      uvarint(out, data.length);
      out.push(...data);
    }
  }

  private value(out: Out, f: FieldSchema, type: string, v: unknown): void {
    const compact = this.flexible && (f.flexibleVersions === undefined || inRange(this.version, f.flexibleVersions));
    if (type in FIXED) return fixed(out, type, v);
    if (v === null) {
      if (!inRange(this.version, f.nullableVersions)) throw new Error(`${f.name} null in v${this.version}`);
      return lengthPrefix(out, null, compact, type !== 'string');
    }
    if (type === 'string') {
      const b = Buffer.from(v as string, 'utf8');
      lengthPrefix(out, b.length, compact, false);
      out.push(...b);
    } else if (type === 'bytes' || type === 'records') {
      lengthPrefix(out, (v as Buffer).length, compact, true);
      out.push(...(v as Buffer));
    } else if (type === 'struct') {
      this.struct(out, f.fields ?? [], v as Record<string, unknown>);
    } else if (type.startsWith('[]')) {
      const items = v as unknown[];
      lengthPrefix(out, items.length, compact, true);
      const elem = type.slice(2);
      for (const item of items) {
        if (elem === 'struct') this.struct(out, f.fields ?? [], item as Record<string, unknown>);
        else this.value(out, { ...f, nullableVersions: null }, elem, item);
      }
    } else {
      throw new Error(`cannot interpret ${type}`);
    }
  }
}

/** Encodes `value` by walking the schema table: an independent reading of the spec. */
export function interpretEncode(schema: MessageSchema, version: number, value: Record<string, unknown>): Buffer {
  const out: Out = [];
  new Interpreter(schema, version).struct(out, schema.fields, value);
  return Buffer.from(out);
}

/** Encodes with a generated size/encode pair through a presized writer. */
export function encodeWith<T>(size: (version: number, v: T) => number, encode: (w: KafkaWriter, version: number, v: T) => void, version: number, v: T): Buffer {
  const w = new KafkaWriter(size(version, v));
  encode(w, version, v);
  return w.finish();
}
