/** Small synchronous file helpers shared by the storage engine. */

import fs from 'node:fs';
import path from 'node:path';
import { writeAt } from './faults.js';

/** write() until `length` bytes of `buffer` are written at `position` (null: at the fd's file position). */
export function writeFully(fd: number, buffer: Buffer, length: number, position: number | null): void {
  let written = 0;
  while (written < length) {
    const count = writeAt(fd, buffer, written, length - written, position === null ? null : position + written);
    if (count <= 0) throw new Error(`write returned ${count}`);
    written += count;
  }
}

/** read() until `length` bytes at `position` are in `buffer`; a short file is an error. */
export function readFully(fd: number, buffer: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const count = fs.readSync(fd, buffer, done, length - done, position + done);
    if (count === 0) throw new Error(`unexpected end of file at ${position + done} (wanted ${length} bytes at ${position})`);
    done += count;
  }
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // EIO on close: nothing useful to do; write and fsync errors are reported where they happen
  }
}

export function unlinkIfExists(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** The names in `dir`; none when it does not exist (any other error is thrown). */
export function readdirIfExists(dir: string): string[] {
  if (!fs.existsSync(dir)) return []; // the usual case for an empty queue: no exception to build
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Creates `dir` (and its parents) if missing, before the first file goes into it. Returns true when it was
 * missing: the caller then owes its parent an fsync (in its next round) for the new entry to survive a power loss.
 */
export function ensureDirectory(dir: string): boolean {
  if (fs.existsSync(dir)) return false;
  fs.mkdirSync(dir, { recursive: true });
  return true;
}

export function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** fsync a directory, so a rename or a new file in it survives a power loss. */
export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replaces `file` with `text` atomically and durably: write `<file>.tmp`, fsync it, rename it over `file`,
 * fsync the directory. After a crash the file holds either the old or the new text, never a mix.
 */
export function writeFileAtomic(file: string, text: string): void {
  const temp = `${file}.tmp`;
  const fd = fs.openSync(temp, 'w');
  try {
    writeFully(fd, Buffer.from(text), Buffer.byteLength(text), null);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  syncDirectory(path.dirname(file));
}
