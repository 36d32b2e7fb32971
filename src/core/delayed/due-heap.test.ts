import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DueHeap } from './due-heap.js';

function drain(heap: DueHeap): number[][] {
  const out: number[][] = [];
  while (heap.size > 0) {
    out.push([heap.topDue(), heap.topSegment(), heap.topOffset()]);
    heap.pop();
  }
  return out;
}

test('entries come out by due time, earliest first', () => {
  const heap = new DueHeap();
  heap.push(300, 1, 100);
  heap.push(100, 1, 200);
  heap.push(200, 1, 300);
  assert.deepEqual(drain(heap), [
    [100, 1, 200],
    [200, 1, 300],
    [300, 1, 100],
  ]);
  assert.equal(heap.topDue(), Infinity);
});

test('entries due at the same time come out in log order (segment, then offset)', () => {
  const heap = new DueHeap();
  heap.push(50, 2, 10);
  heap.push(50, 1, 900);
  heap.push(50, 1, 40);
  heap.push(10, 3, 0);
  assert.deepEqual(
    drain(heap).map((e) => `${e[1]}:${e[2]}`),
    ['3:0', '1:40', '1:900', '2:10'],
  );
});

test('300k random due times come out sorted, with their positions, across chunk growth and interleaved pops', () => {
  const heap = new DueHeap();
  const expected = new Map<string, number>();
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const popped: number[] = [];
  for (let i = 0; i < 300_000; i++) {
    const due = 1_700_000_000_000 + Math.floor(random() * 1_000_000);
    const segment = 1 + (i >> 12);
    const offset = (i & 4095) * 64;
    heap.push(due, segment, offset);
    expected.set(`${segment}:${offset}`, due);
    if (i % 7 === 0) {
      popped.push(heap.topDue());
      expected.delete(`${heap.topSegment()}:${heap.topOffset()}`);
      heap.pop();
    }
  }
  // each interleaved pop returned the minimum of what was in the heap at the time, so the rest drains sorted
  const rest = drain(heap);
  for (let i = 1; i < rest.length; i++) {
    const [a, b] = [rest[i - 1]!, rest[i]!];
    assert.ok(a[0]! < b[0]! || (a[0] === b[0] && (a[1]! < b[1]! || (a[1] === b[1] && a[2]! < b[2]!))), `out of order at ${i}`);
  }
  assert.equal(rest.length + popped.length, 300_000);
  // every entry still held came out exactly once, with the due time it went in with
  assert.equal(rest.length, expected.size);
  for (const [due, segment, offset] of rest) assert.equal(expected.get(`${segment}:${offset}`), due);
});

test('a heap holds a million entries in at most one chunk (512 KiB) more than 16 bytes each', () => {
  const heap = new DueHeap();
  for (let i = 0; i < 1_000_000; i++) heap.push(1000 + i, 1 + (i >> 16), i & 0xffff);
  assert.ok(heap.capacityBytes >= 1_000_000 * 16);
  assert.ok(heap.capacityBytes <= 1_000_000 * 16 + 512 * 1024, `${heap.capacityBytes} bytes`);
  assert.equal(heap.topDue(), 1000);
});

test('a draining heap gives chunks back as it goes, and an emptied one its memory', () => {
  const heap = new DueHeap();
  for (let i = 0; i < 200_000; i++) heap.push(i, 1, i);
  const full = heap.capacityBytes;
  for (let i = 0; i < 100_000; i++) heap.pop();
  assert.ok(heap.capacityBytes <= full / 2 + 2 * 512 * 1024, `${heap.capacityBytes} of ${full} bytes kept at half size`);
  assert.equal(heap.topDue(), 100_000);
  while (heap.size > 0) heap.pop();
  assert.ok(heap.capacityBytes <= 8192 * 16);
  heap.push(5, 1, 1);
  assert.equal(heap.topDue(), 5);
});
