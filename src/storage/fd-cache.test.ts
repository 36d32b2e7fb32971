import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CachedFile, FdCache, MIN_OPEN_FILES, storageOpenFileBudget } from './fd-cache.js';

function files(count: number): CachedFile[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-fdcache-'));
  return Array.from({ length: count }, (_, i) => {
    const file = path.join(dir, `f${i}`);
    fs.writeFileSync(file, `file ${i}`);
    return new CachedFile(file, 'r+');
  });
}

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

test('past its budget the cache closes the least recently used descriptor and reopens a file on demand', () => {
  const cache = new FdCache({ capacity: MIN_OPEN_FILES, syncBeforeClose: false });
  const all = files(MIN_OPEN_FILES + 4);
  for (const f of all) cache.fd(f);
  assert.equal(cache.size, MIN_OPEN_FILES);
  assert.deepEqual(
    all.map((f) => f.fd >= 0),
    all.map((_, i) => i >= 4),
    'the four used first were closed',
  );
  const buffer = Buffer.alloc(6);
  fs.readSync(cache.fd(all[0]!), buffer, 0, 6, 0);
  assert.equal(buffer.toString(), 'file 0');
  assert.equal(all[4]!.fd, -1, 'reopening file 0 closed the least recently used one');
  cache.closeAll();
  assert.equal(cache.size, 0);
});

test('a pinned descriptor is never closed to make room, and a released one closes with its last pin', () => {
  const cache = new FdCache({ capacity: MIN_OPEN_FILES, syncBeforeClose: true });
  const all = files(MIN_OPEN_FILES * 2);
  const pinned = all[0]!;
  const fd = cache.fd(pinned);
  cache.written(pinned);
  pinned.unsynced = false; // handed to a sync
  cache.pin(pinned);
  for (const f of all.slice(1)) cache.fd(f);
  assert.equal(pinned.fd, fd);
  cache.release(pinned);
  assert.ok(isOpen(fd), 'a sync is in flight on it');
  cache.unpin(pinned);
  assert.equal(isOpen(fd), false);
  cache.closeAll();
});

test('a written file is synced before its descriptor is closed, so the next round finds nothing to sync', () => {
  const cache = new FdCache({ capacity: MIN_OPEN_FILES, syncBeforeClose: true });
  const all = files(MIN_OPEN_FILES + 1);
  fs.writeSync(cache.fd(all[0]!), 'more', 0);
  cache.written(all[0]!);
  for (const f of all.slice(1)) cache.fd(f);
  assert.equal(all[0]!.fd, -1);
  assert.equal(all[0]!.unsynced, false);
  assert.equal(cache.counters.evicted, 1);
  cache.closeAll();
});

test('sweep closes the descriptors nobody used since the previous sweep', () => {
  const cache = new FdCache({ capacity: 64, syncBeforeClose: false });
  const all = files(10);
  for (const f of all) cache.fd(f);
  assert.equal(cache.sweep(), 0, 'all used in this generation');
  cache.fd(all[3]!);
  cache.sweep();
  assert.deepEqual(
    all.map((f) => f.fd >= 0),
    all.map((_, i) => i === 3),
  );
  cache.closeAll();
});

test('the default budget is half the soft open-file limit, within its bounds; a configured one wins', () => {
  assert.equal(storageOpenFileBudget(0, 1024), 512);
  assert.equal(storageOpenFileBudget(0, 1_048_576), 4096);
  assert.equal(storageOpenFileBudget(0, 10), MIN_OPEN_FILES);
  assert.equal(storageOpenFileBudget(0, null), 512);
  assert.equal(storageOpenFileBudget(300, 1024), 300);
});
