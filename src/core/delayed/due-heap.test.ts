import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DueHeap } from './due-heap.js';

function drain(heap: DueHeap): number[][] {
  const out: number[][] = [];
  while (heap.size > 0) {
    out.push([heap.topDue(), heap.topSegment(), heap.topOffset(), heap.topLength()]);
    heap.pop();
  }
  return out;
}

test('entries come out by due time, earliest first', () => {
  const heap = new DueHeap();
  heap.push(300, 1, 100, 10);
  heap.push(100, 1, 200, 20);
  heap.push(200, 1, 300, 30);
  assert.deepEqual(drain(heap), [
    [100, 1, 200, 20],
    [200, 1, 300, 30],
    [300, 1, 100, 10],
  ]);
  assert.equal(heap.topDue(), Infinity);
});

test('entries due at the same time come out in log order (segment, then offset)', () => {
  const heap = new DueHeap();
  heap.push(50, 2, 10, 1);
  heap.push(50, 1, 900, 2);
  heap.push(50, 1, 40, 3);
  heap.push(10, 3, 0, 4);
  assert.deepEqual(
    drain(heap).map((e) => e[3]),
    [4, 3, 2, 1],
  );
});

test('100k random due times come out sorted, with their positions, across growth and interleaved pops', () => {
  const heap = new DueHeap();
  const expected: Array<[number, number, number, number]> = [];
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const popped: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    const due = 1_700_000_000_000 + Math.floor(random() * 1_000_000);
    const segment = 1 + (i >> 12);
    const offset = (i & 4095) * 64;
    heap.push(due, segment, offset, i);
    expected.push([due, segment, offset, i]);
    if (i % 7 === 0) {
      popped.push(heap.topDue());
      heap.pop();
    }
  }
  // each interleaved pop returned the minimum of what was in the heap at the time, so the rest drains sorted
  const rest = drain(heap);
  for (let i = 1; i < rest.length; i++) {
    const [a, b] = [rest[i - 1]!, rest[i]!];
    assert.ok(a[0]! < b[0]! || (a[0] === b[0] && (a[1]! < b[1]! || (a[1] === b[1] && a[2]! < b[2]!))), `out of order at ${i}`);
  }
  assert.equal(rest.length + popped.length, 100_000);
  // every entry came out exactly once, with the position it went in with
  const byLength = new Map(expected.map((e) => [e[3], e]));
  for (const e of rest) assert.deepEqual(e, byLength.get(e[3]!));
  const allDues = [...popped, ...rest.map((e) => e[0]!)].sort((x, y) => x - y);
  assert.deepEqual(allDues, expected.map((e) => e[0]).sort((x, y) => x - y));
});

test('an emptied large heap gives its memory back', () => {
  const heap = new DueHeap();
  for (let i = 0; i < 200_000; i++) heap.push(i, 1, i, 1);
  assert.ok(heap.capacityBytes >= 200_000 * 20);
  while (heap.size > 0) heap.pop();
  assert.ok(heap.capacityBytes <= 1024 * 20);
  heap.push(5, 1, 1, 1);
  assert.equal(heap.topDue(), 5);
});
