/**
 * The compression codecs of Kafka record batches (attributes bits 0-2), each with the exact framing
 * Kafka's Java client, librdkafka and kafkajs use, so bytes compressed here decode there and back:
 *
 *   1 gzip    RFC 1952 gzip member(s) (node:zlib).
 *   2 snappy  xerial "snappy-java" stream framing (what Java's SnappyOutputStream and librdkafka write):
 *
 *               byte 0                       8             12            16
 *                   +-------------------------+-------------+-------------+----------+----------+--
 *                   | 82 53 4e 41 50 50 59 00 | version     | compatible  | block    | raw      |
 *                   | \x82 "SNAPPY" \0        | int32 BE =1 | version =1  | length   | snappy   | ...
 *                   |                         |             | int32 BE    | int32 BE | block    |
 *                   +-------------------------+-------------+-------------+----------+----------+--
 *
 *             each block is one raw snappy buffer (a varint of its uncompressed length, then tagged
 *             literals and copies) of at most XERIAL_BLOCK_BYTES of input. Decoding also accepts one
 *             plain raw snappy buffer without the framing (some clients write that).
 *   3 lz4     the LZ4 frame format (magic 04 22 4d 18, frame descriptor, blocks, end mark), checked
 *             here block by block before lz4-napi decodes it:
 *
 *               +-------------+-----+----+--------------+---------+----+-----------+---------+--
 *               | 04 22 4d 18 | FLG | BD | content size | dict id | HC | block     | block   |
 *               | magic, LE   |     |    | u64 LE, if   | u32, if |    | size u32  | data    | ...
 *               |             |     |    | FLG bit 3    | bit 0   |    | LE (bit 31| [+ u32  |
 *               |             |     |    |              |         |    | = stored) | checksum]
 *               +-------------+-----+----+--------------+---------+----+-----------+---------+--
 *               then an end mark u32 0, then a u32 content checksum if FLG bit 2.
 *   4 zstd    standard zstd frame(s) (node:zlib's zstd, Node 22.15+ / 23.8+: zstd.ts), decoded as a stream so
 *             no frame header can make it allocate more than the limit; on a Node without it, zstd calls
 *             throw UnsupportedCompressionError.
 *
 * Every decoder is bounded by `maxBytes` of output (a compressed batch is a few KiB to a few MiB; a
 * "decompression bomb" must fail, not exhaust memory) and reports any malformed input as
 * CorruptBatchError, whatever the library threw.
 */

import zlib from 'node:zlib';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { compressSync as snappyCompressRaw, uncompressSync as snappyUncompressRaw } from 'snappy';
import { zstdCompress, zstdDecompress } from './zstd.js';
import { BatchTooLargeError, CorruptBatchError } from './errors.js';

/** Kafka's compression codecs: attributes & COMPRESSION_CODEC_MASK. */
export const CompressionCodec = {
  None: 0,
  Gzip: 1,
  Snappy: 2,
  Lz4: 3,
  Zstd: 4,
} as const;
export type CompressionCodec = (typeof CompressionCodec)[keyof typeof CompressionCodec];

export const COMPRESSION_CODEC_MASK = 0x07;

/**
 * Default bound on the uncompressed records of one batch, 256 MiB: half of MAX_BATCH_BYTES, and a
 * thousand times Kafka's 1 MB default message.max.bytes, so only a decompression bomb reaches it.
 */
export const MAX_DECOMPRESSED_RECORDS_BYTES = 256 * 1024 * 1024;

/** \x82 "SNAPPY" \0: the first bytes of a xerial snappy stream. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
/** Magic + version int32 + compatible-version int32. */
export const XERIAL_HEADER_BYTES = 16;
/** The version xerial snappy-java writes (and the oldest version that can read it): 1. */
const XERIAL_VERSION = 1;
/** Input bytes per xerial block, 32 KiB: snappy-java's default block size, which Kafka keeps. */
const XERIAL_BLOCK_BYTES = 32 * 1024;
/** Bytes of a xerial block's length prefix. */
export const XERIAL_BLOCK_LENGTH_BYTES = 4;
/** A raw snappy buffer starts with its uncompressed length as an unsigned varint of at most 5 bytes. */
const SNAPPY_PREAMBLE_MAX_BYTES = 5;

/** The LZ4 frame magic 0x184D2204, little-endian. */
const LZ4_FRAME_MAGIC = 0x184d2204;
/** Magic, FLG, BD, and the header checksum byte HC. */
const LZ4_MIN_HEADER_BYTES = 7;
/** FLG bits 7-6 must say version 01. */
const LZ4_VERSION_MASK = 0xc0;
const LZ4_VERSION_01 = 0x40;
export const LZ4_FLAG_BLOCK_CHECKSUM = 0x10;
export const LZ4_FLAG_CONTENT_SIZE = 0x08;
const LZ4_FLAG_CONTENT_CHECKSUM = 0x04;
const LZ4_FLAG_RESERVED = 0x02;
export const LZ4_FLAG_DICT_ID = 0x01;
/** BD: bit 7 and bits 3-0 are reserved (0); bits 6-4 give the block maximum size. */
const LZ4_BD_RESERVED = 0x8f;
/** Block maximum size per BD id 4..7: 64 KiB, 256 KiB, 1 MiB, 4 MiB. */
export const LZ4_BLOCK_MAX_BYTES: Readonly<Record<number, number>> = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };
/** Bit 31 of a block size: the block is stored uncompressed. */
export const LZ4_BLOCK_UNCOMPRESSED = 0x80000000;
export const LZ4_CHECKSUM_BYTES = 4;

export function codecName(codec: number): string {
  switch (codec) {
    case CompressionCodec.None:
      return 'none';
    case CompressionCodec.Gzip:
      return 'gzip';
    case CompressionCodec.Snappy:
      return 'snappy';
    case CompressionCodec.Lz4:
      return 'lz4';
    case CompressionCodec.Zstd:
      return 'zstd';
    default:
      return `unknown codec ${codec}`;
  }
}

/** Compresses `data` with `codec` in Kafka's framing for it. */
export function compressRecords(codec: CompressionCodec, data: Buffer): Buffer {
  switch (codec) {
    case CompressionCodec.None:
      return data;
    case CompressionCodec.Gzip:
      return zlib.gzipSync(data);
    case CompressionCodec.Snappy:
      return xerialSnappyCompress(data);
    case CompressionCodec.Lz4:
      return compressFrameSync(data);
    case CompressionCodec.Zstd:
      return zstdCompress(data);
    default:
      throw new RangeError(`unknown compression codec ${String(codec)}`);
  }
}

/** Decompresses the records area of a batch; at most `maxBytes` of output, CorruptBatchError on anything malformed. */
export function decompressRecords(codec: number, data: Buffer, maxBytes = MAX_DECOMPRESSED_RECORDS_BYTES): Buffer {
  switch (codec) {
    case CompressionCodec.None:
      return data;
    case CompressionCodec.Gzip:
      return gunzip(data, maxBytes);
    case CompressionCodec.Snappy:
      return snappyDecompress(data, maxBytes);
    case CompressionCodec.Lz4:
      return lz4Decompress(data, maxBytes);
    case CompressionCodec.Zstd:
      return guarded('zstd', () => zstdDecompress(data, maxBytes));
    default:
      throw new CorruptBatchError(`unsupported compression codec ${codec}`);
  }
}

/** Runs a library decoder; whatever it throws becomes CorruptBatchError. */
function guarded<T>(codec: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof CorruptBatchError) throw error;
    throw new CorruptBatchError(`${codec} records do not decompress: ${(error as Error).message}`);
  }
}

export function gunzip(data: Buffer, maxBytes: number): Buffer {
  return guarded('gzip', () => {
    try {
      return zlib.gunzipSync(data, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new BatchTooLargeError(`gzip records decompress past ${maxBytes} bytes`);
      }
      throw error;
    }
  });
}

// ---- snappy ----------------------------------------------------------------------------------------

export function isXerial(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_BYTES && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

function xerialSnappyCompress(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(XERIAL_VERSION, 8);
  header.writeInt32BE(XERIAL_VERSION, 12);
  parts.push(header);
  for (let at = 0; at < data.length; at += XERIAL_BLOCK_BYTES) {
    const block = snappyCompressRaw(data.subarray(at, Math.min(data.length, at + XERIAL_BLOCK_BYTES)));
    const length = Buffer.allocUnsafe(XERIAL_BLOCK_LENGTH_BYTES);
    length.writeInt32BE(block.length, 0);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

function snappyDecompress(data: Buffer, maxBytes: number): Buffer {
  if (!isXerial(data)) return snappyRawBlock(data, maxBytes);
  const blocks: Buffer[] = [];
  let total = 0;
  let at = XERIAL_HEADER_BYTES;
  while (at < data.length) {
    if (data.length - at < XERIAL_BLOCK_LENGTH_BYTES) throw new CorruptBatchError('snappy: truncated xerial block length');
    const length = data.readInt32BE(at);
    at += XERIAL_BLOCK_LENGTH_BYTES;
    if (length < 0 || length > data.length - at) {
      throw new CorruptBatchError(`snappy: xerial block of ${length} bytes, ${data.length - at} present`);
    }
    const block = snappyRawBlock(data.subarray(at, at + length), maxBytes - total);
    total += block.length;
    blocks.push(block);
    at += length;
  }
  return blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks, total);
}

/** One raw snappy buffer, its claimed length checked against `maxBytes` before anything is allocated. */
export function snappyRawBlock(block: Buffer, maxBytes: number): Buffer {
  let claimed = 0;
  let weight = 1;
  for (let i = 0; ; i++) {
    if (i >= block.length || i >= SNAPPY_PREAMBLE_MAX_BYTES) throw new CorruptBatchError('snappy: bad length preamble');
    const byte = block[i]!;
    claimed += (byte & 0x7f) * weight;
    if (byte < 0x80) break;
    weight *= 128;
  }
  if (claimed > maxBytes) throw new BatchTooLargeError(`snappy: block claims ${claimed} bytes, limit ${maxBytes}`);
  const output = guarded('snappy', () => snappyUncompressRaw(block, { asBuffer: true }));
  if (!Buffer.isBuffer(output) || output.length !== claimed) throw new CorruptBatchError('snappy: block length differs from its preamble');
  return output;
}

// ---- lz4 -------------------------------------------------------------------------------------------

/**
 * Walks one LZ4 frame's structure (header, block sizes, end mark, checksums present) and returns the
 * most bytes it can decode to; throws when the structure is broken or the bound passes `maxBytes`.
 */
export function lz4FrameBound(data: Buffer, maxBytes: number): number {
  if (data.length < LZ4_MIN_HEADER_BYTES) throw new CorruptBatchError('lz4: frame shorter than its header');
  if (data.readUInt32LE(0) !== LZ4_FRAME_MAGIC) throw new CorruptBatchError('lz4: not an LZ4 frame (bad magic)');
  const flags = data[4]!;
  const descriptor = data[5]!;
  if ((flags & LZ4_VERSION_MASK) !== LZ4_VERSION_01 || (flags & LZ4_FLAG_RESERVED) !== 0) {
    throw new CorruptBatchError(`lz4: unsupported frame flags 0x${flags.toString(16)}`);
  }
  const blockMax = LZ4_BLOCK_MAX_BYTES[(descriptor >> 4) & 0x07];
  if ((descriptor & LZ4_BD_RESERVED) !== 0 || blockMax === undefined) {
    throw new CorruptBatchError(`lz4: bad block descriptor 0x${descriptor.toString(16)}`);
  }
  let at = 6;
  if ((flags & LZ4_FLAG_CONTENT_SIZE) !== 0) {
    if (data.length - at < 8) throw new CorruptBatchError('lz4: truncated content size');
    const contentSize = data.readBigUInt64LE(at);
    if (contentSize > BigInt(maxBytes)) throw new BatchTooLargeError(`lz4: frame claims ${contentSize} bytes, limit ${maxBytes}`);
    at += 8;
  }
  if ((flags & LZ4_FLAG_DICT_ID) !== 0) at += 4;
  at += 1; // header checksum, verified by the decoder
  const blockChecksum = (flags & LZ4_FLAG_BLOCK_CHECKSUM) !== 0 ? LZ4_CHECKSUM_BYTES : 0;
  let bound = 0;
  for (;;) {
    if (data.length - at < 4) throw new CorruptBatchError('lz4: frame ends without an end mark');
    const word = data.readUInt32LE(at);
    at += 4;
    if (word === 0) break;
    const size = word & ~LZ4_BLOCK_UNCOMPRESSED;
    const stored = (word & LZ4_BLOCK_UNCOMPRESSED) !== 0;
    if (size > blockMax || size > data.length - at - blockChecksum) throw new CorruptBatchError(`lz4: block of ${size} bytes does not fit`);
    at += size + blockChecksum;
    bound += stored ? size : blockMax;
    if (bound > maxBytes + blockMax) throw new BatchTooLargeError(`lz4: frame decompresses past ${maxBytes} bytes`);
  }
  if ((flags & LZ4_FLAG_CONTENT_CHECKSUM) !== 0) at += LZ4_CHECKSUM_BYTES;
  if (at !== data.length) throw new CorruptBatchError(`lz4: ${data.length - at} byte(s) after the frame`);
  return bound;
}

function lz4Decompress(data: Buffer, maxBytes: number): Buffer {
  lz4FrameBound(data, maxBytes);
  const output = guarded('lz4', () => decompressFrameSync(data));
  if (output.length > maxBytes) throw new BatchTooLargeError(`lz4: frame decompresses past ${maxBytes} bytes`);
  return output;
}
