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
 * Ack file = a flat sequence of 4-byte entries, appended as records are delivered and acknowledged:
 *
 *   bit 31  30 ............................................... 0
 *       +---+--------------------------------------------------+
 *       | D | offset of a record's header in the segment (u31) |   u32 big-endian
 *       +---+--------------------------------------------------+
 *    D = 0  the record is acked: it is gone.
 *    D = 1  the record was handed to a consumer that owes an ack ("delivered" marker). A live record
 *           with k markers was delivered k times without an ack: after a restart it comes back marked
 *           redelivered with a delivery count of k. Offsets fit 31 bits (MAX_SEGMENT_BYTES = 2^31).
 *    A trailing partial entry (torn write) is ignored; entries naming no record are ignored.
 *    Files written before markers existed hold D = 0 entries only and read the same way.
 */

/** "PBSG" read as one big-endian u32. */
export const SEGMENT_MAGIC = 0x50425347;
export const SEGMENT_FORMAT_VERSION = 1;
/** Bytes in the segment header drawn above. */
export const SEGMENT_HEADER_BYTES = 16;
/** Bytes in a record header: length u32 + crc32c u32. */
export const RECORD_HEADER_BYTES = 8;
/** Bytes in one ack-file entry: one u32 offset. */
export const ACK_ENTRY_BYTES = 4;
/** Bit 31 of an ack-file entry: a delivered marker, not an ack (see the drawing). */
export const ACK_DELIVERED_BIT = 0x8000_0000;

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
