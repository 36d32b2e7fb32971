import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from './buffer-pool.js';

test('a released slab is lent again; views of it are recognised; other buffers are ignored', () => {
  const pool = new BufferPool(1024, 2);
  const a = pool.acquire(100);
  assert.equal(a.length, 100);
  assert.ok(pool.isLent(a) && pool.isLent(a.subarray(10, 20)));
  assert.ok(!pool.isLent(Buffer.alloc(100)));
  pool.release(Buffer.alloc(100)); // not the pool's: ignored
  assert.equal(pool.freeCount, 0);
  pool.release(a.subarray(50)); // any view gives the slab back
  assert.equal(pool.freeCount, 1);
  assert.ok(!pool.isLent(a));
  pool.release(a); // a second release of the same slab is ignored
  assert.equal(pool.freeCount, 1);
  const b = pool.acquire(1024);
  assert.equal(b.buffer, a.buffer, 'the free slab is reused');
  assert.equal(pool.freeCount, 0);
});

test('requests larger than a slab get their own buffer, and at most maxFree slabs are kept', () => {
  const pool = new BufferPool(1024, 2);
  const big = pool.acquire(4096);
  assert.equal(big.length, 4096);
  assert.ok(!pool.isLent(big));
  const lent = [pool.acquire(1), pool.acquire(2), pool.acquire(3)];
  assert.equal(new Set(lent.map((v) => v.buffer)).size, 3, 'each acquire lends a distinct slab');
  for (const v of lent) pool.release(v);
  assert.equal(pool.freeCount, 2);
});

test('requests up to maxSlabBytes get a pooled slab of the next power-of-two size, at most maxFreeLarge kept per size', () => {
  const pool = new BufferPool(1024, 2, 8192, 1);
  const a = pool.acquire(3000);
  assert.equal(a.length, 3000);
  assert.ok(pool.isLent(a));
  assert.equal(a.buffer.byteLength, 4096, 'rounded up to 4 x the slab');
  const b = pool.acquire(4096);
  assert.equal(b.buffer.byteLength, 4096);
  assert.ok(!pool.isLent(pool.acquire(8193)), 'past maxSlabBytes: a plain buffer');
  pool.release(a);
  pool.release(b);
  assert.equal(pool.freeCount, 1, 'one 4 KiB slab kept, the other dropped');
  const c = pool.acquire(2500);
  assert.equal(c.buffer, a.buffer, 'the kept 4 KiB slab serves the next request of that size');
  const d = pool.acquire(1024);
  assert.equal(d.buffer.byteLength, 1024, 'a request that fits a slab still gets a slab');
});
