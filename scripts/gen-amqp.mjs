#!/usr/bin/env node
// Generates src/protocol/amqp/generated/spec.ts from the AMQP 0-9-1 machine-readable spec
// (RabbitMQ's amqp-rabbitmq-0.9.1.json): constants, class and method ids, one args interface per method,
// one straight-line decoder, size function and writer per method, and the basic content properties.
//
//   node scripts/gen-amqp.mjs            reads ../shared/specs/amqp-0-9-1/ relative to the repo root
//   POSTBOX_SPECS_DIR=/x node ...        reads /x/amqp-0-9-1/ instead
//
// The output is committed; rerun this after changing the spec or this script, never edit the output.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const specsDir = process.env.POSTBOX_SPECS_DIR ?? join(repoRoot, '..', 'shared', 'specs');
const specPath = join(specsDir, 'amqp-0-9-1', 'amqp-rabbitmq-0.9.1.json');
// POSTBOX_GEN_OUT_DIR writes elsewhere (the test that checks the committed output is what this makes)
const outPath = join(process.env.POSTBOX_GEN_OUT_DIR ?? join(repoRoot, 'src', 'protocol', 'amqp', 'generated'), 'spec.ts');

let spec;
try {
  spec = JSON.parse(readFileSync(specPath, 'utf8'));
} catch (e) {
  console.error(`gen-amqp: cannot read the AMQP spec at ${specPath} (set POSTBOX_SPECS_DIR?): ${e.message}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------------------
// Model: resolve domains to primitive types and precompute names
// ---------------------------------------------------------------------------------------------------------

const PRIMITIVES = new Set(['bit', 'octet', 'short', 'long', 'longlong', 'shortstr', 'longstr', 'table', 'timestamp']);
const domains = new Map(spec.domains.map(([name, type]) => [name, type]));

function primitiveOf(field) {
  let type = field.type ?? field.domain;
  const seen = new Set();
  while (!PRIMITIVES.has(type)) {
    if (seen.has(type) || !domains.has(type)) throw new Error(`cannot resolve AMQP domain '${type}' (${field.name})`);
    seen.add(type);
    type = domains.get(type);
  }
  return type;
}

const words = (name) => name.split(/[-_ ]+/).filter(Boolean);
const pascal = (name) =>
  words(name)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
const camel = (name) => {
  const p = pascal(name);
  return p[0].toLowerCase() + p.slice(1);
};
const upperSnake = (name) => words(name).join('_').toUpperCase();
const quote = (text) => `'${text.replace(/[\\']/g, '\\$&')}'`;
const hex = (n, digits) => `0x${n.toString(16).padStart(digits, '0')}`;

const TS_TYPE = {
  bit: 'boolean',
  octet: 'number',
  short: 'number',
  long: 'number',
  longlong: 'number',
  timestamp: 'number',
  shortstr: 'string',
  longstr: 'Buffer',
  table: 'FieldTable',
};

const classes = spec.classes
  .map((c) => ({
    name: c.name,
    id: c.id,
    constName: `CLASS_${upperSnake(c.name)}`,
    properties: (c.properties ?? []).map((p) => ({ name: p.name, prop: camel(p.name), type: primitiveOf(p) })),
    methods: c.methods.map((m) => {
      const id = c.id * 0x10000 + m.id;
      return {
        className: c.name,
        name: m.name,
        dotted: `${c.name}.${m.name}`,
        classId: c.id,
        methodId: m.id,
        id,
        constName: `M_${upperSnake(c.name)}_${upperSnake(m.name)}`,
        pascal: `${pascal(c.name)}${pascal(m.name)}`,
        content: m.content === true,
        synchronous: m.synchronous === true,
        fields: m.arguments.map((a) => ({ name: a.name, prop: camel(a.name), type: primitiveOf(a) })),
      };
    }),
  }))
  .sort((a, b) => a.id - b.id);
for (const c of classes) c.methods.sort((a, b) => a.methodId - b.methodId);
const methods = classes.flatMap((c) => c.methods);

// ---------------------------------------------------------------------------------------------------------
// Code fragments shared by method decoders, property decoders and the property scanner
// ---------------------------------------------------------------------------------------------------------

/**
 * Lines that read one non-bit field of `type` at `o` (bounded by `e`) into a new const `target`, advancing
 * `o`. `what` names the field in the error.
 *
 * Every decoder clamps `e` to the buffer's length, so a byte below `e` always exists; bytes are still read
 * into locals first and checked (`=== undefined` narrows them under noUncheckedIndexedAccess), which also
 * reads a shortstr's length once instead of three times. For a shortstr, `o + 1 + length > e` is the whole
 * bound: it holds whenever `o >= e`. Shorts are two byte reads, not readUInt16BE: on the property scan (once
 * per published message) readUInt16BE cost about 60% more time (1M scans: 23 ms -> 37 ms, Node 20).
 */
function readLines(type, target, what) {
  const fail = `throw truncated(${quote(what)})`;
  switch (type) {
    case 'octet':
      return [`const ${target} = b[o];`, `if (${target} === undefined || o + 1 > e) ${fail};`, 'o += 1;'];
    case 'short':
      return [...shortLines(target, 'o', fail), 'o += 2;'];
    case 'long':
      return [`if (o + 4 > e) ${fail};`, `const ${target} = b.readUInt32BE(o);`, 'o += 4;'];
    case 'longlong':
    case 'timestamp':
      return [`if (o + 8 > e) ${fail};`, `const ${target} = readUInt64(b, o);`, 'o += 8;'];
    case 'shortstr':
      return [
        `const ${target}Length = b[o];`,
        `if (${target}Length === undefined || o + 1 + ${target}Length > e) ${fail};`,
        `const ${target} = b.toString('utf8', o + 1, o + 1 + ${target}Length);`,
        `o += 1 + ${target}Length;`,
      ];
    case 'longstr':
      return [
        `if (o + 4 > e || o + 4 + b.readUInt32BE(o) > e) ${fail};`,
        `const ${target} = Buffer.from(b.subarray(o + 4, o + 4 + b.readUInt32BE(o)));`,
        'o += 4 + b.readUInt32BE(o);',
      ];
    case 'table':
      return [`if (o + 4 > e || o + 4 + b.readUInt32BE(o) > e) ${fail};`, `const ${target} = decodeTableAt(b, o, e);`, 'o += 4 + b.readUInt32BE(o);'];
    default:
      throw new Error(`no reader for ${type}`);
  }
}

/** Lines that read the big-endian u16 at `at` (bounded by `e`) into a new const `target`, or run `fail`. */
function shortLines(target, at, fail) {
  return [
    `const ${target}High = b[${at}];`,
    `const ${target}Low = b[${at} + 1];`,
    `if (${target}High === undefined || ${target}Low === undefined || ${at} + 2 > e) ${fail};`,
    `const ${target} = (${target}High << 8) | ${target}Low;`,
  ];
}

/** Lines that step `o` over one non-bit field of `type` without decoding it (in a block of their own). */
function skipLines(type, what) {
  const fail = `throw truncated(${quote(what)})`;
  switch (type) {
    case 'octet':
      return [`if (o + 1 > e) ${fail};`, 'o += 1;'];
    case 'short':
      return [`if (o + 2 > e) ${fail};`, 'o += 2;'];
    case 'long':
      return [`if (o + 4 > e) ${fail};`, 'o += 4;'];
    case 'longlong':
    case 'timestamp':
      return [`if (o + 8 > e) ${fail};`, 'o += 8;'];
    case 'shortstr':
      return ['const length = b[o];', `if (length === undefined || o + 1 + length > e) ${fail};`, 'o += 1 + length;'];
    case 'longstr':
    case 'table':
      return [`if (o + 4 > e || o + 4 + b.readUInt32BE(o) > e) ${fail};`, 'o += 4 + b.readUInt32BE(o);'];
    default:
      throw new Error(`no skipper for ${type}`);
  }
}

/** Encoded size of non-bit field `expr` of `type`: [fixed byte count, varying expression or null]. */
function sizeParts(type, expr) {
  switch (type) {
    case 'octet':
      return [1, null];
    case 'short':
      return [2, null];
    case 'long':
      return [4, null];
    case 'longlong':
    case 'timestamp':
      return [8, null];
    case 'shortstr':
      return [1, `Buffer.byteLength(${expr}, 'utf8')`];
    case 'longstr':
      return [4, `${expr}.length`];
    case 'table':
      return [0, `tableSize(${expr})`];
    default:
      throw new Error(`no size for ${type}`);
  }
}

/** Expression for the encoded size of non-bit field `expr` of `type`. */
function sizeExpr(type, expr) {
  const [fixed, varying] = sizeParts(type, expr);
  if (varying === null) return String(fixed);
  return fixed === 0 ? varying : `${fixed} + ${varying}`;
}

/** Lines writing non-bit field `expr` of `type` at `o`, advancing `o`. */
function writeLines(type, expr) {
  switch (type) {
    case 'octet':
      return [`buf.writeUInt8(${expr}, o);`, 'o += 1;'];
    case 'short':
      return [`buf.writeUInt16BE(${expr}, o);`, 'o += 2;'];
    case 'long':
      return [`buf.writeUInt32BE(${expr}, o);`, 'o += 4;'];
    case 'longlong':
    case 'timestamp':
      return [`writeUInt64(buf, o, ${expr});`, 'o += 8;'];
    case 'shortstr':
      return [`o = writeShortstr(buf, o, ${expr});`];
    case 'longstr':
      return [`buf.writeUInt32BE(${expr}.length, o);`, `buf.set(${expr}, o + 4);`, `o += 4 + ${expr}.length;`];
    case 'table':
      return [`o = writeTable(buf, o, ${expr});`];
    default:
      throw new Error(`no writer for ${type}`);
  }
}

/** Splits a field list into runs: each run is either one non-bit field or consecutive bits (one octet). */
function runs(fields) {
  const out = [];
  for (const f of fields) {
    const last = out[out.length - 1];
    if (f.type === 'bit' && last?.bits) last.fields.push(f);
    else out.push(f.type === 'bit' ? { bits: true, fields: [f] } : { bits: false, fields: [f] });
  }
  return out;
}

const indent = (lines, n) => lines.map((l) => (l === '' ? '' : ' '.repeat(n) + l));

// ---------------------------------------------------------------------------------------------------------
// Emit
// ---------------------------------------------------------------------------------------------------------

const out = [];
const emit = (...lines) => out.push(...lines);

emit(
  '// generated by scripts/gen-amqp.mjs — do not edit',
  `// source: ${spec.name} ${spec['major-version']}-${spec['minor-version']}-${spec.revision} (amqp-rabbitmq-0.9.1.json)`,
  '//',
  '// Method payload layout (inside a METHOD frame, all integers big-endian):',
  '//   | u16 class-id | u16 method-id | arguments in spec order |',
  '// Argument encodings: octet u8, short u16, long u32, longlong/timestamp u64, shortstr u8 length + UTF-8,',
  '// longstr u32 length + bytes, table u32 length + entries (see ../field-table.ts). Consecutive bit',
  '// arguments share one octet, first bit in the least significant position; any other argument ends the run.',
  '//',
  '// A method id here is (class-id << 16) | method-id, which is also the first four payload bytes read as u32.',
  '',
  "import { AmqpCodecError, syntaxError } from '../../../errors/codec-error.js';",
  "import { decodeTableAt, tableSize, writeTable } from '../../../core/field-table.js';",
  "import type { FieldTable } from '../../../core/field-table.js';",
  '',
  `export const PROTOCOL_MAJOR = ${spec['major-version']};`,
  `export const PROTOCOL_MINOR = ${spec['minor-version']};`,
  `export const PROTOCOL_REVISION = ${spec.revision};`,
  `export const DEFAULT_PORT = ${spec.port};`,
  '',
);

// constants
// reply codes carry a soft/hard class (REPLY-SUCCESS is the one without); the rest are frame constants
const isReplyCode = (k) => k.class !== undefined || k.name.startsWith('REPLY-');
const frameConstants = spec.constants.filter((k) => !isReplyCode(k));
const replyConstants = spec.constants.filter(isReplyCode);
for (const k of frameConstants) emit(`export const ${upperSnake(k.name)} = ${k.value};`);
emit('', '/** AMQP reply codes, from the spec constants. */', 'export const ReplyCode = {');
for (const k of replyConstants) emit(`  ${upperSnake(k.name)}: ${k.value},`);
emit('} as const;', 'export type ReplyCodeName = keyof typeof ReplyCode;', '');
emit(
  '/** True for reply codes the spec classes as hard errors: they close the connection, not just the channel. */',
  'export function isHardError(code: number): boolean {',
  '  switch (code) {',
);
for (const k of replyConstants.filter((k) => k.class === 'hard-error')) emit(`    case ${k.value}:`);
emit('      return true;', '    default:', '      return false;', '  }', '}', '');

// class ids
for (const c of classes) emit(`export const ${c.constName} = ${c.id};`);
emit('');

// method ids
for (const m of methods) {
  emit(`/** ${m.dotted} (${m.classId}, ${m.methodId})${m.content ? ', carries content' : ''} */`);
  emit(`export const ${m.constName} = ${hex(m.id, 8)};`);
}
emit('');

// args interfaces
for (const m of methods) {
  if (m.fields.length === 0) {
    emit(`export interface ${m.pascal}Args {}`);
    continue;
  }
  emit(`export interface ${m.pascal}Args {`);
  for (const f of m.fields) emit(`  ${f.prop}: ${TS_TYPE[f.type]};${f.type === f.name ? '' : ` // ${f.type}`}`);
  emit('}');
}
emit('');

// union
emit('/** Every method with its arguments; switch on `id` to narrow `args`. */', 'export type AmqpMethod =');
methods.forEach((m, i) => {
  emit(`  | { id: typeof ${m.constName}; args: ${m.pascal}Args }${i === methods.length - 1 ? ';' : ''}`);
});
emit('', '/** The numeric id of every method. */', "export type AmqpMethodId = AmqpMethod['id'];", '');

// metadata
emit(
  'export type AmqpFieldType = ' + [...PRIMITIVES].map((t) => `'${t}'`).join(' | ') + ';',
  '',
  'export interface AmqpFieldInfo {',
  '  readonly name: string;',
  '  readonly type: AmqpFieldType;',
  '}',
  '',
  'export interface AmqpMethodInfo {',
  '  readonly id: AmqpMethodId;',
  '  readonly name: string;',
  '  readonly synchronous: boolean;',
  '  readonly content: boolean;',
  '  readonly fields: readonly AmqpFieldInfo[];',
  '}',
  '',
  '/** Descriptions of every method, for tests, logs and tooling. The codecs below do not read this. */',
  'export const METHOD_INFO: readonly AmqpMethodInfo[] = [',
);
for (const m of methods) {
  const fields = m.fields.map((f) => `{ name: '${f.prop}', type: '${f.type}' }`).join(', ');
  emit(`  { id: ${m.constName}, name: '${m.dotted}', synchronous: ${m.synchronous}, content: ${m.content}, fields: [${fields}] },`);
}
emit('];', '');

// small helpers
emit(
  'export function classIdOf(id: number): number {',
  '  return id >>> 16;',
  '}',
  '',
  'export function methodIdOf(id: number): number {',
  '  return id & 0xffff;',
  '}',
  '',
  "/** 'class.method' for logs, e.g. 'basic.publish'; unknown ids read as 'unknown(60.999)'. */",
  'export function methodName(id: number): string {',
  '  switch (id) {',
);
for (const m of methods) emit(`    case ${m.constName}:`, `      return '${m.dotted}';`);
emit('    default:', '      return `unknown(${classIdOf(id)}.${methodIdOf(id)})`;', '  }', '}', '');
emit('/** True for the methods followed by a content header and body frames. */', 'export function methodHasContent(id: number): boolean {', '  switch (id) {');
for (const m of methods.filter((x) => x.content)) emit(`    case ${m.constName}:`);
emit('      return true;', '    default:', '      return false;', '  }', '}', '');
emit(
  '/** True for the methods the spec marks synchronous (a client waits for the matching -ok). */',
  'export function methodIsSynchronous(id: number): boolean {',
  '  switch (id) {',
);
for (const m of methods.filter((x) => x.synchronous)) emit(`    case ${m.constName}:`);
emit('      return true;', '    default:', '      return false;', '  }', '}', '');

emit(
  'const TWO_POW_32 = 4294967296;',
  'const MAX_SHORTSTR_BYTES = 255;',
  '',
  'function truncated(what: string): AmqpCodecError {',
  '  return syntaxError(`${what}: field truncated or runs past the end of the frame`);',
  '}',
  '',
  '/** u64 as a number: exact below 2^53, which delivery tags and timestamps never reach. */',
  'function readUInt64(b: Buffer, o: number): number {',
  '  return b.readUInt32BE(o) * TWO_POW_32 + b.readUInt32BE(o + 4);',
  '}',
  '',
  'function writeUInt64(buf: Buffer, o: number, n: number): void {',
  '  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not an unsigned 64-bit integer: ${n}`);',
  '  buf.writeUInt32BE(Math.floor(n / TWO_POW_32), o);',
  '  buf.writeUInt32BE(n % TWO_POW_32, o + 4);',
  '}',
  '',
  'function writeShortstr(buf: Buffer, o: number, s: string): number {',
  "  const n = buf.write(s, o + 1, 'utf8');",
  '  if (n > MAX_SHORTSTR_BYTES) throw new RangeError(`shortstr longer than 255 bytes: ${s.slice(0, 40)}...`);',
  '  buf[o] = n;',
  '  return o + 1 + n;',
  '}',
  '',
);

// decoders
emit('// ---- decoders: `b` payload, `o` offset just after the 4 id bytes, `e` end of the payload ----', '');
for (const m of methods) {
  if (m.fields.length === 0) continue;
  emit(`function decode${m.pascal}(b: Buffer, o: number, e: number): ${m.pascal}Args {`);
  const body = [];
  const names = [];
  let bitsN = 0;
  for (const run of runs(m.fields)) {
    if (run.bits) {
      const bits = `bits${bitsN++}`;
      body.push(`const ${bits} = b[o];`);
      body.push(`if (${bits} === undefined || o >= e) throw truncated(${quote(`${m.dotted} ${run.fields[0].prop}`)});`);
      body.push('o += 1;');
      run.fields.forEach((f, i) => {
        const v = `v${names.length}`;
        body.push(`const ${v} = (${bits} & ${1 << i}) !== 0;`);
        names.push([f.prop, v]);
      });
    } else {
      const f = run.fields[0];
      const v = `v${names.length}`;
      body.push(...readLines(f.type, v, `${m.dotted} ${f.prop}`));
      names.push([f.prop, v]);
    }
  }
  // the final `o += ...` is dead; drop it so the function reads cleanly
  if (body[body.length - 1].startsWith('o += ')) body.pop();
  body.push(`return { ${names.map(([p, v]) => `${p}: ${v}`).join(', ')} };`);
  emit(...indent(body, 2), '}', '');
}

emit(
  '/**',
  ' * Decodes a METHOD frame payload: `payload[offset..end)` starts with the class and method ids. Trailing',
  ' * bytes after the last argument are ignored. Throws AmqpCodecError: 540 for an unknown class or method,',
  ' * 502 for a truncated or malformed argument.',
  ' */',
  'export function decodeMethod(payload: Buffer, offset: number, end: number): AmqpMethod {',
  '  const e = end < payload.length ? end : payload.length;',
  '  if (offset < 0 || offset + 4 > e) throw syntaxError(`method frame payload too short (${e - offset} bytes)`);',
  '  const id = payload.readUInt32BE(offset);',
  '  const o = offset + 4;',
  '  switch (id) {',
);
for (const m of methods) {
  const args = m.fields.length === 0 ? '{}' : `decode${m.pascal}(payload, o, e)`;
  emit(`    case ${m.constName}:`, `      return { id: ${m.constName}, args: ${args} };`);
}
emit(
  '    default:',
  '      throw unknownMethod(id);',
  '  }',
  '}',
  '',
  'const KNOWN_CLASS_IDS: ReadonlySet<number> = new Set([' + classes.map((c) => c.constName).join(', ') + ']);',
  '',
  'function unknownMethod(id: number): AmqpCodecError {',
  '  const classId = classIdOf(id);',
  '  const what = KNOWN_CLASS_IDS.has(classId) ? `method ${classId}.${methodIdOf(id)}` : `class ${classId}`;',
  '  return new AmqpCodecError(ReplyCode.NOT_IMPLEMENTED, `unknown ${what}`);',
  '}',
  '',
);

// sizes and writers
emit('// ---- encoders: size includes the 4 id bytes; write returns the offset after the payload ----', '');
for (const m of methods) {
  let fixed = 4;
  const varying = [];
  for (const run of runs(m.fields)) {
    if (run.bits) {
      fixed += 1;
      continue;
    }
    const f = run.fields[0];
    const [n, v] = sizeParts(f.type, `a.${f.prop}`);
    fixed += n;
    if (v !== null) varying.push(v);
  }
  const param = m.fields.length === 0 ? '_a' : 'a';
  emit(`export function size${m.pascal}(${param}: ${m.pascal}Args): number {`);
  emit(`  return ${[String(fixed), ...varying].join(' + ')};`, '}', '');

  emit(`export function write${m.pascal}(buf: Buffer, offset: number, ${param}: ${m.pascal}Args): number {`);
  const body = [`buf.writeUInt32BE(${m.constName}, offset);`];
  if (m.fields.length === 0) {
    body.push('return offset + 4;');
  } else {
    body.push('let o = offset + 4;');
    for (const run of runs(m.fields)) {
      if (run.bits) {
        const expr = run.fields.map((f, i) => `(a.${f.prop} ? ${1 << i} : 0)`).join(' | ');
        body.push(`buf[o] = ${expr};`, 'o += 1;');
      } else {
        const f = run.fields[0];
        body.push(...writeLines(f.type, `a.${f.prop}`));
      }
    }
    body.push('return o;');
  }
  emit(...indent(body, 2), '}', '');
}

emit('/** Method payload size (the 4 id bytes included) of any method. */', 'export function methodPayloadSize(m: AmqpMethod): number {', '  switch (m.id) {');
for (const m of methods) emit(`    case ${m.constName}:`, `      return size${m.pascal}(m.args);`);
emit('    default:', '      throw notAMethod(m);', '  }', '}', '');
emit(
  '/** Writes the payload of any method at `offset`; returns the offset after it. */',
  'export function writeMethodPayload(buf: Buffer, offset: number, m: AmqpMethod): number {',
  '  switch (m.id) {',
);
for (const m of methods) emit(`    case ${m.constName}:`, `      return write${m.pascal}(buf, offset, m.args);`);
emit(
  '    default:',
  '      throw notAMethod(m);',
  '  }',
  '}',
  '',
  'function notAMethod(m: never): TypeError {',
  '  return new TypeError(`not an AMQP method id: ${(m as { id: unknown }).id}`);',
  '}',
  '',
  '/**',
  ' * Frame layout: | u8 type | u16 channel | u32 payload size | payload | u8 0xCE |',
  ' * Size of the whole METHOD frame carrying `m`.',
  ' */',
  'export function methodFrameSize(m: AmqpMethod): number {',
  '  return 8 + methodPayloadSize(m);',
  '}',
  '',
  '/** Writes a whole METHOD frame at `offset` (e.g. into a batch buffer); returns the offset after it. */',
  'export function writeMethodFrame(buf: Buffer, offset: number, channel: number, m: AmqpMethod): number {',
  '  const payloadEnd = writeMethodPayload(buf, offset + 7, m);',
  '  buf[offset] = FRAME_METHOD;',
  '  buf.writeUInt16BE(channel, offset + 1);',
  '  buf.writeUInt32BE(payloadEnd - offset - 7, offset + 3);',
  '  buf[payloadEnd] = FRAME_END;',
  '  return payloadEnd + 1;',
  '}',
  '',
  '/** A new buffer holding exactly one METHOD frame: allocates once, `8 + payload size` bytes. */',
  'export function encodeMethodFrame(channel: number, m: AmqpMethod): Buffer {',
  '  const size = methodPayloadSize(m);',
  '  const buf = Buffer.allocUnsafe(size + 8);',
  '  const end = writeMethodFrame(buf, 0, channel, m);',
  '  if (end !== buf.length) throw new Error(`internal: ${methodName(m.id)} wrote ${end - 8} bytes, sized ${size}`);',
  '  return buf;',
  '}',
  '',
);

// basic properties
const basic = classes.find((c) => c.name === 'basic');
const props = basic.properties;
if (props.length > 15) throw new Error('more than 15 basic properties need a second flags word');
const flagOf = (i) => hex(1 << (15 - i), 4);
const SCANNED = { deliveryMode: 'octet', priority: 'octet', expiration: 'shortstr', headers: 'table' };
for (const [name, type] of Object.entries(SCANNED)) {
  if (props.find((p) => p.prop === name)?.type !== type) throw new Error(`spec changed basic property ${name}`);
}

emit(
  '// ---- basic content properties ----',
  '//',
  '// Content header payload: | u16 class-id | u16 weight (0) | u64 body size | property flags | properties |',
  '// Property flags: u16 words; in the first word bit 15 is the first property below, bit 14 the second, and',
  '// so on. Bit 0 set means another flags word follows. Only present properties are encoded, in order.',
  '',
  '/** The basic class content properties; absent ones are left out. `timestamp` is in seconds. */',
  'export interface BasicProperties {',
);
for (const p of props) emit(`  ${p.prop}?: ${TS_TYPE[p.type]};`);
emit('}', '');
props.forEach((p, i) => emit(`export const PROPERTY_FLAG_${upperSnake(p.name)} = ${flagOf(i)};`));
emit(
  '',
  '/** Steps over continuation flags words; returns the offset of the first property. */',
  'function skipFlagWords(b: Buffer, o: number, e: number, first: number): number {',
  '  let word = first;',
  '  while ((word & 1) !== 0) {',
  '    const high = b[o];',
  '    const low = b[o + 1];',
  "    if (high === undefined || low === undefined || o + 2 > e) throw truncated('basic properties flags');",
  '    word = (high << 8) | low;',
  '    o += 2;',
  '  }',
  '  return o;',
  '}',
  '',
  '/**',
  ' * Decodes the basic properties starting at the property-flags word at `offset`, bounded by `end`.',
  ' * Flags beyond the known properties are ignored (they can only follow them). Throws AmqpCodecError 502.',
  ' */',
  'export function decodeBasicProperties(buf: Buffer, offset: number, end: number): BasicProperties {',
  '  const b = buf;',
  '  const e = end < buf.length ? end : buf.length;',
  ...indent(shortLines('flags', 'offset', "throw truncated('basic properties flags')"), 2),
  '  let o = skipFlagWords(b, offset + 2, e, flags);',
  '  const p: BasicProperties = {};',
);
props.forEach((p, i) => {
  emit(`  if ((flags & ${flagOf(i)}) !== 0) {`);
  emit(...indent(readLines(p.type, 'v', `basic property ${p.prop}`), 4));
  emit(`    p.${p.prop} = v;`, '  }');
});
emit('  return p;', '}', '');

emit(
  '/** Encoded size of the properties: flags word plus each present property. */',
  'export function basicPropertiesSize(p: BasicProperties): number {',
  '  let n = 2;',
);
for (const p of props) {
  const s = sizeExpr(p.type, `p.${p.prop}`);
  emit(`  if (p.${p.prop} != null) n += ${s};`);
}
emit('  return n;', '}', '');

emit(
  '/** Writes the flags word and present properties at `offset`; returns the offset after them. */',
  'export function writeBasicProperties(buf: Buffer, offset: number, p: BasicProperties): number {',
  '  let flags = 0;',
  '  let o = offset + 2;',
);
props.forEach((p, i) => {
  emit(`  if (p.${p.prop} != null) {`, `    flags |= ${flagOf(i)};`);
  emit(...indent(writeLines(p.type, `p.${p.prop}`), 4), '  }');
});
emit('  buf.writeUInt16BE(flags, offset);', '  return o;', '}', '');

emit(
  '/**',
  ' * A whole basic content-header frame (type 2) for a body of `bodySize` bytes, allocated once:',
  ' * | 2 | u16 channel | u32 size | u16 60 | u16 0 | u64 body size | properties | 0xCE |',
  ' */',
  'export function encodeBasicHeaderFrame(channel: number, bodySize: number, p: BasicProperties): Buffer {',
  '  const payloadSize = 12 + basicPropertiesSize(p);',
  '  const buf = Buffer.allocUnsafe(payloadSize + 8);',
  '  buf[0] = FRAME_HEADER;',
  '  buf.writeUInt16BE(channel, 1);',
  '  buf.writeUInt32BE(payloadSize, 3);',
  `  buf.writeUInt16BE(${basic.constName}, 7);`,
  '  buf.writeUInt16BE(0, 9);',
  '  writeUInt64(buf, 11, bodySize);',
  '  const end = writeBasicProperties(buf, 19, p);',
  '  buf[end] = FRAME_END;',
  '  return buf;',
  '}',
  '',
  '/** What the routing hot path needs from the properties, without decoding any table. Reused across calls. */',
  'export interface PropertyScan {',
  '  /** 0 when absent */',
  '  deliveryMode: number;',
  '  /** -1 when absent */',
  '  priority: number;',
  '  expiration: string | undefined;',
  '  /** byte range of the encoded headers table, its u32 length included; both -1 when absent */',
  '  headersStart: number;',
  '  headersEnd: number;',
  '  /** offset just after the last property */',
  '  end: number;',
  '}',
  '',
  'export function newPropertyScan(): PropertyScan {',
  '  return { deliveryMode: 0, priority: -1, expiration: undefined, headersStart: -1, headersEnd: -1, end: 0 };',
  '}',
  '',
  '/** Like decodeBasicProperties but fills `out` and steps over everything else. Throws AmqpCodecError 502. */',
  'export function scanBasicProperties(buf: Buffer, offset: number, end: number, out: PropertyScan): void {',
  '  const b = buf;',
  '  const e = end < buf.length ? end : buf.length;',
  '  out.deliveryMode = 0;',
  '  out.priority = -1;',
  '  out.expiration = undefined;',
  '  out.headersStart = -1;',
  '  out.headersEnd = -1;',
  ...indent(shortLines('flags', 'offset', "throw truncated('basic properties flags')"), 2),
  '  let o = skipFlagWords(b, offset + 2, e, flags);',
);
props.forEach((p, i) => {
  emit(`  if ((flags & ${flagOf(i)}) !== 0) {`);
  const what = `basic property ${p.prop}`;
  let lines;
  if (p.prop === 'headers') {
    lines = [...skipLines('table', what).slice(0, 1), 'out.headersStart = o;', 'o += 4 + b.readUInt32BE(o);', 'out.headersEnd = o;'];
  } else if (p.prop in SCANNED) {
    lines = [...readLines(p.type, 'v', what), `out.${p.prop} = v;`];
  } else {
    lines = skipLines(p.type, what);
  }
  emit(...indent(lines, 4), '  }');
});
emit('  out.end = o;', '}', '');

mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, out.join('\n') + '\n');
console.log(`wrote ${outPath} (${methods.length} methods, ${out.length} lines)`);
