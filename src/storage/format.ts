/**
 * On-disk layout of a segment log. Storage knows bytes, offsets and files only.
 *
 * A log is one directory holding numbered segment files and, beside each, an ack file:
 *
 *   00000001.seg   00000001.ack   00000002.seg   00000002.ack ...
 *   (8-digit zero-padded decimal segment number; the ack file exists once a record of the segment is acked)
 *
 * Segment file = segment header, then records back to back until end of file:
 *
 *   byte  0     1     2     3     4     5     6     7     8     9    10    11    12    13    14    15
 *       +-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+
 *       | 'P' | 'B' | 'S' | 'G' |  version  | reserved  |  segment number u32   |     reserved u32      |
 *       | 50  | 42  | 53  | 47  | 00  | 01  | 00  | 00  |  big-endian           | 00  | 00  | 00  | 00  |
 *       +-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+
 *    byte 0..3  magic "PBSG"
 *    byte 4..5  format version, big-endian, = 1
 *    byte 6..7  reserved, written as 0, ignored on read
 *    byte 8..11 segment number, big-endian, equal to the number in the file name
 *    byte 12..15 reserved, written as 0, ignored on read
 *
 * Record (at any offset >= 16; the record's "offset" is the offset of its first header byte):
 *
 *   +0       +4            +8                          +8+length
 *   +--------+-------------+---------------------------+
 *   | length | crc32c      | payload (length bytes)    |
 *   | u32 BE | u32 BE      | opaque                    |
 *   +--------+-------------+---------------------------+
 *    length  payload bytes only (not the 8 header bytes); 1 <= length <= MAX_RECORD_PAYLOAD_BYTES
 *    crc32c  CRC-32C (Castagnoli) of the payload bytes
 *
 *   A zero length is never written: crc32c of nothing is 0, so a zero-filled tail (which some
 *   filesystems leave after a crash) would otherwise parse as an endless run of valid empty records.
 *
 * Ack file, format version 2 = an 8-byte header, then 8-byte entries appended as records are
 * delivered and acknowledged:
 *
 *   byte  0     1     2     3     4     5     6     7
 *       +-----+-----+-----+-----+-----+-----+-----+-----+
 *       | 'P' | 'B' | 'A' | 'K' |  version u32 BE = 2   |     header
 *       | 50  | 42  | 41  | 4b  | 00  | 00  | 00  | 02  |
 *       +-----+-----+-----+-----+-----+-----+-----+-----+
 *
 *   entry (at 8 + 8k):
 *   bit 31  30 ............................. 0
 *       +---+---------------------------------+-----------------------------+
 *       | D | offset of a record's header in  | crc32c of the 4 entry bytes |
 *       |   | the segment (u31)               | before it, u32 BE           |
 *       +---+---------------------------------+-----------------------------+
 *        u32 big-endian                         u32 big-endian
 *    D = 0  the record is acked: it is gone.
 *    D = 1  the record was handed to a consumer that owes an ack ("delivered" marker). A live record
 *           with k markers was delivered k times without an ack: after a restart it comes back marked
 *           redelivered with a delivery count of k. Offsets fit 31 bits (MAX_SEGMENT_BYTES = 2^31).
 *    An entry whose checksum fails is damage: it is ignored (the record it may name stays live: a
 *    redelivery is better than a lost message) and its bytes are kept in a side file (damage.ts).
 *    A trailing partial entry (torn write) is dropped; entries naming no record are ignored.
 *
 * Ack file, format version 1 (Postbox before ack checksums; no header): 4-byte entries, the first u32
 * of the entry above alone. Recovery still reads it, then rewrites the file in version 2 before the
 * log appends to it (tmp file, fsync, rename), so an upgraded broker appends only to version-2 files.
 * The two never mix up: a version-1 file never starts with "PBAK" followed by a u32 below 16 (a
 * version-1 entry is a record offset, and no record starts inside the 16-byte segment header).
 * A version number 3..15 after the magic is a newer format: the broker refuses to start.
 */

/** "PBSG" read as one big-endian u32. */
export const SEGMENT_MAGIC = 0x50425347;
export const SEGMENT_FORMAT_VERSION = 1;
/** Bytes in the segment header drawn above. */
export const SEGMENT_HEADER_BYTES = 16;
/** Bytes in a record header: length u32 + crc32c u32. */
export const RECORD_HEADER_BYTES = 8;
/** Bytes in one ack-file entry (version 2): a u32 offset with the delivered bit, and its crc32c. */
export const ACK_ENTRY_BYTES = 8;
/** Bytes in one entry of a version-1 ack file: the u32 offset alone, no checksum. */
export const ACK_V1_ENTRY_BYTES = 4;
/** "PBAK" read as one big-endian u32: the magic of an ack file's header (version 2 on). */
export const ACK_MAGIC = 0x5042414b;
/** The ack file format this Postbox writes. Version 1 (headerless) is read and converted. */
export const ACK_FORMAT_VERSION = 2;
/** The headerless ack file format of Postbox before ack checksums. */
export const ACK_LEGACY_FORMAT_VERSION = 1;
/** Bytes in an ack file's header: magic u32 + version u32. */
export const ACK_HEADER_BYTES = 8;
/**
 * A u32 after the ack magic below this is a format version: no version-1 entry is below 16 (a record
 * offset, and records start after the 16-byte segment header), so a version-1 file is never mistaken for one.
 */
export const ACK_VERSION_LIMIT = 16;
/** Bit 31 of an ack-file entry: a delivered marker, not an ack (see the drawing). */
export const ACK_DELIVERED_BIT = 0x8000_0000;

/** The header of a new ack file (shared, never written to: writeFully copies it out). */
export const ACK_FILE_HEADER: Buffer = (() => {
  const header = Buffer.alloc(ACK_HEADER_BYTES);
  header.writeUInt32BE(ACK_MAGIC, 0);
  header.writeUInt32BE(ACK_FORMAT_VERSION, 4);
  return header;
})();

/**
 * The format version an ack file's first bytes say: ACK_LEGACY_FORMAT_VERSION for a file without a
 * header, else the version in the header (ACK_FORMAT_VERSION, or a newer one this Postbox does not read).
 * `length` < ACK_HEADER_BYTES: -1 when the bytes are a prefix of a header (a creation torn by a crash).
 */
export function ackFileVersion(bytes: Uint8Array, length: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, Math.min(length, bytes.length));
  if (length < ACK_HEADER_BYTES) {
    for (let i = 0; i < length && i < 4; i++) if (view.getUint8(i) !== ((ACK_MAGIC >>> (24 - 8 * i)) & 0xff)) return ACK_LEGACY_FORMAT_VERSION;
    return length === 0 ? ACK_LEGACY_FORMAT_VERSION : -1;
  }
  if (view.getUint32(0) !== ACK_MAGIC) return ACK_LEGACY_FORMAT_VERSION;
  const version = view.getUint32(4);
  return version < ACK_VERSION_LIMIT ? version : ACK_LEGACY_FORMAT_VERSION;
}

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) lookup table, one byte per step. */
const CRC32C_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32C of the four big-endian bytes of `value`: the checksum of an ack entry. Computed here (four
 * table steps, no allocation) because the ack path runs once per message and a native call would need a
 * Buffer view per entry. Equal to crc32c() of the same four bytes (a unit test holds it to that).
 */
export function crc32cOfUint32(value: number): number {
  let c = 0xffffffff;
  c = CRC32C_TABLE[(c ^ (value >>> 24)) & 0xff]! ^ (c >>> 8);
  c = CRC32C_TABLE[(c ^ (value >>> 16)) & 0xff]! ^ (c >>> 8);
  c = CRC32C_TABLE[(c ^ (value >>> 8)) & 0xff]! ^ (c >>> 8);
  c = CRC32C_TABLE[(c ^ value) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Writes one ack entry (version 2) at `at`: the u32 and its checksum. */
export function writeAckEntry(target: Buffer, at: number, entry: number): void {
  target.writeUInt32BE(entry >>> 0, at);
  target.writeUInt32BE(crc32cOfUint32(entry >>> 0), at + 4);
}

/** Smallest payload: zero-length records are forbidden (see the drawing: a zero tail would look valid). */
export const MIN_RECORD_PAYLOAD_BYTES = 1;
/** Largest payload, 512 MiB: far above any sane message, and keeps offset + record inside a u32 ack entry. */
export const MAX_RECORD_PAYLOAD_BYTES = 512 * 1024 * 1024;
/** Largest configurable segment size, 2 GiB: with MAX_RECORD_PAYLOAD_BYTES every record offset fits a u32. */
export const MAX_SEGMENT_BYTES = 2 * 1024 * 1024 * 1024;
/** Largest segment number: the file name has 8 decimal digits. */
export const MAX_SEGMENT_NUMBER = 99_999_999;

export const SEGMENT_FILE_SUFFIX = '.seg';
export const ACK_FILE_SUFFIX = '.ack';
/** Suffix given to a segment file whose header is unreadable; it is moved aside, never deleted. */
export const CORRUPT_FILE_SUFFIX = '.corrupt';
/** Digits in a segment file name. */
export const SEGMENT_NAME_DIGITS = 8;

const SEGMENT_FILE_PATTERN = /^(\d{8})\.seg$/;
const ACK_FILE_PATTERN = /^(\d{8})\.ack$/;

function paddedNumber(segment: number): string {
  if (!Number.isInteger(segment) || segment < 1 || segment > MAX_SEGMENT_NUMBER) {
    throw new RangeError(`segment number ${segment} outside 1..${MAX_SEGMENT_NUMBER}`);
  }
  return String(segment).padStart(SEGMENT_NAME_DIGITS, '0');
}

/** `00000001.seg` for segment 1. */
export function segmentFileName(segment: number): string {
  return paddedNumber(segment) + SEGMENT_FILE_SUFFIX;
}

/** `00000001.ack` for segment 1. */
export function ackFileName(segment: number): string {
  return paddedNumber(segment) + ACK_FILE_SUFFIX;
}

/** The segment number of a `NNNNNNNN.seg` file name, or -1 when the name is not a segment file. */
export function parseSegmentFileName(name: string): number {
  const match = SEGMENT_FILE_PATTERN.exec(name);
  if (match === null) return -1;
  const segment = Number(match[1]);
  return segment >= 1 ? segment : -1;
}

/** The segment number of a `NNNNNNNN.ack` file name, or -1 when the name is not an ack file. */
export function parseAckFileName(name: string): number {
  const match = ACK_FILE_PATTERN.exec(name);
  if (match === null) return -1;
  const segment = Number(match[1]);
  return segment >= 1 ? segment : -1;
}

/** A fresh 16-byte segment header for `segment`. */
export function encodeSegmentHeader(segment: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES); // zeroed: the reserved fields stay 0
  header.writeUInt32BE(SEGMENT_MAGIC, 0);
  header.writeUInt16BE(SEGMENT_FORMAT_VERSION, 4);
  header.writeUInt32BE(segment, 8);
  return header;
}

/**
 * Checks a segment header. Returns null when it is valid for `expectedSegment`,
 * otherwise a short human-readable reason.
 */
export function checkSegmentHeader(bytes: Buffer, expectedSegment: number): string | null {
  if (bytes.length < SEGMENT_HEADER_BYTES) return `header is ${bytes.length} of ${SEGMENT_HEADER_BYTES} bytes`;
  const magic = bytes.readUInt32BE(0);
  if (magic !== SEGMENT_MAGIC) return `bad magic 0x${magic.toString(16).padStart(8, '0')}`;
  const version = bytes.readUInt16BE(4);
  if (version !== SEGMENT_FORMAT_VERSION) return `unsupported format version ${version}`;
  const segment = bytes.readUInt32BE(8);
  if (segment !== expectedSegment) return `header names segment ${segment}, file name says ${expectedSegment}`;
  return null;
}

/** Writes a record header (length, crc) at `at`. */
export function writeRecordHeader(target: Buffer, at: number, payloadLength: number, crc: number): void {
  target.writeUInt32BE(payloadLength, at);
  target.writeUInt32BE(crc >>> 0, at + 4);
}

export function readRecordLength(source: Buffer, at: number): number {
  return source.readUInt32BE(at);
}

export function readRecordCrc(source: Buffer, at: number): number {
  return source.readUInt32BE(at + 4);
}

/** Bytes a record of `payloadLength` occupies in a segment. */
export function recordBytes(payloadLength: number): number {
  return RECORD_HEADER_BYTES + payloadLength;
}
