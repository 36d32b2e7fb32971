#!/usr/bin/env node
// Generates the Kafka request/response codecs from Apache Kafka's JSON message definitions:
//
//   src/protocol/kafka/generated/messages.ts   one interface per message and nested struct, a straight-line
//                                              decode / size / encode function per struct that switches on
//                                              the version, the per-API version constants and dispatch tables
//   src/protocol/kafka/generated/schemas.ts    the same definitions as plain data (no prose), for tests and
//                                              tools that walk messages generically
//
//   node scripts/gen-kafka.mjs            reads ../shared/specs/kafka-messages/ relative to the repo root
//   POSTBOX_SPECS_DIR=/x node ...         reads /x/kafka-messages/ instead
//
// The output is committed; rerun this (npm run gen:kafka) after changing the spec or this script, never edit
// the output. Primitive encodings live in src/protocol/kafka/codec.ts.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const specsDir = join(process.env.POSTBOX_SPECS_DIR ?? join(repoRoot, '..', 'shared', 'specs'), 'kafka-messages');
// POSTBOX_GEN_OUT_DIR writes elsewhere (the test that checks the committed output is what this makes)
const outDir = process.env.POSTBOX_GEN_OUT_DIR ?? join(repoRoot, 'src', 'protocol', 'kafka', 'generated');

/** The APIs the broker serves: a request and a response codec each. Keys are checked against the specs. */
const SERVED_APIS = [
  ['Produce', 0],
  ['Fetch', 1],
  ['ListOffsets', 2],
  ['Metadata', 3],
  ['OffsetCommit', 8],
  ['OffsetFetch', 9],
  ['FindCoordinator', 10],
  ['JoinGroup', 11],
  ['Heartbeat', 12],
  ['LeaveGroup', 13],
  ['SyncGroup', 14],
  ['DescribeGroups', 15],
  ['ListGroups', 16],
  ['SaslHandshake', 17],
  ['ApiVersions', 18],
  ['CreateTopics', 19],
  ['DeleteTopics', 20],
  ['InitProducerId', 22],
  ['DescribeConfigs', 32],
  ['AlterConfigs', 33],
  ['SaslAuthenticate', 36],
  ['CreatePartitions', 37],
  ['DeleteGroups', 42],
  ['IncrementalAlterConfigs', 44],
];

/** Headers and data types (embedded in other messages' bytes) generated alongside the APIs. */
const EXTRA_MESSAGES = ['RequestHeader', 'ResponseHeader', 'ConsumerProtocolSubscription', 'ConsumerProtocolAssignment'];

/** Highest version any range may name; "N+" means N up to this. */
const MAX_VERSION = 0x7fff;

// ---------------------------------------------------------------------------------------------------------
// Reading the specs
// ---------------------------------------------------------------------------------------------------------

function readSpec(name) {
  const path = join(specsDir, `${name}.json`);
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    console.error(`gen-kafka: cannot read ${path} (set POSTBOX_SPECS_DIR?): ${e.message}`);
    process.exit(1);
  }
  // Kafka's JSON allows whole-line // comments; nothing else is non-standard.
  const json = text
    .split('\n')
    .filter((line) => !/^\s*\/\//.test(line))
    .join('\n');
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new Error(`${path}: ${e.message}`);
  }
}

/** "3+", "0-4", "7", "none" → [lo, hi] or null (no versions). */
function parseRange(text, what) {
  if (text === undefined) return undefined;
  const s = String(text).trim();
  if (s === 'none') return null;
  let m;
  if ((m = /^(\d+)\+$/.exec(s))) return [Number(m[1]), MAX_VERSION];
  if ((m = /^(\d+)-(\d+)$/.exec(s))) return [Number(m[1]), Number(m[2])];
  if ((m = /^(\d+)$/.exec(s))) return [Number(m[1]), Number(m[1])];
  throw new Error(`${what}: bad version range '${text}'`);
}

const intersect = (a, b) => {
  if (a === null || b === null) return null;
  const lo = Math.max(a[0], b[0]);
  const hi = Math.min(a[1], b[1]);
  return lo <= hi ? [lo, hi] : null;
};

/** a minus b, which must leave one contiguous range (or none). */
function subtract(a, b, what) {
  if (a === null) return null;
  const common = intersect(a, b);
  if (common === null) return a;
  const below = common[0] > a[0] ? [a[0], common[0] - 1] : null;
  const above = common[1] < a[1] ? [common[1] + 1, a[1]] : null;
  if (below !== null && above !== null) throw new Error(`${what}: tagged versions split the field's versions in two`);
  return below ?? above;
}

/**
 * A TS condition that `version` lies in `range`, given it is known to lie in `within`: 'true', 'false' or an
 * expression over `version`.
 */
function cond(range, within) {
  const r = intersect(range, within);
  if (r === null) return 'false';
  const parts = [];
  if (r[0] > within[0]) parts.push(`version >= ${r[0]}`);
  if (r[1] < within[1]) parts.push(r[0] === r[1] ? `version === ${r[0]}` : `version <= ${r[1]}`);
  if (parts.length === 2 && r[0] === r[1]) return `version === ${r[0]}`;
  return parts.length === 0 ? 'true' : parts.join(' && ');
}

const and = (a, b) => (a === 'false' || b === 'false' ? 'false' : a === 'true' ? b : b === 'true' ? a : `${a} && ${b}`);

// ---------------------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------------------

const PRIMITIVES = new Set(['bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64', 'string', 'bytes', 'records', 'uuid']);
const FIXED_WIDTH = { bool: 1, int8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, float64: 8, uuid: 16 };
const INT_RANGE = {
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

const camel = (name) => name[0].toLowerCase() + name.slice(1);
const usedTypeNames = new Map(); // TS interface name → owner message

/** Parses one spec file into { name, kind, apiKey, valid, flexible, root, structs } (structs in emit order). */
function buildMessage(spec) {
  const name = spec.name;
  const valid = parseRange(spec.validVersions, name);
  const flexible = parseRange(spec.flexibleVersions, name) ?? null;
  const base = name.replace(/(Request|Response)$/, '');
  const structs = [];
  const common = new Map((spec.commonStructs ?? []).map((s) => [s.name, s]));
  const built = new Map(); // spec struct name → struct (commonStructs are built once)

  function typeName(specName) {
    let ts = specName.startsWith(base) ? specName : name + specName;
    if (usedTypeNames.has(ts) && usedTypeNames.get(ts) !== name) ts = name + specName;
    if (usedTypeNames.has(ts) && usedTypeNames.get(ts) !== name) throw new Error(`${name}: type name ${ts} collides`);
    usedTypeNames.set(ts, name);
    return ts;
  }

  function buildStruct(specName, specFields, within, tsName) {
    const struct = { tsName, specName, valid: within, fields: [] };
    struct.fields = specFields.map((f) => buildField(f, struct));
    const tags = struct.fields.filter((f) => f.tag !== undefined);
    const seen = new Map();
    for (const f of tags) {
      const other = seen.get(f.tag);
      if (other && intersect(other.tagged, f.tagged)) throw new Error(`${name}.${specName}: tag ${f.tag} used twice`);
      seen.set(f.tag, f);
    }
    structs.push(struct);
    return struct;
  }

  function buildField(f, owner) {
    const what = `${name}.${owner.specName}.${f.name}`;
    const versions = parseRange(f.versions, what);
    if (versions === undefined) throw new Error(`${what}: no versions`);
    const present = intersect(versions, owner.valid);
    const nullable = intersect(parseRange(f.nullableVersions, what) ?? null, versions);
    const tagged = f.tag === undefined ? null : intersect(parseRange(f.taggedVersions, what) ?? versions, versions);
    if (
      f.tag !== undefined &&
      (tagged === null || intersect(tagged, flexible) === null || intersect(tagged, flexible)[0] !== tagged[0] || intersect(tagged, flexible)[1] !== tagged[1])
    ) {
      throw new Error(`${what}: tagged versions must lie inside the flexible versions`);
    }
    const field = {
      specName: f.name,
      prop: camel(f.name),
      what,
      versions,
      present, // versions intersected with where the owner exists; null when never
      regular: subtract(versions, tagged, what), // versions it is a positional field in
      tagged, // versions it is a tagged field in, or null
      tag: f.tag,
      nullable, // versions a null may be written in, or null
      fieldFlexible: parseRange(f.flexibleVersions, what), // an override of the message's flexible versions
      rawDefault: f.default,
      about: f.about,
      type: null,
    };
    field.type = buildType(f, field, present ?? versions);
    if (field.type.kind === 'struct' && nullable !== null) throw new Error(`${what}: nullable struct fields are not supported`);
    if (field.type.kind === 'prim' && nullable !== null && !['string', 'bytes', 'records'].includes(field.type.prim)) {
      throw new Error(`${what}: ${field.type.prim} cannot be nullable`);
    }
    field.defaultExpr = defaultExpr(field);
    return field;
  }

  function buildType(f, field, within) {
    const t = f.type;
    const isArray = t.startsWith('[]');
    const inner = isArray ? t.slice(2) : t;
    let elem;
    if (PRIMITIVES.has(inner)) {
      if (isArray && (inner === 'records' || inner === 'bytes')) throw new Error(`${field.what}: arrays of ${inner} are not supported`);
      elem = { kind: 'prim', prim: inner };
    } else {
      if (built.has(inner)) {
        elem = { kind: 'struct', struct: built.get(inner) };
      } else if (common.has(inner)) {
        const cs = common.get(inner);
        const s = buildStruct(inner, cs.fields, parseRange(cs.versions ?? spec.validVersions, inner) ?? valid, typeName(inner));
        built.set(inner, s);
        elem = { kind: 'struct', struct: s };
      } else {
        if (!f.fields) throw new Error(`${field.what}: unknown type ${t}`);
        const s = buildStruct(inner, f.fields, within, typeName(inner));
        built.set(inner, s);
        elem = { kind: 'struct', struct: s };
      }
    }
    return isArray ? { kind: 'array', elem } : elem;
  }

  const root = buildStruct(name, spec.fields, valid, name);
  if (usedTypeNames.has(name) && usedTypeNames.get(name) !== name) throw new Error(`${name} collides`);
  usedTypeNames.set(name, name);
  return { name, base, kind: spec.type, apiKey: spec.apiKey, valid, flexible, root, structs, spec };
}

// ---------------------------------------------------------------------------------------------------------
// Types and defaults
// ---------------------------------------------------------------------------------------------------------

const TS_PRIM = {
  bool: 'boolean',
  int8: 'number',
  int16: 'number',
  uint16: 'number',
  int32: 'number',
  uint32: 'number',
  int64: 'bigint',
  float64: 'number',
  string: 'string',
  bytes: 'Buffer',
  records: 'Buffer',
  uuid: 'Buffer',
};

function tsType(field) {
  const t = field.type;
  const orNull = field.nullable !== null || (t.kind === 'prim' && t.prim === 'records') ? ' | null' : '';
  if (t.kind === 'prim') return TS_PRIM[t.prim] + orNull;
  if (t.kind === 'struct') return t.struct.tsName;
  const e = t.elem.kind === 'prim' ? TS_PRIM[t.elem.prim] : t.elem.struct.tsName;
  return `${e}[]${orNull}`;
}

/** Parses an integer default like "-1", "0x7fffffff" or -1. */
function parseInteger(raw, what) {
  const s = String(raw).trim();
  const negative = s.startsWith('-');
  const digits = negative ? s.slice(1) : s;
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(digits)) throw new Error(`${what}: bad integer default '${raw}'`);
  const big = BigInt(digits);
  return negative ? -big : big;
}

function defaultExpr(field) {
  const t = field.type;
  const raw = field.rawDefault;
  const isNullDefault = raw === 'null' || raw === null;
  if (isNullDefault && field.nullable === null && !(t.kind === 'prim' && t.prim === 'records')) {
    throw new Error(`${field.what}: default null on a field that is never nullable`);
  }
  if (t.kind === 'array') {
    if (raw !== undefined && raw !== '' && !isNullDefault) throw new Error(`${field.what}: arrays default to empty or null`);
    return isNullDefault ? 'null' : '[]';
  }
  if (t.kind === 'struct') {
    if (raw !== undefined) throw new Error(`${field.what}: struct fields cannot have a default`);
    return `default${t.struct.tsName}()`;
  }
  switch (t.prim) {
    case 'bool':
      if (raw === undefined) return 'false';
      if (String(raw) !== 'true' && String(raw) !== 'false') throw new Error(`${field.what}: bad bool default '${raw}'`);
      return String(raw);
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32': {
      if (raw === undefined) return '0';
      const v = parseInteger(raw, field.what);
      const [lo, hi] = INT_RANGE[t.prim];
      if (v < BigInt(lo) || v > BigInt(hi)) throw new Error(`${field.what}: default ${raw} out of ${t.prim} range`);
      return String(v);
    }
    case 'int64': {
      if (raw === undefined) return '0n';
      const v = parseInteger(raw, field.what);
      if (v < -(1n << 63n) || v >= 1n << 63n) throw new Error(`${field.what}: default ${raw} out of int64 range`);
      return `${v}n`;
    }
    case 'float64': {
      if (raw === undefined) return '0';
      const v = Number(raw);
      if (Number.isNaN(v)) throw new Error(`${field.what}: bad float64 default '${raw}'`);
      return String(v);
    }
    case 'string':
      return isNullDefault ? 'null' : JSON.stringify(raw === undefined ? '' : String(raw));
    case 'bytes':
      if (raw !== undefined && raw !== '' && !isNullDefault) throw new Error(`${field.what}: bytes default to empty or null`);
      return isNullDefault ? 'null' : 'EMPTY_BYTES';
    case 'records':
      return 'null';
    case 'uuid':
      if (raw !== undefined && raw !== '' && raw !== 'AAAAAAAAAAAAAAAAAAAAAA') throw new Error(`${field.what}: uuid defaults to zero`);
      return 'zeroUuid()';
    default:
      throw new Error(`${field.what}: no default for ${t.prim}`);
  }
}

/** A TS condition that `expr` (of `field`'s type) differs from the field's default: when a tagged field is written. */
function notDefault(field, expr) {
  return `!(${isDefault(field, expr)})`;
}

function isDefault(field, expr) {
  const t = field.type;
  const d = field.defaultExpr;
  const lengthZero = field.nullable === null ? `${expr}.length === 0` : `${expr} !== null && ${expr}.length === 0`;
  if (t.kind === 'array') return d === 'null' ? `${expr} === null` : lengthZero;
  if (t.kind === 'struct') {
    const parts = t.struct.fields.map((f) => isDefault(f, `${expr}.${f.prop}`));
    return parts.length === 0 ? 'true' : parts.map((p) => `(${p})`).join(' && ');
  }
  switch (t.prim) {
    case 'bytes':
      return d === 'null' ? `${expr} === null` : lengthZero;
    case 'records':
      return `${expr} === null`;
    case 'uuid':
      return `isZeroUuid(${expr})`;
    default:
      return `${expr} === ${d}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Code fragments
// ---------------------------------------------------------------------------------------------------------

const indent = (lines, n) => lines.map((l) => (l === '' ? '' : ' '.repeat(n) + l));
const cap = (s) => s[0].toUpperCase() + s.slice(1);

/** Picks between two fragments on a condition known at generation time when possible. */
const pick = (c, yes, no) => (c === 'true' ? yes : c === 'false' ? no : `(${c} ? ${yes} : ${no})`);

/**
 * Per-field context inside a struct function: where it is present, whether compact / nullable there
 * (each 'true', 'false' or a version expression).
 */
function fieldContext(msg, struct, field, tagged) {
  const within = tagged ? field.tagged : field.regular;
  const scope = intersect(within, struct.valid);
  const flex = field.fieldFlexible !== undefined ? intersect(msg.flexible, field.fieldFlexible) : msg.flexible;
  return {
    compact: scope === null ? 'false' : cond(flex, scope),
    nullable: scope === null ? 'false' : cond(field.nullable, scope),
  };
}

const READ_FIXED = {
  bool: 'r.bool()',
  int8: 'r.int8()',
  int16: 'r.int16()',
  uint16: 'r.uint16()',
  int32: 'r.int32()',
  uint32: 'r.uint32()',
  int64: 'r.int64()',
  float64: 'r.float64()',
  uuid: 'r.uuid()',
};

/** Expression reading one primitive. */
function readPrim(prim, ctx) {
  if (prim in READ_FIXED) return READ_FIXED[prim];
  const kind = prim === 'string' ? 'String' : 'Bytes';
  const plain = (nullable) => (nullable ? `r.nullable${kind}()` : `r.${camel(kind)}()`);
  const compact = (nullable) => (nullable ? `r.compactNullable${kind}()` : `r.compact${kind}()`);
  return pick(ctx.compact, pick(ctx.nullable, compact(true), compact(false)), pick(ctx.nullable, plain(true), plain(false)));
}

/** Lines assigning the decoded value of `field` to `target`. */
function readLines(field, target, ctx) {
  const t = field.type;
  if (t.kind === 'prim') return [`${target} = ${readPrim(t.prim, ctx)};`];
  if (t.kind === 'struct') return [`${target} = decode${t.struct.tsName}(r, version);`];
  const length = pick(
    ctx.compact,
    pick(ctx.nullable, 'r.compactNullableArrayLength()', 'r.compactArrayLength()'),
    pick(ctx.nullable, 'r.nullableArrayLength()', 'r.arrayLength()'),
  );
  const elemType = t.elem.kind === 'prim' ? TS_PRIM[t.elem.prim] : t.elem.struct.tsName;
  const elem = t.elem.kind === 'prim' ? readPrim(t.elem.prim, { compact: ctx.compact, nullable: 'false' }) : `decode${t.elem.struct.tsName}(r, version)`;
  const fill = [`const a: ${elemType}[] = [];`, `for (let i = 0; i < n; i++) a.push(${elem});`, `${target} = a;`];
  if (ctx.nullable === 'false') return ['{', `  const n = ${length};`, ...indent(fill, 2), '}'];
  return ['{', `  const n = ${length};`, '  if (n < 0) {', `    ${target} = null;`, '  } else {', ...indent(fill, 4), '  }', '}'];
}

const WRITE_FIXED = {
  bool: 'w.bool',
  int8: 'w.int8',
  int16: 'w.int16',
  uint16: 'w.uint16',
  int32: 'w.int32',
  uint32: 'w.uint32',
  int64: 'w.int64',
  float64: 'w.float64',
  uuid: 'w.uuid',
};

/** Lines writing the null marker of a string / bytes / array. */
function writeNullLines(prim, ctx) {
  const plain = prim === 'string' ? 'w.int16(-1);' : 'w.int32(-1);';
  if (ctx.compact === 'true') return ['w.uvarint(0);'];
  if (ctx.compact === 'false') return [plain];
  return [`if (${ctx.compact}) w.uvarint(0);`, `else ${plain}`];
}

/** Lines writing a non-null primitive `expr`. */
function writePrimLines(prim, expr, ctx) {
  if (prim in WRITE_FIXED) return [`${WRITE_FIXED[prim]}(${expr});`];
  const kind = prim === 'string' ? 'String' : 'Bytes';
  const compact = `w.compact${kind}(${expr});`;
  const plain = `w.${camel(kind)}(${expr});`;
  if (ctx.compact === 'true') return [compact];
  if (ctx.compact === 'false') return [plain];
  return [`if (${ctx.compact}) ${compact}`, `else ${plain}`];
}

/** Lines writing `expr`, the value of `field`. */
function writeLines(field, expr, ctx) {
  const t = field.type;
  const canBeNull = field.nullable !== null || (t.kind === 'prim' && t.prim === 'records');
  if (t.kind === 'struct') return [`encode${t.struct.tsName}(w, version, ${expr});`];
  let nonNull;
  if (t.kind === 'prim') {
    nonNull = writePrimLines(t.prim, 'x', ctx);
  } else {
    const len =
      ctx.compact === 'true'
        ? ['w.compactArrayLength(x.length);']
        : ctx.compact === 'false'
          ? ['w.arrayLength(x.length);']
          : [`if (${ctx.compact}) w.compactArrayLength(x.length);`, 'else w.arrayLength(x.length);'];
    const elem = t.elem.kind === 'prim' ? writePrimLines(t.elem.prim, 'item', ctx) : [`encode${t.elem.struct.tsName}(w, version, item);`];
    nonNull = [...len, ...(elem.length === 1 ? [`for (const item of x) ${elem[0]}`] : ['for (const item of x) {', ...indent(elem, 2), '}'])];
  }
  if (!canBeNull) {
    if (t.kind === 'prim') return writePrimLines(t.prim, expr, ctx);
    return ['{', `  const x = ${expr};`, ...indent(nonNull, 2), '}'];
  }
  const nullMarker = t.kind === 'array' ? 'bytes' : t.prim;
  const onNull =
    ctx.nullable === 'false'
      ? [`throw nonNullable('${field.what}', version);`]
      : ctx.nullable === 'true'
        ? writeNullLines(nullMarker, ctx)
        : [`if (!(${ctx.nullable})) throw nonNullable('${field.what}', version);`, ...writeNullLines(nullMarker, ctx)];
  return ['{', `  const x = ${expr};`, '  if (x === null) {', ...indent(onNull, 4), '  } else {', ...indent(nonNull, 4), '  }', '}'];
}

/** Lines adding the encoded size of `expr` (the value of `field`) to `acc`. */
function sizeLines(field, expr, acc, ctx) {
  const t = field.type;
  const c = ctx.compact;
  if (t.kind === 'struct') return [`${acc} += size${t.struct.tsName}(version, ${expr});`];
  if (t.kind === 'prim') {
    if (t.prim in FIXED_WIDTH) return [`${acc} += ${FIXED_WIDTH[t.prim]};`];
    if (t.prim === 'string') return [`${acc} += sizeString(${expr}, ${c});`];
    return [`${acc} += sizeBytes(${expr}, ${c});`];
  }
  const canBeNull = field.nullable !== null;
  const e = t.elem;
  let body;
  if (e.kind === 'prim' && e.prim in FIXED_WIDTH) {
    body = [`${acc} += sizeArrayLength(x.length, ${c}) + x.length * ${FIXED_WIDTH[e.prim]};`];
  } else {
    const one = e.kind === 'prim' ? `sizeString(item, ${c})` : `size${e.struct.tsName}(version, item)`;
    body = [`${acc} += sizeArrayLength(x.length, ${c});`, `for (const item of x) ${acc} += ${one};`];
  }
  if (!canBeNull) return ['{', `  const x = ${expr};`, ...indent(body, 2), '}'];
  return ['{', `  const x = ${expr};`, `  if (x === null) ${acc} += sizeArrayLength(-1, ${c});`, '  else {', ...indent(body, 4), '  }', '}'];
}

/** True when `lines` are one `{ ... }` block (its first brace closes on the last line). */
function isOneBlock(lines) {
  if (lines[0] !== '{' || lines[lines.length - 1] !== '}') return false;
  let depth = 0;
  for (let i = 0; i < lines.length; i++) {
    for (const ch of lines[i]) depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
    if (depth === 0 && i < lines.length - 1) return false;
  }
  return true;
}

/** Lines guarded by a condition, unwrapped when it is always true. */
function guarded(c, lines) {
  if (c === 'false') return [];
  if (c === 'true') return lines;
  if (lines.length === 1) return [`if (${c}) ${lines[0]}`];
  if (isOneBlock(lines)) return [`if (${c}) {`, ...lines.slice(1)];
  return [`if (${c}) {`, ...indent(lines, 2), '}'];
}

/** `{ a, b }` on one line when short, else one property a line. */
function objectLiteral(before, props, after) {
  const line = `${before}{ ${props.join(', ')} }${after}`;
  if (line.length <= 110) return [line];
  return [`${before}{`, ...props.map((p) => `  ${p},`), `}${after}`];
}

const sizeUvarintConst = (n) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

// ---------------------------------------------------------------------------------------------------------
// One struct: interface, default, decode, size, encode
// ---------------------------------------------------------------------------------------------------------

function rangeText(r) {
  if (r === null) return 'none';
  if (r[1] === MAX_VERSION) return `${r[0]}+`;
  return r[0] === r[1] ? `${r[0]}` : `${r[0]}-${r[1]}`;
}

function emitStruct(msg, struct, isRoot, out, needDefault) {
  const name = struct.tsName;
  const exported = isRoot ? 'export ' : '';
  const flexible = cond(msg.flexible, struct.valid);
  // inside the tagged-field section the version is known to be flexible
  const flexScope = intersect(msg.flexible, struct.valid);
  const taggedCond = (f) => (flexScope === null ? 'false' : cond(f.tagged, flexScope));
  const taggedFields = struct.fields.filter((f) => f.tagged !== null && intersect(f.tagged, struct.valid) !== null).sort((a, b) => a.tag - b.tag);
  const presentFields = struct.fields;

  // interface
  out.push(
    `/** ${isRoot ? `${msg.name}, versions ${rangeText(msg.valid)}` : `${struct.specName} (in ${msg.name})`}${msg.flexible ? `, flexible ${rangeText(msg.flexible)}` : ''}. */`,
  );
  out.push(`export interface ${name} {`);
  for (const f of presentFields) {
    const notes = [`versions ${rangeText(f.versions)}`];
    if (f.nullable) notes.push(`nullable ${rangeText(f.nullable)}`);
    if (f.tagged) notes.push(`tag ${f.tag} in ${rangeText(f.tagged)}`);
    if (f.rawDefault !== undefined) notes.push(`default ${f.rawDefault}`);
    const about = f.about ? `${f.about.replace(/\*\//g, '* /').replace(/\s+/g, ' ').trim()} ` : '';
    out.push(`  /** ${about}(${notes.join('; ')}) */`);
    out.push(`  ${f.prop}: ${tsType(f)};`);
  }
  out.push('}', '');

  if (needDefault.has(struct)) {
    out.push(`/** ${name} with every field at its default. */`);
    out.push(`export function default${name}(): ${name} {`);
    out.push(
      ...indent(
        objectLiteral(
          'return ',
          struct.fields.map((f) => `${f.prop}: ${f.defaultExpr}`),
          ';',
        ),
        2,
      ),
    );
    out.push('}', '');
  }

  // decode
  const body = [];
  for (const f of presentFields) {
    const regular = cond(f.regular, struct.valid);
    const taggedHere = f.tagged !== null ? cond(f.tagged, struct.valid) : 'false';
    if (regular === 'false' && taggedHere === 'false') continue; // never on the wire here: the default goes in the literal
    if (regular === 'true') {
      const lines = readLines(f, `$${f.prop}`, fieldContext(msg, struct, f, false));
      if (lines.length === 1) body.push(`let ${lines[0].slice(0, -1).replace(' = ', `: ${tsType(f)} = `)};`);
      else body.push(`let $${f.prop}: ${tsType(f)};`, ...lines);
    } else {
      body.push(`let $${f.prop}: ${tsType(f)} = ${f.defaultExpr};`);
      body.push(...guarded(regular, readLines(f, `$${f.prop}`, fieldContext(msg, struct, f, false))));
    }
  }
  if (flexible !== 'false') {
    let section;
    if (taggedFields.length === 0) {
      section = ['r.skipTaggedFields();'];
    } else {
      const byTag = new Map();
      for (const f of taggedFields) byTag.set(f.tag, [...(byTag.get(f.tag) ?? []), f]);
      const cases = [];
      for (const [tag, fields] of byTag) {
        cases.push(`case ${tag}: {`);
        for (const f of fields) {
          const c = taggedCond(f);
          const lines = [...readLines(f, `$${f.prop}`, fieldContext(msg, struct, f, true)), 'r.endTaggedField(end, tag);', 'break;'];
          if (c === 'true') cases.push(...indent(lines, 2));
          else cases.push(`  if (${c}) {`, ...indent(lines, 4), '  }');
        }
        const allAlways = fields.some((f) => taggedCond(f) === 'true');
        if (!allAlways) cases.push('  r.offset = end;', '  break;');
        cases.push('}');
      }
      cases.push('default:', '  r.offset = end;');
      section = [
        'const count = r.taggedFieldCount();',
        'for (let t = 0; t < count; t++) {',
        '  const tag = r.uvarint();',
        '  const end = r.taggedFieldEnd(tag);',
        '  switch (tag) {',
        ...indent(cases, 4),
        '  }',
        '}',
      ];
    }
    body.push(...guarded(flexible, section));
  }
  const literal = presentFields.map((f) => {
    const regular = cond(f.regular, struct.valid);
    const taggedHere = f.tagged !== null ? cond(f.tagged, struct.valid) : 'false';
    return regular === 'false' && taggedHere === 'false' ? `${f.prop}: ${f.defaultExpr}` : `${f.prop}: $${f.prop}`;
  });
  body.push(...objectLiteral('return ', literal, ';'));
  out.push(`${exported}function decode${name}(r: KafkaReader, version: number): ${name} {`, ...indent(body, 2), '}', '');

  // size
  const size = ['let s = 0;'];
  for (const f of presentFields) {
    const regular = cond(f.regular, struct.valid);
    size.push(...guarded(regular, sizeLines(f, `v.${f.prop}`, 's', fieldContext(msg, struct, f, false))));
  }
  const writeTagged = (f) => and(taggedCond(f), notDefault(f, `v.${f.prop}`));
  if (flexible !== 'false') {
    const section = [];
    if (taggedFields.length === 0) {
      section.push('s += 1;');
    } else {
      section.push('let tags = 0;');
      for (const f of taggedFields) {
        const ctx = fieldContext(msg, struct, f, true);
        section.push(
          `if (${writeTagged(f)}) {`,
          '  tags++;',
          '  let t = 0;',
          ...indent(sizeLines(f, `v.${f.prop}`, 't', ctx), 2),
          `  s += ${sizeUvarintConst(f.tag)} + sizeUvarint(t) + t;`,
          '}',
        );
      }
      section.push('s += sizeUvarint(tags);');
    }
    size.push(...guarded(flexible, section));
  }
  size.push('return s;');
  out.push(`${exported}function size${name}(version: number, v: ${name}): number {`, ...indent(size, 2), '}', '');

  // encode
  const enc = [];
  for (const f of presentFields) {
    const regular = cond(f.regular, struct.valid);
    enc.push(...guarded(regular, writeLines(f, `v.${f.prop}`, fieldContext(msg, struct, f, false))));
  }
  if (flexible !== 'false') {
    const section = [];
    if (taggedFields.length === 0) {
      section.push('w.uvarint(0);');
    } else {
      section.push('let tags = 0;');
      for (const f of taggedFields) section.push(`if (${writeTagged(f)}) tags++;`);
      section.push('w.uvarint(tags);');
      for (const f of taggedFields) {
        const ctx = fieldContext(msg, struct, f, true);
        section.push(
          `if (${writeTagged(f)}) {`,
          '  let t = 0;',
          ...indent(sizeLines(f, `v.${f.prop}`, 't', ctx), 2),
          `  w.uvarint(${f.tag});`,
          '  w.uvarint(t);',
          ...indent(writeLines(f, `v.${f.prop}`, ctx), 2),
          '}',
        );
      }
    }
    enc.push(...guarded(flexible, section));
  }
  out.push(`${exported}function encode${name}(w: KafkaWriter, version: number, v: ${name}): void {`, ...indent(enc, 2), '}', '');
}

// ---------------------------------------------------------------------------------------------------------
// Schemas as data
// ---------------------------------------------------------------------------------------------------------

/** Lines of one field's schema entry, nested fields one per line below it. */
function schemaField(f, pad) {
  const t = f.type;
  const o = [`name: '${f.prop}'`];
  let type;
  if (t.kind === 'prim') type = t.prim;
  else if (t.kind === 'struct') type = 'struct';
  else type = t.elem.kind === 'prim' ? `[]${t.elem.prim}` : '[]struct';
  o.push(`type: '${type}'`, `versions: ${JSON.stringify(f.versions)}`, `nullableVersions: ${JSON.stringify(f.nullable)}`);
  if (f.tagged !== null) o.push(`tag: ${f.tag}`, `taggedVersions: ${JSON.stringify(f.tagged)}`);
  if (f.fieldFlexible !== undefined) o.push(`flexibleVersions: ${JSON.stringify(f.fieldFlexible)}`);
  if (f.rawDefault !== undefined) o.push(`default: ${JSON.stringify(String(f.rawDefault))}`);
  const struct = t.kind === 'struct' ? t.struct : t.kind === 'array' && t.elem.kind === 'struct' ? t.elem.struct : null;
  if (!struct) return [`${pad}{ ${o.join(', ')} },`];
  return [`${pad}{ ${o.join(', ')}, fields: [`, ...schemaFields(struct.fields, pad + '  '), `${pad}] },`];
}

const schemaFields = (fields, pad) => fields.flatMap((f) => schemaField(f, pad));

// ---------------------------------------------------------------------------------------------------------
// Emit
// ---------------------------------------------------------------------------------------------------------

const apis = SERVED_APIS.map(([api, key]) => {
  const request = buildMessage(readSpec(`${api}Request`));
  const response = buildMessage(readSpec(`${api}Response`));
  for (const m of [request, response]) {
    if (m.apiKey !== key) throw new Error(`${m.name}: apiKey ${m.apiKey}, expected ${key}`);
  }
  if (rangeText(request.valid) !== rangeText(response.valid) || rangeText(request.flexible) !== rangeText(response.flexible)) {
    throw new Error(`${api}: request and response disagree on valid or flexible versions`);
  }
  return { api, key, request, response };
}).sort((a, b) => a.key - b.key);
const extras = EXTRA_MESSAGES.map((n) => buildMessage(readSpec(n)));
const messages = [...extras, ...apis.flatMap((a) => [a.request, a.response])];

const out = [];
out.push(
  '// generated by scripts/gen-kafka.mjs — do not edit; regenerate with `npm run gen:kafka`',
  '// source: Apache Kafka message definitions (kafka-messages/*.json)',
  '//',
  '// For every message and nested struct: an interface, and decode / size / encode functions that take the',
  "// message version and honour each field's versions, nullable versions, tagged versions and the flexible",
  '// versions (compact lengths and a tagged-field section). A field absent from a version is skipped when',
  '// encoding and holds its default when decoding. Byte layouts of the primitives: see ../codec.ts.',
  '//',
  '// Request and response headers are framed by ../envelope.ts.',
  '',
  '%IMPORTS%',
  '',
  '/** Versions of one API this broker can decode and answer; `flexibleFrom` is null when no version is flexible. */',
  'export interface KafkaApiInfo {',
  '  readonly apiKey: number;',
  '  readonly name: string;',
  '  readonly minVersion: number;',
  '  readonly maxVersion: number;',
  '  readonly flexibleFrom: number | null;',
  '}',
  '',
);

const upperSnake = (name) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
for (const a of apis) {
  out.push(
    `export const ${upperSnake(a.api)}_API = Object.freeze({ apiKey: ${a.key}, name: '${a.api}', minVersion: ${a.request.valid[0]}, maxVersion: ${a.request.valid[1]}, flexibleFrom: ${a.request.flexible ? a.request.flexible[0] : 'null'} }) satisfies KafkaApiInfo;`,
  );
}
out.push(
  '',
  '/** API keys by name. */',
  'export const ApiKey = Object.freeze({',
  ...apis.map((a) => `  ${a.api}: ${a.key},`),
  '} as const);',
  '',
  '/** Every served API, by api key (ascending). */',
  `export const KAFKA_APIS: readonly KafkaApiInfo[] = Object.freeze([${apis.map((a) => `${upperSnake(a.api)}_API`).join(', ')}]);`,
  '',
  '/** The served API with this key, or undefined. */',
  'export function kafkaApi(apiKey: number): KafkaApiInfo | undefined {',
  '  return API_BY_KEY.get(apiKey);',
  '}',
  '',
  'const API_BY_KEY: ReadonlyMap<number, KafkaApiInfo> = new Map(KAFKA_APIS.map((api) => [api.apiKey, api]));',
  '',
);

// which structs need a default factory: those used as plain (non-array) struct fields
const needDefault = new Set();
for (const m of messages) {
  for (const s of m.structs) for (const f of s.fields) if (f.type.kind === 'struct') needDefault.add(f.type.struct);
}

let structCount = 0;
for (const m of messages) {
  out.push('// ' + '-'.repeat(105), `// ${m.name}${m.apiKey !== undefined ? ` (api key ${m.apiKey})` : ` (${m.kind})`}`, '// ' + '-'.repeat(105), '');
  // nested structs first is not needed (function hoisting), but interfaces read better outermost first
  const ordered = [m.root, ...m.structs.filter((s) => s !== m.root)];
  for (const s of ordered) {
    emitStruct(m, s, s === m.root, out, needDefault);
    structCount++;
  }
}

// dispatch tables
const table = (title, type, entries) => [`/** ${title} */`, `export const ${type} = Object.freeze({`, ...entries, '});', ''];
out.push(
  '// ' + '-'.repeat(105),
  '// Dispatch by api key',
  '// ' + '-'.repeat(105),
  '',
  '/** Request body type by api key. */',
  'export interface KafkaRequests {',
  ...apis.map((a) => `  ${a.key}: ${a.request.name};`),
  '}',
  '',
  '/** Response body type by api key. */',
  'export interface KafkaResponses {',
  ...apis.map((a) => `  ${a.key}: ${a.response.name};`),
  '}',
  '',
  '/** An api key this broker serves. */',
  'export type ServedApiKey = keyof KafkaRequests & keyof KafkaResponses;',
  '',
  'export function isServedApiKey(apiKey: number): apiKey is ServedApiKey {',
  '  return API_BY_KEY.has(apiKey);',
  '}',
  '',
  '/** Encodes one message body: `size` first, then `encode` into a writer of exactly that size. */',
  'export interface BodyEncoder<T> {',
  '  readonly size: (version: number, value: T) => number;',
  '  readonly encode: (w: KafkaWriter, version: number, value: T) => void;',
  '}',
  '',
  'export type BodyDecoder<T> = (r: KafkaReader, version: number) => T;',
  '',
  ...table(
    'Request decoders by api key: what the broker reads.',
    'REQUEST_DECODERS: { readonly [K in ServedApiKey]: BodyDecoder<KafkaRequests[K]> }',
    apis.map((a) => `  ${a.key}: decode${a.request.name},`),
  ),
  ...table(
    'Response encoders by api key: what the broker writes.',
    'RESPONSE_ENCODERS: { readonly [K in ServedApiKey]: BodyEncoder<KafkaResponses[K]> }',
    apis.map((a) => `  ${a.key}: { size: size${a.response.name}, encode: encode${a.response.name} },`),
  ),
  ...table(
    'Request encoders by api key: what a client writes (tests, tools).',
    'REQUEST_ENCODERS: { readonly [K in ServedApiKey]: BodyEncoder<KafkaRequests[K]> }',
    apis.map((a) => `  ${a.key}: { size: size${a.request.name}, encode: encode${a.request.name} },`),
  ),
  ...table(
    'Response decoders by api key: what a client reads (tests, tools).',
    'RESPONSE_DECODERS: { readonly [K in ServedApiKey]: BodyDecoder<KafkaResponses[K]> }',
    apis.map((a) => `  ${a.key}: decode${a.response.name},`),
  ),
);

// schemas
const schemaOut = [
  '// generated by scripts/gen-kafka.mjs — do not edit; regenerate with `npm run gen:kafka`',
  '// source: Apache Kafka message definitions (kafka-messages/*.json)',
  '//',
  '// The message definitions behind ./messages.ts as plain data, prose left out. Version ranges are',
  `// [lo, hi] inclusive (hi ${MAX_VERSION} for "N+"), null for none. Field names are the camelCase property names.`,
  '',
  'export type VersionRange = readonly [number, number] | null;',
  '',
  'export interface FieldSchema {',
  '  readonly name: string;',
  "  /** a primitive, 'struct', '[]' + a primitive, or '[]struct' */",
  '  readonly type: string;',
  '  readonly versions: VersionRange;',
  '  readonly nullableVersions: VersionRange;',
  '  readonly tag?: number;',
  '  readonly taggedVersions?: VersionRange;',
  "  /** overrides the message's flexible versions for this field */",
  '  readonly flexibleVersions?: VersionRange;',
  '  /** as written in the spec */',
  '  readonly default?: string;',
  '  readonly fields?: readonly FieldSchema[];',
  '}',
  '',
  'export interface MessageSchema {',
  '  readonly name: string;',
  "  readonly type: 'request' | 'response' | 'header' | 'data';",
  '  readonly apiKey: number | null;',
  '  readonly validVersions: readonly [number, number];',
  '  readonly flexibleVersions: VersionRange;',
  '  readonly fields: readonly FieldSchema[];',
  '}',
  '',
  'export const MESSAGE_SCHEMAS: readonly MessageSchema[] = [',
  ...messages.flatMap((m) => [
    `  {`,
    `    name: '${m.name}', type: '${m.kind}', apiKey: ${m.apiKey ?? 'null'}, validVersions: ${JSON.stringify(m.valid)}, flexibleVersions: ${JSON.stringify(m.flexible)},`,
    '    fields: [',
    ...schemaFields(m.root.fields, '      '),
    '    ],',
    '  },',
  ]),
  '];',
];

// import only what the emitted code uses (noUnusedLocals)
const CODEC_NAMES = [
  'EMPTY_BYTES',
  'KafkaReader',
  'KafkaWriter',
  'isZeroUuid',
  'nonNullable',
  'sizeArrayLength',
  'sizeBytes',
  'sizeString',
  'sizeUvarint',
  'zeroUuid',
];
const code = out.join('\n');
const used = CODEC_NAMES.filter((n) => new RegExp(`\\b${n}\\b`).test(code.replace('%IMPORTS%', '')));
out[out.indexOf('%IMPORTS%')] = `import { ${used.join(', ')} } from '../codec.js';`;

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'messages.ts'), out.join('\n') + '\n');
writeFileSync(join(outDir, 'schemas.ts'), schemaOut.join('\n') + '\n');
console.log(`wrote ${join(outDir, 'messages.ts')} (${messages.length} messages, ${structCount} structs, ${out.length} lines)`);
console.log(`wrote ${join(outDir, 'schemas.ts')} (${schemaOut.length} lines)`);
