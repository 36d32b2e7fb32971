import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PositionRing } from './position-ring.js';

function drain(ring: PositionRing): number[][] {
  const out: number[][] = [];
  while (ring.size > 0) {
    out.push([ring.headSegment(), ring.headOffset(), ring.headLength(), ring.headFlags()]);
    ring.shift();
  }
  return out;
}

test('positions come out in push order across growth and wrap-around', () => {
  const ring = new PositionRing();
  const expected: number[][] = [];
  // interleave pushes and shifts so the ring wraps before it grows
  for (let i = 0; i < 5000; i++) {
    ring.push(i >> 8, i * 10, i + 1, i & 1);
    expected.push([i >> 8, i * 10, i + 1, i & 1]);
    if (i % 3 === 0) {
      assert.deepEqual([ring.headSegment(), ring.headOffset(), ring.headLength(), ring.headFlags()], expected.shift());
      ring.shift();
    }
  }
  assert.equal(ring.size, expected.length);
  assert.deepEqual(drain(ring), expected);
});

test('unshift puts a position before the head (requeue)', () => {
  const ring = new PositionRing();
  ring.push(1, 100, 5, 0);
  ring.push(1, 200, 5, 0);
  ring.unshift(0, 50, 7, 1);
  assert.deepEqual(drain(ring), [[0, 50, 7, 1], [1, 100, 5, 0], [1, 200, 5, 0]]);
});

test('a ring emptied after a large backlog still works and keeps order', () => {
  const ring = new PositionRing();
  for (let i = 0; i < 200_000; i++) ring.push(1, i, 1, 0);
  assert.equal(drain(ring).length, 200_000);
  ring.push(2, 7, 3, 0);
  ring.push(2, 8, 3, 0);
  assert.deepEqual(drain(ring), [[2, 7, 3, 0], [2, 8, 3, 0]]);
});

test('optional columns (expiry, deliveries, body size) appear when first used and survive growth', () => {
  const ring = new PositionRing();
  for (let i = 0; i < 3000; i++) ring.push(1, i, 10, 0, i === 5 ? 12345.5 : 0, i % 7, i === 2000 ? 99 : 0);
  for (let i = 0; i < 3000; i++) {
    assert.equal(ring.headOffset(), i);
    assert.equal(ring.headExpiresAt(), i === 5 ? 12345.5 : 0);
    assert.equal(ring.headDeliveries(), i % 7);
    assert.equal(ring.headBodySize(), i === 2000 ? 99 : 0);
    ring.shift();
  }
});
