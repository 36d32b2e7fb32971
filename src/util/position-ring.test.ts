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
  assert.deepEqual(drain(ring), [
    [0, 50, 7, 1],
    [1, 100, 5, 0],
    [1, 200, 5, 0],
  ]);
});

test('a ring emptied after a large backlog still works and keeps order', () => {
  const ring = new PositionRing();
  for (let i = 0; i < 200_000; i++) ring.push(1, i, 1, 0);
  assert.equal(drain(ring).length, 200_000);
  ring.push(2, 7, 3, 0);
  ring.push(2, 8, 3, 0);
  assert.deepEqual(drain(ring), [
    [2, 7, 3, 0],
    [2, 8, 3, 0],
  ]);
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

test('requeues and pushes interleaved across chunk boundaries keep order (a model deque agrees)', () => {
  const ring = new PositionRing();
  const model: number[] = [];
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  let next = 0;
  for (let step = 0; step < 200_000; step++) {
    const r = random();
    if (r < 0.5) {
      ring.push(1, next, 3, 0, 0, 0, next % 5);
      model.push(next++);
    } else if (r < 0.6) {
      ring.unshift(1, next, 3, 1, 0, 0, next % 5);
      model.unshift(next++);
    } else if (model.length > 0) {
      const expected = model.shift()!;
      assert.equal(ring.headOffset(), expected);
      assert.equal(ring.headBodySize(), expected % 5);
      ring.shift();
    }
    assert.equal(ring.size, model.length);
  }
  const seen: number[] = [];
  ring.forEach((_segment, offset) => seen.push(offset));
  assert.deepEqual(seen, model);
});

test('a million positions take 13 bytes each plus under 5% (no outgrown copies), and a drained ring gives them back', () => {
  const ring = new PositionRing();
  for (let i = 0; i < 1_000_000; i++) ring.push(1 + (i >> 16), i & 0xffff, 100, 0);
  assert.ok(ring.capacityBytes >= 13_000_000);
  assert.ok(ring.capacityBytes <= 13_000_000 * 1.05, `${ring.capacityBytes} bytes`);
  for (let i = 0; i < 1_000_000; i++) {
    assert.equal(ring.headOffset(), i & 0xffff);
    ring.shift();
  }
  assert.ok(ring.capacityBytes <= 2 * 16384 * 13, `${ring.capacityBytes} bytes after draining`);
});

test('a steady backlog reuses its emptied chunk instead of allocating', () => {
  const ring = new PositionRing();
  for (let i = 0; i < 5000; i++) ring.push(1, i, 1, 0);
  // the first chunks were sized while the backlog grew; within a few passes every chunk fits the backlog
  for (let i = 0; i < 40_000; i++) {
    ring.shift();
    ring.push(1, 5000 + i, 1, 0);
  }
  const settled = ring.capacityBytes;
  assert.ok(settled <= 3 * 5000 * 13, `${settled} bytes for a backlog of 5000`);
  for (let i = 0; i < 50_000; i++) {
    assert.equal(ring.headOffset(), 40_000 + i);
    ring.shift();
    ring.push(1, 45_000 + i, 1, 0);
  }
  assert.equal(ring.capacityBytes, settled);
  assert.equal(ring.size, 5000);
});
