import { seededRandom } from '../util/seeded-random.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AmqpCodecError } from '../errors/codec-error.js';
import {
  AmqpDecimal,
  MAX_FIELD_NESTING,
  arraySize,
  checkTable,
  decodeTableAt,
  encodeTable,
  readArray,
  readTable,
  tableSize,
  writeArray,
  writeTable,
  type FieldTable,
  type FieldValue,
} from './field-table.js';

// ---- helpers ----------------------------------------------------------------------------------------------

function findUp(relative: string): string | undefined {
  for (const start of [process.cwd(), dirname(fileURLToPath(import.meta.url))]) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, relative);
      if (existsSync(candidate)) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

interface AmqplibCodec {
  encodeTable(buffer: Buffer, value: object, offset: number): number;
}

function loadAmqplibCodec(): AmqplibCodec | undefined {
  const path = findUp(join('node_modules', 'amqplib', 'lib', 'codec.js'));
  if (path === undefined) return undefined;
  return createRequire(import.meta.url)(path) as AmqplibCodec;
}

/** Bytes of a table built by hand: `entries` are already-encoded `key + tag + payload` runs. */
function rawTable(...entries: Buffer[]): Buffer {
  const body = Buffer.concat(entries);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

/** One raw entry: shortstr key, tag letter, payload bytes. */
function entry(key: string, tag: string, payload: number[] | Buffer): Buffer {
  const k = Buffer.from(key);
  return Buffer.concat([Buffer.from([k.length]), k, Buffer.from(tag), Buffer.from(payload)]);
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function expectSyntaxError(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof AmqpCodecError && e.replyCode === 502);
}

function roundTrip(t: FieldTable): FieldTable {
  const buf = encodeTable(t);
  assert.equal(buf.length, tableSize(t));
  const [decoded, after] = readTable(buf, 0);
  assert.equal(after, buf.length);
  return decoded;
}

// ---- round trips ------------------------------------------------------------------------------------------

test('a table with every encodable type round trips', () => {
  const table: FieldTable = {
    yes: true,
    no: false,
    zero: 0,
    int: -2147483648,
    intMax: 2147483647,
    long: 2 ** 40,
    negativeLong: -(2 ** 50) - 3,
    maxSafe: Number.MAX_SAFE_INTEGER,
    big: -(2n ** 63n),
    bigMax: 2n ** 63n - 1n,
    double: -1.5e-300,
    infinity: Infinity,
    text: 'héllo wörld ✓',
    emptyText: '',
    bytes: Buffer.from([0, 1, 2, 255]),
    date: new Date(1_700_000_000_000),
    decimal: new AmqpDecimal(3, 4_294_967_295),
    nothing: null,
    array: [1, 'two', true, null, 2.5, [[]], { inner: 'table' }, Buffer.from('x')],
    emptyArray: [],
    nested: { a: { b: { c: 'deep' } } },
    emptyTable: {},
    '': 'empty key',
    ['k'.repeat(255)]: 'longest key',
  };
  assert.deepEqual(roundTrip(table), table);
});

test('NaN survives as a double', () => {
  const decoded = roundTrip({ nan: NaN });
  assert.ok(Number.isNaN(decoded.nan));
});

test('small bigints come back as numbers, Uint8Array as Buffer, undefined keys are skipped', () => {
  const decoded = roundTrip({ small: 5n, view: new Uint8Array([9, 8]) as Buffer, gone: undefined as unknown as FieldValue });
  assert.deepEqual(decoded, { small: 5, view: Buffer.from([9, 8]) });
});

test('encoding picks I for int32, l for other safe integers, d otherwise', () => {
  const tagOf = (v: FieldValue): string => String.fromCharCode(encodeTable({ v }).readUInt8(6));
  assert.equal(tagOf(1), 'I');
  assert.equal(tagOf(-2147483648), 'I');
  assert.equal(tagOf(2147483648), 'l');
  assert.equal(tagOf(-(2 ** 53) + 1), 'l');
  assert.equal(tagOf(2 ** 53), 'd');
  assert.equal(tagOf(0.5), 'd');
  assert.equal(tagOf(1n), 'l');
  assert.equal(tagOf('s'), 'S');
  assert.equal(tagOf(Buffer.alloc(0)), 'x');
  assert.equal(tagOf(true), 't');
  assert.equal(tagOf(new Date(0)), 'T');
  assert.equal(tagOf([]), 'A');
  assert.equal(tagOf(new AmqpDecimal(0, 0)), 'D');
  assert.equal(tagOf(null), 'V');
  assert.equal(tagOf({}), 'F');
});

test('dates are encoded in whole seconds', () => {
  assert.deepEqual(roundTrip({ d: new Date(1_700_000_000_999) }), { d: new Date(1_700_000_000_000) });
});

test('undefined inside an array is encoded as void', () => {
  const a = [1, undefined as unknown as FieldValue, 'x'];
  const buf = Buffer.alloc(arraySize(a));
  assert.equal(writeArray(buf, 0, a), buf.length);
  assert.deepEqual(readArray(buf, 0), [[1, null, 'x'], buf.length]);
});

test('writeTable and readTable work at an offset inside a larger buffer', () => {
  const t = { a: 'b', n: 7 };
  const buf = Buffer.alloc(tableSize(t) + 10, 0xee);
  assert.equal(writeTable(buf, 5, t), 5 + tableSize(t));
  assert.deepEqual(readTable(buf, 5), [t, 5 + tableSize(t)]);
  assert.deepEqual(decodeTableAt(buf, 5, buf.length), t);
  assert.equal(buf[4], 0xee);
  assert.equal(buf[5 + tableSize(t)], 0xee);
});

// ---- decoding every RabbitMQ type letter ------------------------------------------------------------------

test('every RabbitMQ field type letter decodes', () => {
  const big = Buffer.alloc(8);
  big.writeBigInt64BE(2n ** 60n + 1n);
  const float = Buffer.alloc(4);
  float.writeFloatBE(1.5);
  const double = Buffer.alloc(8);
  double.writeDoubleBE(-2.25);
  const nested = rawTable(entry('k', 'V', []));
  const array = Buffer.from([...u32(8), 0x62, 0xff, 0x53, ...u32(1), 0x41]); // b -1, S "A"
  const bytes = Buffer.from([...u32(3), 1, 2, 3]);
  const buf = rawTable(
    entry('t', 't', [1]),
    entry('b', 'b', [0xfb]),
    entry('B', 'B', [0xfa]),
    entry('s', 's', [0xfe, 0xd4]),
    entry('u', 'u', [0xfd, 0xe8]),
    entry('I', 'I', [0xff, 0xff, 0xff, 0xfe]),
    entry('i', 'i', [0xee, 0x6b, 0x28, 0x00]),
    entry('l', 'l', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd]),
    entry('L', 'l', big),
    entry('f', 'f', float),
    entry('d', 'd', double),
    entry('D', 'D', [2, ...u32(12345)]),
    entry('S', 'S', [...u32(2), 0xc3, 0xa9]),
    entry('x', 'x', bytes),
    entry('A', 'A', array),
    entry('T', 'T', [0, 0, 0, 0, ...u32(1_700_000_000)]),
    entry('F', 'F', nested),
    entry('V', 'V', []),
  );
  const [t, after] = readTable(buf, 0);
  assert.equal(after, buf.length);
  assert.deepEqual(t, {
    t: true,
    b: -5,
    B: 250,
    s: -300,
    u: 65000,
    I: -2,
    i: 4_000_000_000,
    l: -3,
    L: 2n ** 60n + 1n,
    f: 1.5,
    d: -2.25,
    D: new AmqpDecimal(2, 12345),
    S: 'é',
    x: Buffer.from([1, 2, 3]),
    A: [-1, 'A'],
    T: new Date(1_700_000_000_000),
    F: { k: null },
    V: null,
  });
});

test('decoded bytes are copies, not views of the input', () => {
  const buf = encodeTable({ x: Buffer.from([1, 2, 3]) });
  const [t] = readTable(buf, 0);
  buf.fill(0);
  assert.deepEqual(t.x, Buffer.from([1, 2, 3]));
});

test('a __proto__ key becomes an own property and leaves the prototype alone', () => {
  const buf = rawTable(entry('__proto__', 'F', rawTable(entry('polluted', 't', [1]))));
  const [t] = readTable(buf, 0);
  assert.equal(Object.getPrototypeOf(t), Object.prototype);
  assert.ok(Object.hasOwn(t, '__proto__'));
  assert.equal((t as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(encodeTable(t), buf);
});

// ---- malformed input --------------------------------------------------------------------------------------

test('malformed tables are 502 SYNTAX_ERROR', () => {
  const cases: [string, Buffer][] = [
    ['no length prefix', Buffer.from([0, 0])],
    ['length past the end', Buffer.from([0, 0, 0, 9, 1, 0x6b, 0x56])],
    ['unknown type letter', rawTable(entry('k', 'Z', []))],
    ['legacy unsupported tag', rawTable(entry('k', 'c', [1]))],
    ['key past the end', rawTable(Buffer.from([5, 0x6b]))],
    ['key without a value', rawTable(Buffer.from([1, 0x6b]))],
    ['bool truncated', rawTable(entry('k', 't', []))],
    ['int16 truncated', rawTable(entry('k', 's', [1]))],
    ['int32 truncated', rawTable(entry('k', 'I', [1, 2, 3]))],
    ['int64 truncated', rawTable(entry('k', 'l', [1, 2, 3, 4, 5, 6, 7]))],
    ['double truncated', rawTable(entry('k', 'd', [1]))],
    ['decimal truncated', rawTable(entry('k', 'D', [1, 2, 3, 4]))],
    ['timestamp truncated', rawTable(entry('k', 'T', [1, 2, 3]))],
    ['longstr past the table', rawTable(entry('k', 'S', [...u32(10), 0x61]))],
    ['bytes past the table', rawTable(entry('k', 'x', [...u32(2), 0x61]))],
    ['nested table past its parent', rawTable(entry('k', 'F', [...u32(100)]))],
    ['array past its parent', rawTable(entry('k', 'A', [...u32(3), 0x56]))],
    ['bad tag inside an array', rawTable(entry('k', 'A', [...u32(1), 0x3f]))],
    ['huge length', Buffer.from([0xff, 0xff, 0xff, 0xff])],
  ];
  for (const [name, buf] of cases) {
    assert.throws(
      () => readTable(buf, 0),
      (e: unknown) => e instanceof AmqpCodecError && e.replyCode === 502,
      name,
    );
    assert.throws(
      () => checkTable(buf, 0, buf.length),
      (e: unknown) => e instanceof AmqpCodecError && e.replyCode === 502,
      `checkTable: ${name}`,
    );
  }
});

test('the end argument bounds decoding even when the buffer is longer', () => {
  const buf = encodeTable({ k: 'value' });
  expectSyntaxError(() => readTable(buf, 0, buf.length - 1));
  expectSyntaxError(() => decodeTableAt(buf, 0, buf.length - 1));
  expectSyntaxError(() => readTable(buf, buf.length));
});

/** `depth` tables nested inside each other, built as raw bytes. */
function nestedTables(depth: number): Buffer {
  let inner = rawTable();
  for (let i = 1; i < depth; i++) inner = rawTable(entry('n', 'F', inner));
  return inner;
}

test(`nesting is allowed up to ${MAX_FIELD_NESTING} levels and rejected beyond`, () => {
  assert.doesNotThrow(() => readTable(nestedTables(MAX_FIELD_NESTING), 0));
  expectSyntaxError(() => readTable(nestedTables(MAX_FIELD_NESTING + 1), 0));
  expectSyntaxError(() => readTable(nestedTables(2_000), 0));
  const deepest = nestedTables(MAX_FIELD_NESTING);
  assert.doesNotThrow(() => checkTable(deepest, 0, deepest.length));
  for (const levels of [MAX_FIELD_NESTING + 1, 2_000]) {
    const tooDeep = nestedTables(levels);
    expectSyntaxError(() => checkTable(tooDeep, 0, tooDeep.length));
  }
  // arrays count too
  let arr = Buffer.from(u32(0));
  for (let i = 0; i < MAX_FIELD_NESTING + 1; i++) arr = Buffer.concat([Buffer.from(u32(arr.length + 1)), Buffer.from('A'), arr]);
  expectSyntaxError(() => readArray(arr, 0));
});

// ---- encoding limits --------------------------------------------------------------------------------------

test('unencodable values throw RangeError or TypeError', () => {
  assert.throws(() => encodeTable({ ['k'.repeat(256)]: 1 }), RangeError);
  assert.throws(() => encodeTable({ ['é'.repeat(128)]: 1 }), RangeError);
  assert.throws(() => encodeTable({ big: 2n ** 63n }), RangeError);
  assert.throws(() => encodeTable({ when: new Date(Number.NaN) }), RangeError);
  assert.throws(() => encodeTable({ f: (() => 1) as unknown as FieldValue }), TypeError);
  const cyclic: FieldTable = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeTable(cyclic), RangeError);
});

// ---- byte-for-byte against amqplib ------------------------------------------------------------------------

test('tables encode byte-for-byte as amqplib encodes them', (t) => {
  const codec = loadAmqplibCodec();
  if (codec === undefined) return t.skip('amqplib not installed');
  const table: FieldTable = {
    product: 'Postbox',
    capabilities: { publisher_confirms: true, consumer_cancel_notify: true, 'connection.blocked': false },
    'x-max-length': 100000,
    'x-negative': -40000,
    list: ['a', ['b'], { c: null }],
    bytes: Buffer.from([7, 7]),
    ratio: 1.75,
    long: 2 ** 33,
  };
  const scratch = Buffer.alloc(4096);
  const n = codec.encodeTable(scratch, table, 0);
  assert.deepEqual(encodeTable(table), scratch.subarray(0, n));
});

test('tables amqplib encodes with its smaller integer types decode to the same numbers', (t) => {
  const codec = loadAmqplibCodec();
  if (codec === undefined) return t.skip('amqplib not installed');
  const table = { byte: -7, short: 1000, int: 100000, negShort: -1000 };
  const scratch = Buffer.alloc(256);
  const n = codec.encodeTable(scratch, table, 0);
  assert.deepEqual(readTable(scratch.subarray(0, n), 0)[0], table);
});

// ---- fuzz -------------------------------------------------------------------------------------------------

test('fuzz: mutated tables either decode or throw AmqpCodecError 502', () => {
  const random = seededRandom(0x7ab1e);
  const seed = encodeTable({
    s: 'string',
    n: [1, 2 ** 40, 0.5, null, true, { deep: new Date(0) }],
    x: Buffer.from('bytes'),
    d: new AmqpDecimal(1, 5),
  });
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const buf = Buffer.from(seed);
    for (let k = 1 + Math.floor(random() * 3); k > 0; k--) buf[Math.floor(random() * buf.length)] = Math.floor(random() * 256);
    const cut = random() < 0.2 ? Math.floor(random() * buf.length) : buf.length;
    let readOk = true;
    try {
      readTable(buf.subarray(0, cut), 0);
      decoded++;
    } catch (e) {
      assert.ok(e instanceof AmqpCodecError && e.replyCode === 502, String(e));
      readOk = false;
    }
    // checkTable accepts exactly what readTable decodes
    let checkOk = true;
    try {
      checkTable(buf, 0, cut);
    } catch (e) {
      assert.ok(e instanceof AmqpCodecError && e.replyCode === 502, String(e));
      checkOk = false;
    }
    assert.equal(checkOk, readOk, `input ${buf.subarray(0, cut).toString('hex')}`);
  }
  assert.ok(decoded > 100, `only ${decoded} decoded`);
});
