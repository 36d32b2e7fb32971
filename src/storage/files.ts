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

/** Mode of files that hold credentials (password hashes): readable by the broker's user only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of a data directory the broker creates. */
export const PRIVATE_DIRECTORY_MODE = 0o700;

/**
 * Replaces `file` with `text` atomically and durably: write `<file>.tmp`, fsync it, rename it over `file`,
 * fsync the directory. After a crash the file holds either the old or the new text, never a mix. With
 * `mode` the new file gets exactly that mode (a leftover temp file's looser mode included).
 */
export function writeFileAtomic(file: string, text: string, mode?: number): void {
  const temp = `${file}.tmp`;
  const fd = fs.openSync(temp, 'w', mode ?? 0o666);
  try {
    if (mode !== undefined) setMode(fd, mode);
    writeFully(fd, Buffer.from(text), Buffer.byteLength(text), null);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  syncDirectory(path.dirname(file));
}

/** fchmod, where modes mean something (not on Windows) */
export function setMode(fd: number, mode: number): void {
  if (process.platform !== 'win32') fs.fchmodSync(fd, mode);
}

/**
 * Tightens `files` (those that exist) to `mode` where they allow more (group or others may read or write).
 * Returns "name (was 0644)" for each one changed, for the caller's one warning line.
 */
export function tightenModes(files: readonly string[], mode: number): string[] {
  if (process.platform === 'win32') return [];
  const changed: string[] = [];
  for (const file of files) {
    let current: number;
    try {
      current = fs.statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if ((current & ~mode) === 0) continue;
    fs.chmodSync(file, mode);
    changed.push(`${path.basename(file)} (was 0${current.toString(8)})`);
  }
  return changed;
}
