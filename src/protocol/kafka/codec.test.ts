import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaCodecError, KafkaReader, KafkaWriter, MAX_STRING_BYTES, sizeString, sizeUvarint, sizeVarint, sizeVarlong } from './codec.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const reader = (s: string) => new KafkaReader(hex(s));
const written = (size: number, fill: (w: KafkaWriter) => void) => {
  const w = new KafkaWriter(size);
  fill(w);
  return w.finish();
};

test('fixed-width integers are big-endian, int64 as bigint', () => {
  const r = reader('ff 8000 fffffffe 8000000000000000 ffff ffffffff 01');
  assert.equal(r.int8(), -1);
  assert.equal(r.int16(), -32768);
  assert.equal(r.int32(), -2);
  assert.equal(r.int64(), -(2n ** 63n));
  assert.equal(r.uint16(), 0xffff);
  assert.equal(r.uint32(), 0xffffffff);
  assert.equal(r.bool(), true);
  assert.equal(r.remaining, 0);
  const b = written(1 + 2 + 4 + 8 + 8, (w) => {
    w.int8(-1);
    w.int16(-32768);
    w.int32(-2);
    w.int64(-(2n ** 63n));
    w.float64(1.5);
  });
  assert.deepStrictEqual(b, hex('ff 8000 fffffffe 8000000000000000 3ff8000000000000'));
});

test('unsigned varints: 7 bits a byte, low group first, at most 32 bits', () => {
  const cases: [number, string][] = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [16383, 'ff7f'],
    [16384, '808001'],
    [0xffffffff, 'ffffffff0f'],
  ];
  for (const [n, bytes] of cases) {
    assert.equal(sizeUvarint(n), bytes.length / 2, `size of ${n}`);
    assert.deepStrictEqual(
      written(bytes.length / 2, (w) => w.uvarint(n)),
      hex(bytes),
      `write ${n}`,
    );
    assert.equal(reader(bytes).uvarint(), n, `read ${n}`);
  }
  assert.throws(() => reader('ffffffff1f').uvarint(), KafkaCodecError); // 33 bits
  assert.throws(() => reader('ffffffffff01').uvarint(), KafkaCodecError); // 6 bytes
  assert.throws(() => reader('8080').uvarint(), KafkaCodecError); // truncated
});

test('zigzag varints and varlongs', () => {
  const ints: [number, string][] = [
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [-64, '7f'],
    [64, '8001'],
    [2147483647, 'feffffff0f'],
    [-2147483648, 'ffffffff0f'],
  ];
  for (const [n, bytes] of ints) {
    assert.equal(sizeVarint(n), bytes.length / 2);
    assert.deepStrictEqual(
      written(bytes.length / 2, (w) => w.varint(n)),
      hex(bytes),
    );
    assert.equal(reader(bytes).varint(), n);
  }
  const longs: [bigint, string][] = [
    [0n, '00'],
    [-1n, '01'],
    [150n, 'ac02'],
    [2n ** 63n - 1n, 'feffffffffffffffff01'],
    [-(2n ** 63n), 'ffffffffffffffffff01'],
  ];
  for (const [n, bytes] of longs) {
    assert.equal(sizeVarlong(n), bytes.length / 2);
    assert.deepStrictEqual(
      written(bytes.length / 2, (w) => w.varlong(n)),
      hex(bytes),
    );
    assert.equal(reader(bytes).varlong(), n);
  }
  assert.throws(() => reader('ffffffffffffffffff03').varlong(), KafkaCodecError);
  assert.throws(() => reader('ffffffffffffffffffff01').varlong(), KafkaCodecError);
});

test('strings: int16 or compact lengths, null as -1 or 0, UTF-8 bytes counted', () => {
  assert.equal(reader('0003 616263').string(), 'abc');
  assert.equal(reader('ffff').nullableString(), null);
  assert.equal(reader('04 616263').compactString(), 'abc');
  assert.equal(reader('00').compactNullableString(), null);
  assert.equal(reader('0000').string(), '');
  assert.deepStrictEqual(
    written(sizeString('é', false), (w) => w.string('é')),
    hex('0002 c3a9'),
  );
  assert.deepStrictEqual(
    written(sizeString('é', true), (w) => w.compactString('é')),
    hex('03 c3a9'),
  );
  assert.deepStrictEqual(
    written(sizeString(null, true), (w) => w.compactNullableString(null)),
    hex('00'),
  );
  assert.throws(() => reader('ffff').string(), /non-nullable/);
  assert.throws(() => reader('00').compactString(), /non-nullable/);
  assert.throws(() => reader('fffe').nullableString(), /invalid string length -2/);
  assert.throws(() => reader('0005 6162').string(), KafkaCodecError);
  const long = 'x'.repeat(MAX_STRING_BYTES + 1);
  assert.throws(() => sizeString(long, false), KafkaCodecError);
  assert.throws(() => new KafkaWriter(MAX_STRING_BYTES + 10).compactString(long), KafkaCodecError);
});

test('bytes, uuids and arrays refuse lengths larger than what is left, before allocating anything', () => {
  assert.deepStrictEqual(reader('00000002 abcd').bytes(), hex('abcd'));
  assert.equal(reader('ffffffff').nullableBytes(), null);
  assert.deepStrictEqual(reader('03 abcd').compactBytes(), hex('abcd'));
  assert.throws(() => reader('7fffffff 00').bytes(), KafkaCodecError);
  assert.throws(() => reader('ffffffff0f 00').compactBytes(), KafkaCodecError);
  assert.throws(() => reader('7fffffff 00').arrayLength(), /exceeds/);
  assert.throws(() => reader('ffffffff0f').compactArrayLength(), /exceeds/);
  assert.throws(() => reader('ffffffff').arrayLength(), /non-nullable/);
  assert.equal(reader('ffffffff').nullableArrayLength(), -1);
  assert.equal(reader('00').compactNullableArrayLength(), -1);
  assert.throws(() => reader('80000000').nullableArrayLength(), KafkaCodecError);
  assert.throws(() => reader('00'.repeat(15)).uuid(), KafkaCodecError);
  assert.throws(() => reader('ffffffff0f').taggedFieldCount(), KafkaCodecError);
});

test('decoded bytes are views into the input, not copies', () => {
  const input = hex('00000002 abcd');
  const b = new KafkaReader(input).bytes();
  input[4] = 0x11;
  assert.equal(b[0], 0x11);
});

test('a reader never reads outside its range', () => {
  const buf = hex('0001 0002 0003');
  const r = new KafkaReader(buf, 2, 4);
  assert.equal(r.int16(), 2);
  assert.throws(() => r.int16(), KafkaCodecError);
  assert.throws(() => new KafkaReader(buf, 4, 8), KafkaCodecError);
});

test('tagged field sections: unknown tags are skipped, sizes are bounded', () => {
  const r = reader('02 05 02 aabb 07 00 ff');
  r.skipTaggedFields();
  assert.equal(r.int8(), -1);
  assert.throws(() => reader('01 05 09 aabb').skipTaggedFields(), KafkaCodecError);
});

test('the writer refuses to over-run or under-fill its presized buffer', () => {
  const w = new KafkaWriter(3);
  w.int16(1);
  assert.throws(() => w.int16(2), /under-counted/);
  assert.throws(() => w.finish(), /over-counted/);
  assert.throws(() => new KafkaWriter(16).uuid(Buffer.alloc(15)), KafkaCodecError);
  assert.throws(() => new KafkaWriter(8).uvarint(-1), KafkaCodecError);
});
