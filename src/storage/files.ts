/** Small synchronous file helpers shared by the storage engine. */

import fs from 'node:fs';

/** write() until `length` bytes of `buffer` are written at `position` (null: at the fd's file position). */
export function writeFully(fd: number, buffer: Buffer, length: number, position: number | null): void {
  let written = 0;
  while (written < length) {
    const count = fs.writeSync(fd, buffer, written, length - written, position === null ? null : position + written);
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

export function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
