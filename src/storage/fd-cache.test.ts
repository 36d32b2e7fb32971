import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CachedFile, FdCache, FileSlice, MIN_OPEN_FILES, storageOpenFileBudget } from './fd-cache.js';

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

test('a held FileSlice costs no descriptor while it waits, and one released by its log meanwhile reads the file it was cut from', () => {
  const cache = new FdCache({ capacity: MIN_OPEN_FILES, syncBeforeClose: false });
  const all = files(MIN_OPEN_FILES * 2);
  const file = all[0]!;
  const slice = new FileSlice(cache, file, 5, 1); // "file 0": the "0"
  cache.fd(file);
  for (const f of all.slice(1)) cache.fd(f);
  assert.equal(file.fd, -1, 'a held file may be closed to make room');
  const into = Buffer.alloc(3, '-');
  slice.read(into, 1, 0, 1);
  assert.equal(into.toString(), '-0-', 'the read reopens it by its path');
  for (const f of all.slice(1)) cache.fd(f);
  assert.equal(file.fd, -1);
  // the log releases it (retention, compaction), then deletes it and puts another file at its path
  cache.release(file);
  const fd = file.fd;
  assert.ok(fd >= 0 && isOpen(fd), 'released while held: opened again and kept for the slice');
  fs.unlinkSync(file.path);
  fs.writeFileSync(file.path, 'other X');
  for (const f of all.slice(1)) cache.fd(f);
  cache.sweep();
  cache.sweep();
  assert.equal(file.fd, fd, 'neither room-making nor sweeps close it now');
  into.fill('-');
  slice.read(into, 1, 0, 1);
  assert.equal(into.toString(), '-0-', 'the bytes of the file as it was');
  assert.throws(() => slice.read(into, 0, 0, 2), RangeError, 'not past the slice');
  slice.release();
  assert.equal(isOpen(fd), false, 'closed with the last hold');
  slice.release(); // idempotent
  assert.throws(() => slice.read(into, 0, 0, 1), /released slice/);
  cache.closeAll();
});

test('a FileSlice whose file was cut short fails its read with an error naming the file', () => {
  const cache = new FdCache({ capacity: MIN_OPEN_FILES, syncBeforeClose: false });
  const [file] = files(1);
  const slice = new FileSlice(cache, file!, 0, 6);
  fs.truncateSync(file!.path, 2);
  assert.throws(
    () => slice.read(Buffer.alloc(6), 0, 0, 6),
    (err: Error) => err.message.includes(file!.path) && /end of file/.test(err.message),
  );
  slice.release();
  cache.closeAll();
});
