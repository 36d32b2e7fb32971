import { StartupError } from '../util/startup-error.js';

/**
 * A data file written in a format version this Postbox does not read: a newer Postbox wrote it (or an
 * operator copied a newer data directory). Recovery must not "repair" such a file — moving it aside
 * drops a queue's messages, and restarting a partition at a lower offset reuses offsets that consumers
 * have committed — so the broker refuses to start, with one line naming the file and both versions,
 * before it changes anything in the data directory.
 */

export class UnsupportedFormatError extends StartupError {
  constructor(
    readonly file: string,
    readonly found: number,
    readonly supported: number | string,
    what = 'format version',
  ) {
    super(
      `${file}: ${what} ${found} (this Postbox reads ${supported}); ` +
        'written by a newer Postbox? Refusing to open it (upgrade Postbox, or use a data directory this version wrote)',
    );
    this.name = 'UnsupportedFormatError';
  }
}

/**
 * Throws UnsupportedFormatError when `bytes` (the start of `file`) carries `magic` at byte 0 and a
 * big-endian u16 format version at byte 4 other than `supported`. A file too short for a header, or
 * with another magic, is not judged here (a torn creation or corruption: the log decides).
 */
export function checkFormatVersion(file: string, bytes: Uint8Array, length: number, magic: number, supported: number): void {
  if (length < 6) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  if (view.getUint32(0) !== magic) return;
  const version = view.getUint16(4);
  if (version !== supported) throw new UnsupportedFormatError(file, version, supported);
}
