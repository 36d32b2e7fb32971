import test from 'node:test';
import assert from 'node:assert/strict';
import {
  VARINT_TOO_LONG,
  VARINT_TRUNCATED,
  readUvarint,
  unzigzag32,
  uvarintSize,
  uvarintRead,
  uvarlongSize,
  varintSize,
  writeUvarint,
  writeUvarlong,
  writeVarint,
  zigzag32,
} from './varint.js';

const INT32_EDGES = [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 1048575, -1048576, 1048576, 134217727, -134217728, 134217728, 2147483647, -2147483648];

test('a varint reads back as written at every length boundary, in exactly varintSize() bytes', () => {
  const bytes = new Uint8Array(8);
  for (const value of INT32_EDGES) {
    const end = writeVarint(bytes, 1, value);
    assert.equal(end - 1, varintSize(value), `size of ${value}`);
    const unsigned = readUvarint(bytes, 1, end);
    assert.equal(uvarintRead.end, end);
    assert.equal(unzigzag32(unsigned), value);
  }
});

test('the zigzag form is the one Kafka draws: 0, -1, 1, -2 → 0, 1, 2, 3; the extremes → 2^32 - 2, 2^32 - 1', () => {
  assert.deepEqual([0, -1, 1, -2, 2].map(zigzag32), [0, 1, 2, 3, 4]);
  assert.equal(zigzag32(2147483647), 4294967294);
  assert.equal(zigzag32(-2147483648), 4294967295);
  assert.deepEqual(
    [...Buffer.from([0xd8, 0x04])],
    (() => {
      const b = Buffer.alloc(2);
      writeVarint(b, 0, 300);
      return [...b];
    })(),
  );
  assert.deepEqual(
    [...Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])],
    (() => {
      const b = Buffer.alloc(5);
      writeVarint(b, 0, -2147483648);
      return [...b];
    })(),
  );
});

test('a uvarint written in more bytes than it needs is accepted; a 5th byte over 4 bits and a cut one are refused', () => {
  const padded = Uint8Array.from([0x80, 0x80, 0x00]);
  assert.equal(readUvarint(padded, 0, 3), 0);
  assert.equal(uvarintRead.end, 3);
  assert.equal(readUvarint(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x10]), 0, 5), VARINT_TOO_LONG);
  assert.equal(readUvarint(Uint8Array.from([0xff, 0xff]), 0, 2), VARINT_TRUNCATED);
  // the window's end counts, not the buffer's
  assert.equal(readUvarint(Uint8Array.from([0x80, 0x01]), 0, 1), VARINT_TRUNCATED);
  assert.equal(readUvarint(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 0, 5), 4294967295);
  assert.equal(uvarintRead.end, 5);
});

test('uvarlongs of safe integers take uvarlongSize() bytes and agree with uvarints below 2^32', () => {
  const bytes = new Uint8Array(10);
  for (const value of [0, 127, 128, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
    const end = writeUvarlong(bytes, 0, value);
    assert.equal(end, uvarlongSize(value));
    if (value <= 0xffffffff) {
      const again = new Uint8Array(10);
      assert.equal(writeUvarint(again, 0, value), end);
      assert.deepEqual(again.subarray(0, end), bytes.subarray(0, end));
      assert.equal(uvarintSize(value), end);
    }
  }
});
