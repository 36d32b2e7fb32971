/**
 * What recovery does with damage in the middle of a record log, shared by every log that recovers by
 * scanning (queue segments, partition segments, the group offsets log).
 *
 * Two cases look alike at the first record that does not check out (short header, impossible length,
 * length past the end of the file, wrong CRC), and are told apart by what follows it:
 *
 *   nothing valid after it  → a torn tail: an append a crash interrupted, never confirmed. Truncated,
 *                             as before (not damage; logged as the log always logged it).
 *   a valid record after it → damage (a flipped bit, a bad sector, a stray write): the bad bytes are
 *                             skipped, recovery goes on at the next record whose header and checksum
 *                             hold, the skipped bytes are copied to a side file beside the log, and one
 *                             ERROR line says how many records were kept and how many bytes skipped.
 *
 * Finding the next record: first where the damaged record's own length says the next one starts (the
 * common case, a flipped bit in a payload, costs one checksum), then byte by byte. A candidate is
 * accepted only when its length fits the file and its CRC-32C matches, so garbage is taken for a
 * record with odds of about 2^-32 per position that passes the length check.
 *
 * Side file: `<log file>.damaged-<byte offset>` holding exactly the skipped bytes. Written once: a later
 * recovery that finds the same damage again finds the same bytes in the side file and leaves it alone.
 */

import fs from 'node:fs';
import path from 'node:path';
import { closeQuietly, syncDirectory, writeFully } from './files.js';

/** Infix of a side file holding bytes recovery skipped: `00000001.seg.damaged-4096`. */
export const DAMAGED_FILE_INFIX = '.damaged-';
/** Side files with the same name but other bytes get `-2`, `-3`, ... up to this many, then the last is reused. */
const MAX_DAMAGED_FILE_VARIANTS = 100;

/** Is `name` a side file written by saveDamagedBytes? */
export function isDamagedFileName(name: string): boolean {
  return name.includes(DAMAGED_FILE_INFIX);
}

/**
 * The first position in [from, end) at which `isValidAt` holds, or -1. `hint` (or -1) is tried first:
 * where the damaged record's own length says the next record starts. (`from` >= `end` tries the hint only.)
 */
export function findNextValid(from: number, end: number, hint: number, isValidAt: (at: number) => boolean): number {
  if (hint >= 0 && hint < end && isValidAt(hint)) return hint;
  for (let at = from; at < end; at++) {
    if (isValidAt(at)) return at;
  }
  return -1;
}

/**
 * Copies `bytes` (skipped at byte `offset` of `file`) to a side file beside it and returns the side
 * file's name. When a side file of that name already holds the same bytes (the damage was found at an
 * earlier open), it is kept as it is.
 */
export function saveDamagedBytes(file: string, offset: number | bigint, bytes: Uint8Array, sync: boolean): string {
  const base = `${file}${DAMAGED_FILE_INFIX}${offset}`;
  let target = base;
  for (let variant = 2; variant <= MAX_DAMAGED_FILE_VARIANTS; variant++) {
    const existing = readIfExists(target);
    if (existing === null) break;
    if (existing.equals(bytes)) return path.basename(target);
    target = `${base}-${variant}`;
  }
  const fd = fs.openSync(target, 'w');
  try {
    writeFully(fd, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), bytes.length, 0);
    if (sync) fs.fsyncSync(fd);
  } finally {
    closeQuietly(fd);
  }
  if (sync) syncDirectory(path.dirname(target));
  return path.basename(target);
}

/**
 * saveDamagedBytes for a log that keeps the damaged bytes in place (a queue segment, the offsets log):
 * a side file that cannot be written (a full disk) is reported in the returned text instead of failing
 * the open, since nothing is lost by it.
 */
export function trySaveDamagedBytes(file: string, offset: number, bytes: Uint8Array, sync: boolean): string {
  try {
    return path.join(path.dirname(file), saveDamagedBytes(file, offset, bytes, sync));
  } catch (error) {
    return `(no side file: ${(error as Error).message}; the bytes stay in ${path.basename(file)} at offset ${offset})`;
  }
}

function readIfExists(file: string): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
