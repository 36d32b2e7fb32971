/**
 * Reading an ack file at recovery (layout of both versions: format.ts), and the bytes it is rewritten to.
 *
 * parseAckFile splits a whole ack file into the entries that check out and the damage found:
 *
 *   version 2  header, then 8-byte entries; an entry whose crc32c fails is damage: it is not returned
 *              (whatever record it named stays live: a redelivery, never a lost message), and its bytes
 *              are returned as a damaged range for the side file (damage.ts). Fixed-size entries keep
 *              their places, so one bad entry never shifts the ones after it.
 *   version 1  (headerless, no checksums) every whole 4-byte entry is returned; the log then rewrites
 *              the file in version 2 (the conversion an in-place upgrade does once per file).
 *   a header   whose magic is damaged but whose entries check out (at least one 8-byte entry after
 *   damaged    the header passes its crc32c; for a version-1 file that happens by chance with odds of
 *              2^-32 per entry) is read as version 2: the header bytes are damage, the entries are kept.
 *   torn       a final partial entry, or a file shorter than its header whose bytes begin the header,
 *              is a write a crash interrupted (never synced, nothing waited for it): dropped, as before.
 *
 * A header naming a version this Postbox does not read throws UnsupportedFormatError (the data
 * directory check at start-up refuses it first: format-check.ts).
 */

import {
  ACK_ENTRY_BYTES,
  ACK_FILE_HEADER,
  ACK_FORMAT_VERSION,
  ACK_HEADER_BYTES,
  ACK_LEGACY_FORMAT_VERSION,
  ACK_V1_ENTRY_BYTES,
  ackFileVersion,
  crc32cOfUint32,
  writeAckEntry,
} from './format.js';
import { UnsupportedFormatError } from './format-error.js';

/** What the versions an ack file may carry are called in an UnsupportedFormatError. */
export const SUPPORTED_ACK_VERSIONS = `${ACK_LEGACY_FORMAT_VERSION} (no header) and ${ACK_FORMAT_VERSION}`;

/** A run of bytes of an ack file that failed its check: [offset, offset + bytes). */
export interface DamagedAckRange {
  readonly offset: number;
  readonly bytes: number;
}

export interface AckFileContents {
  /** the format the file was found in: ACK_LEGACY_FORMAT_VERSION or ACK_FORMAT_VERSION */
  readonly version: number;
  /** the entries that check out, in file order (u32: delivered bit + offset) */
  readonly entries: Uint32Array;
  /** entries found in the file (checked or not, whole ones only) */
  readonly total: number;
  /** entries that failed their checksum */
  readonly damagedEntries: number;
  /** the damaged bytes, in file order, adjacent bad entries merged into one range */
  readonly damaged: readonly DamagedAckRange[];
  /** the header was damaged (its bytes are the first damaged range) */
  readonly headerDamaged: boolean;
  /** bytes of a torn final entry (or a torn header) dropped */
  readonly tornBytes: number;
}

/** Splits the ack file image `bytes` (`file` names it in errors) into good entries and damage. */
export function parseAckFile(file: string, bytes: Buffer): AckFileContents {
  const length = bytes.length;
  const version = ackFileVersion(bytes, length);
  if (version === -1) {
    return { version: ACK_FORMAT_VERSION, entries: new Uint32Array(0), total: 0, damagedEntries: 0, damaged: [], headerDamaged: false, tornBytes: length };
  }
  if (version !== ACK_LEGACY_FORMAT_VERSION && version !== ACK_FORMAT_VERSION) {
    throw new UnsupportedFormatError(file, version, SUPPORTED_ACK_VERSIONS, 'ack file format version');
  }
  if (version === ACK_LEGACY_FORMAT_VERSION && !looksLikeVersion2(bytes)) return parseVersion1(bytes);
  return parseVersion2(bytes, version === ACK_LEGACY_FORMAT_VERSION);
}

function parseVersion1(bytes: Buffer): AckFileContents {
  const total = Math.floor(bytes.length / ACK_V1_ENTRY_BYTES);
  const entries = new Uint32Array(total);
  for (let i = 0; i < total; i++) entries[i] = bytes.readUInt32BE(i * ACK_V1_ENTRY_BYTES);
  return {
    version: ACK_LEGACY_FORMAT_VERSION,
    entries,
    total,
    damagedEntries: 0,
    damaged: [],
    headerDamaged: false,
    tornBytes: bytes.length - total * ACK_V1_ENTRY_BYTES,
  };
}

function parseVersion2(bytes: Buffer, headerDamaged: boolean): AckFileContents {
  const total = Math.floor((bytes.length - ACK_HEADER_BYTES) / ACK_ENTRY_BYTES);
  const entries = new Uint32Array(total);
  const damaged: DamagedAckRange[] = [];
  if (headerDamaged) damaged.push({ offset: 0, bytes: ACK_HEADER_BYTES });
  let kept = 0;
  let damagedEntries = 0;
  for (let i = 0; i < total; i++) {
    const at = ACK_HEADER_BYTES + i * ACK_ENTRY_BYTES;
    const entry = bytes.readUInt32BE(at);
    if (crc32cOfUint32(entry) === bytes.readUInt32BE(at + 4)) {
      entries[kept++] = entry;
      continue;
    }
    damagedEntries++;
    const last = damaged[damaged.length - 1];
    if (last !== undefined && last.offset + last.bytes === at) damaged[damaged.length - 1] = { offset: last.offset, bytes: last.bytes + ACK_ENTRY_BYTES };
    else damaged.push({ offset: at, bytes: ACK_ENTRY_BYTES });
  }
  return {
    version: ACK_FORMAT_VERSION,
    entries: entries.subarray(0, kept),
    total,
    damagedEntries,
    damaged,
    headerDamaged,
    tornBytes: bytes.length - ACK_HEADER_BYTES - total * ACK_ENTRY_BYTES,
  };
}

/** A file without a sound header at least one of whose 8-byte entries after the header place checks out. */
function looksLikeVersion2(bytes: Buffer): boolean {
  for (let at = ACK_HEADER_BYTES; at + ACK_ENTRY_BYTES <= bytes.length; at += ACK_ENTRY_BYTES) {
    if (crc32cOfUint32(bytes.readUInt32BE(at)) === bytes.readUInt32BE(at + 4)) return true;
  }
  return false;
}

/** A version-2 ack file holding the first `count` of `entries`: header, then each entry with its checksum. */
export function encodeAckFile(entries: Uint32Array, count: number): Buffer {
  const bytes = Buffer.allocUnsafe(ACK_HEADER_BYTES + count * ACK_ENTRY_BYTES);
  ACK_FILE_HEADER.copy(bytes, 0);
  for (let i = 0; i < count; i++) writeAckEntry(bytes, ACK_HEADER_BYTES + i * ACK_ENTRY_BYTES, entries[i]!);
  return bytes;
}

/** Where a version-2 ack file of `size` bytes is cut back to after a torn append: whole entries, or 0 without a whole header. */
export function wholeAckFileSize(size: number): number {
  if (size < ACK_HEADER_BYTES) return 0;
  return size - ((size - ACK_HEADER_BYTES) % ACK_ENTRY_BYTES);
}
