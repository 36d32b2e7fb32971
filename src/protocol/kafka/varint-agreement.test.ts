/**
 * The protocol codec (KafkaReader/KafkaWriter) and the record-batch cursor (format/kafka/varint.ts) share one
 * varint implementation (util/varint.ts): they read the same bytes to the same values and refuse the same
 * malformed ones, each with its own error.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { KafkaCodecError, KafkaReader, KafkaWriter, sizeVarint } from './codec.js';
import { ByteCursor } from '../../format/kafka/varint.js';
import { CorruptBatchError } from '../../format/kafka/errors.js';
import { seededRandom } from '../../util/seeded-random.js';

const INT32_EDGES = [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 1048575, -1048576, 1048576, 134217727, -134217728, 134217728, 2147483647, -2147483648];

test('the protocol codec and the record cursor read every varint alike, and refuse the same malformed ones with their own errors', () => {
  const random = seededRandom(21);
  const values: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const value = INT32_EDGES[i % INT32_EDGES.length]! + (i < INT32_EDGES.length ? 0 : Math.floor(random() * 1000) - 500);
    const clamped = Math.max(-2147483648, Math.min(2147483647, value));
    values.push(clamped);
  }
  const writer = new KafkaWriter(values.reduce((sum, v) => sum + sizeVarint(v), 0));
  for (const value of values) writer.varint(value);
  const bytes = writer.finish();
  const reader = new KafkaReader(bytes);
  const cursor = new ByteCursor(bytes);
  for (const value of values) {
    assert.equal(reader.varint(), value);
    assert.equal(cursor.varint('v'), value);
  }
  const tooLong = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]);
  assert.throws(() => new KafkaReader(tooLong).varint(), KafkaCodecError);
  assert.throws(() => new ByteCursor(tooLong).varint('v'), CorruptBatchError);
  const cut = Buffer.from([0x80]);
  assert.throws(() => new KafkaReader(cut).uvarint(), /truncated/);
  assert.throws(() => new ByteCursor(cut).varint('v'), /runs past the end/);
});
