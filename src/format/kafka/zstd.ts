/**
 * zstd for Kafka record batches (codec 4) over node:zlib's zstd, present from Node 22.15 / 23.8 (no native
 * module to build). Without it (Node 20) `zstdAvailable()` is false and every zstd call throws
 * UnsupportedCompressionError, which the Kafka produce path answers with UNSUPPORTED_COMPRESSION_TYPE.
 *
 * A records area is one or more zstd frames back to back (skippable frames allowed), as Java's
 * ZstdOutputStream, librdkafka and kafkajs' zstd codecs write them:
 *
 *   frame       +-------------+-----+--------+---------+--------------+---------+-----+---------+----------+
 *               | 28 b5 2f fd | FHD | window | dict id | content size | block   | ... | last    | checksum |
 *               | magic, LE   |     | 0/1 B  | 0/1/2/4 | 0/1/2/4/8 B  | 3 B hdr |     | block   | 4 B, if  |
 *               |             |     |        | bytes   | LE           | + body  |     | (bit 0) | FHD bit 2|
 *               +-------------+-----+--------+---------+--------------+---------+-----+---------+----------+
 *                 FHD: bits 7-6 content-size field (0: none, or 1 byte if single-segment; 1: 2 bytes, +256;
 *                 2: 4 bytes; 3: 8 bytes), bit 5 single segment (no window byte), bit 3 reserved (0),
 *                 bit 2 content checksum, bits 1-0 dictionary id field (0, 1, 2 or 4 bytes).
 *               block header u24 LE: bit 0 last block, bits 2-1 type (0 raw: size bytes follow; 1 RLE: one
 *               byte follows, size is its repeat count; 2 compressed: size bytes follow; 3 reserved),
 *               bits 23-3 size (at most 128 KiB).
 *   skippable   +---------------------+------------+------------------+
 *               | 5? 2a 4d 18         | frame size | frame size bytes |
 *               | magic 0x184D2A5?,LE | u32 LE     | (ignored)        |
 *               +---------------------+------------+------------------+
 *
 * Decoding goes through node:zlib's zstd engine object a step of output at a time (ZstdSteps), the way
 * compression-steps.ts drives gzip: its native handle's writeSync() takes the input and an output buffer of
 * ZSTD_OUTPUT_CHUNK_BYTES, and is called again for the next step. Node's own zstdDecompressSync() is not
 * used: it stops after the first frame (the rest of the input is dropped silently) and, on Node 22, returns
 * what a truncated frame decoded to without an error. So the frames' structure is walked first
 * (zstdFrames: every frame complete, nothing after the last one), and the engine is called until every
 * byte of input is used and all of its output is out. writeSync, _writeState and the handle's onerror are
 * Node internals (the calls zlib's own synchronous functions make): at load a probe decodes a known
 * two-frame stream this way and compares; where that fails, zstd counts as unavailable.
 */

import zlib from 'node:zlib';
import { BatchTooLargeError, CorruptBatchError, UnsupportedCompressionError } from './errors.js';

/** Output per zstd step, 128 KiB (ZSTD_DStreamOutSize: one block's most). */
export const ZSTD_OUTPUT_CHUNK_BYTES = 128 * 1024;

/** The zstd frame magic 0xFD2FB528 and the skippable frames' 0x184D2A50..0x184D2A5F, little-endian. */
const ZSTD_FRAME_MAGIC = 0xfd2fb528;
const ZSTD_SKIPPABLE_MAGIC = 0x184d2a50;
const ZSTD_SKIPPABLE_MAGIC_MASK = 0xfffffff0;
/** Magic + frame header descriptor. */
const ZSTD_MIN_FRAME_HEADER_BYTES = 5;
/** Skippable frame: magic + u32 size. */
const ZSTD_SKIPPABLE_HEADER_BYTES = 8;
const ZSTD_FHD_SINGLE_SEGMENT = 0x20;
const ZSTD_FHD_RESERVED = 0x08;
const ZSTD_FHD_CHECKSUM = 0x04;
const ZSTD_DICT_ID_BYTES = [0, 1, 2, 4] as const;
/** Content-size field bytes per FHD bits 7-6 (flag 0 is 1 byte when single-segment). */
const ZSTD_CONTENT_SIZE_BYTES = [0, 2, 4, 8] as const;
/** A 2-byte content size is stored minus 256. */
const ZSTD_CONTENT_SIZE_2_OFFSET = 256;
const ZSTD_BLOCK_HEADER_BYTES = 3;
const ZSTD_BLOCK_LAST = 0x01;
const ZSTD_BLOCK_TYPE_RLE = 1;
const ZSTD_BLOCK_TYPE_RESERVED = 3;
/** A block holds at most 128 KiB (ZSTD_BLOCKSIZE_MAX). */
const ZSTD_BLOCK_MAX_BYTES = 128 * 1024;
const ZSTD_CHECKSUM_BYTES = 4;

/**
 * Walks the frames of a zstd records area (structure only: headers, block sizes, last block, checksum
 * present) and returns the content size all frames declare, or -1 when one does not declare it; throws
 * CorruptBatchError when the area is empty, a frame is truncated or bytes follow the last frame.
 */
export function zstdFrames(data: Buffer): number {
  if (data.length === 0) throw new CorruptBatchError('zstd: truncated frame');
  let at = 0;
  let declared = 0;
  while (at < data.length) {
    if (data.length - at < 4) throw new CorruptBatchError(`zstd: ${data.length - at} byte(s) after the last frame`);
    const magic = data.readUInt32LE(at);
    if ((magic & ZSTD_SKIPPABLE_MAGIC_MASK) >>> 0 === ZSTD_SKIPPABLE_MAGIC) {
      if (data.length - at < ZSTD_SKIPPABLE_HEADER_BYTES) throw new CorruptBatchError('zstd: truncated frame');
      const size = data.readUInt32LE(at + 4);
      if (size > data.length - at - ZSTD_SKIPPABLE_HEADER_BYTES) throw new CorruptBatchError('zstd: truncated frame');
      at += ZSTD_SKIPPABLE_HEADER_BYTES + size;
      continue;
    }
    if (magic !== ZSTD_FRAME_MAGIC) throw new CorruptBatchError(`zstd records do not decompress: unknown frame descriptor at byte ${at}`);
    if (data.length - at < ZSTD_MIN_FRAME_HEADER_BYTES) throw new CorruptBatchError('zstd: truncated frame');
    const descriptor = data[at + 4]!;
    if ((descriptor & ZSTD_FHD_RESERVED) !== 0) throw new CorruptBatchError(`zstd: reserved bit set in frame header 0x${descriptor.toString(16)}`);
    const singleSegment = (descriptor & ZSTD_FHD_SINGLE_SEGMENT) !== 0;
    const sizeFlag = descriptor >> 6;
    const sizeBytes = sizeFlag === 0 && singleSegment ? 1 : ZSTD_CONTENT_SIZE_BYTES[sizeFlag]!;
    at += ZSTD_MIN_FRAME_HEADER_BYTES + (singleSegment ? 0 : 1) + ZSTD_DICT_ID_BYTES[descriptor & 0x03]!;
    if (data.length - at < sizeBytes) throw new CorruptBatchError('zstd: truncated frame');
    if (sizeBytes === 0) declared = -1;
    else if (declared >= 0) declared += frameContentSize(data, at, sizeBytes);
    at += sizeBytes;
    for (;;) {
      if (data.length - at < ZSTD_BLOCK_HEADER_BYTES) throw new CorruptBatchError('zstd: truncated frame');
      const header = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
      const type = (header >> 1) & 0x03;
      const size = header >>> 3;
      if (type === ZSTD_BLOCK_TYPE_RESERVED) throw new CorruptBatchError('zstd: reserved block type');
      if (size > ZSTD_BLOCK_MAX_BYTES) throw new CorruptBatchError(`zstd: block of ${size} bytes`);
      const body = type === ZSTD_BLOCK_TYPE_RLE ? 1 : size;
      at += ZSTD_BLOCK_HEADER_BYTES;
      if (data.length - at < body) throw new CorruptBatchError('zstd: truncated frame');
      at += body;
      if ((header & ZSTD_BLOCK_LAST) !== 0) break;
    }
    if ((descriptor & ZSTD_FHD_CHECKSUM) !== 0) {
      if (data.length - at < ZSTD_CHECKSUM_BYTES) throw new CorruptBatchError('zstd: truncated frame');
      at += ZSTD_CHECKSUM_BYTES;
    }
  }
  return declared;
}

/** A frame's declared content size (past Number.MAX_SAFE_INTEGER it is only compared with limits). */
function frameContentSize(data: Buffer, at: number, bytes: number): number {
  switch (bytes) {
    case 1:
      return data[at]!;
    case 2:
      return data.readUInt16LE(at) + ZSTD_CONTENT_SIZE_2_OFFSET;
    case 4:
      return data.readUInt32LE(at);
    default:
      return Number(data.readBigUInt64LE(at));
  }
}

// ---- node:zlib's zstd ------------------------------------------------------------------------------

/** The parts of node:zlib's zstd Postbox uses (@types/node 20 does not declare them). */
interface NodeZlibZstd {
  zstdCompressSync?: (data: Buffer) => Buffer;
  createZstdDecompress?: () => ZstdEngine;
}

/** node:zlib's ZstdDecompress object, as far as the steps use it (internals: see the file comment). */
interface ZstdEngine {
  _handle?: {
    writeSync?: (flush: number, input: Buffer, inOffset: number, inLength: number, output: Buffer, outOffset: number, outLength: number) => void;
    onerror?: (message: string, errno: number, code: string) => void;
  } | null;
  _writeState?: Uint32Array;
  reset(): void;
  close(): void;
}

const nodeZstd = zlib as unknown as NodeZlibZstd;
/** ZSTD_e_end (the flush mode is not used when decompressing; zlib's own sync calls pass it). */
const ZSTD_E_END = 2;

/**
 * A zstd records area decompressed a step at a time: start(data, maxBytes), then next() until null; next()
 * returns a view of one reused buffer of ZSTD_OUTPUT_CHUNK_BYTES, valid until the next call. Past `maxBytes`
 * of output in all it throws BatchTooLargeError (decoding stops there), on malformed or truncated input
 * CorruptBatchError, and where this Node has no zstd UnsupportedCompressionError. One reader (its own engine)
 * serves every walk in turn: start() resets it.
 */
export class ZstdSteps {
  private readonly output = Buffer.allocUnsafe(ZSTD_OUTPUT_CHUNK_BYTES);
  private engine: ZstdEngine | null = null;
  private input: Buffer = EMPTY;
  private maxBytes = 0;
  private total = 0;
  private done = true;
  private error: string | null = null;
  /**
   * The engine ended its last use at a frame boundary (every frame decoded, all input used), so the next use
   * needs no reset(): Node's reset of a zstd engine costs about as much as decoding a 16 KiB batch (it drops
   * the decoder's buffers, which the next decode allocates again). A use that ended early (an error, a walk
   * abandoned) resets.
   */
  private clean = true;
  /** the frames' declared content size, -1 when not every frame declares one (set by start) */
  declared = -1;

  /** `checked`: the probe's own reader, which runs before zstdAvailable() is known */
  constructor(private readonly checked = true) {}

  /** true once next() returned the last output (the next call returns null) */
  get finished(): boolean {
    return this.done;
  }

  start(data: Buffer, maxBytes: number): this {
    if (this.checked && !ZSTD_AVAILABLE) throw unsupported();
    this.done = false;
    this.input = EMPTY;
    this.declared = zstdFrames(data);
    this.input = data;
    this.maxBytes = maxBytes;
    this.total = 0;
    this.error = null;
    if (this.engine === null) {
      const engine = nodeZstd.createZstdDecompress!();
      // a decoding error is reported synchronously through the handle's callback (instead of destroying the stream)
      engine._handle!.onerror = (message: string): void => {
        this.error = message;
      };
      this.engine = engine;
    } else if (!this.clean) {
      this.engine.reset();
    }
    this.clean = false;
    return this;
  }

  next(): Buffer | null {
    const engine = this.engine;
    while (!this.done && engine !== null) {
      const inputBefore = this.input.length;
      engine._handle!.writeSync!(ZSTD_E_END, this.input, 0, inputBefore, this.output, 0, ZSTD_OUTPUT_CHUNK_BYTES);
      if (this.error !== null) return this.fail(new CorruptBatchError(`zstd records do not decompress: ${this.error}`));
      const state = engine._writeState!;
      const produced = ZSTD_OUTPUT_CHUNK_BYTES - state[0]!;
      const consumed = inputBefore - state[1]!;
      this.input = this.input.subarray(consumed);
      if (produced === 0 && consumed === 0) {
        // nothing left to flush: every frame was complete (zstdFrames), so all input must be used
        if (this.input.length > 0) return this.fail(new CorruptBatchError('zstd: decoder makes no progress'));
        this.done = true;
        this.clean = true;
        break;
      }
      this.total += produced;
      if (this.total > this.maxBytes) return this.fail(new BatchTooLargeError(`zstd: records decompress past ${this.maxBytes} bytes`));
      // all input used and the output did not fill: the engine has nothing more to give
      if (this.input.length === 0 && produced < ZSTD_OUTPUT_CHUNK_BYTES) {
        this.done = true;
        this.clean = true;
      }
      if (produced > 0) return this.output.subarray(0, produced);
    }
    this.input = EMPTY;
    return null;
  }

  /** Frees the engine (the probe's reader). */
  dispose(): void {
    this.engine?.close();
    this.engine = null;
  }

  private fail(error: Error): never {
    this.done = true;
    this.input = EMPTY;
    // an engine that reported an error keeps it: the next walk gets a fresh one (created clean)
    this.dispose();
    this.clean = true;
    throw error;
  }
}

const EMPTY = Buffer.alloc(0);

/** node:zlib has zstd, its internals are the ones ZstdSteps drives, and a known two-frame stream decodes right. */
function probeZstd(): boolean {
  if (typeof nodeZstd.zstdCompressSync !== 'function' || typeof nodeZstd.createZstdDecompress !== 'function') return false;
  try {
    const engine = nodeZstd.createZstdDecompress();
    const present = typeof engine._handle?.writeSync === 'function' && engine._writeState instanceof Uint32Array;
    engine.close();
    if (!present) return false;
    const expected = Buffer.alloc(3 * ZSTD_OUTPUT_CHUNK_BYTES + 123);
    for (let i = 0; i < expected.length; i++) expected[i] = ((i * 31) & 0xff) ^ (i >> 9);
    const stream = Buffer.concat([nodeZstd.zstdCompressSync(expected.subarray(0, 1000)), nodeZstd.zstdCompressSync(expected.subarray(1000))]);
    const steps = new ZstdSteps(false).start(stream, expected.length);
    const parts: Buffer[] = [];
    for (let step = steps.next(); step !== null; step = steps.next()) parts.push(Buffer.from(step));
    steps.dispose();
    return Buffer.concat(parts).equals(expected);
  } catch {
    return false;
  }
}

const ZSTD_AVAILABLE = probeZstd();

/** Whether this Node decodes and encodes zstd (node:zlib's zstd: Node 22.15+, 23.8+). */
export function zstdAvailable(): boolean {
  return ZSTD_AVAILABLE;
}

function unsupported(): UnsupportedCompressionError {
  return new UnsupportedCompressionError(`zstd is not available on Node ${process.versions.node} (node:zlib has zstd from Node 22.15 and 23.8)`);
}

/** One standard zstd frame of `data` (node:zlib's default level, 3, as Kafka's default). */
export function zstdCompress(data: Buffer): Buffer {
  if (!ZSTD_AVAILABLE) throw unsupported();
  return nodeZstd.zstdCompressSync!(data);
}

/** The reader zstdDecompress uses (calls are synchronous, so none overlap). */
let wholeSteps: ZstdSteps | null = null;

/** A zstd records area decompressed whole, at most `maxBytes` (the same steps, joined). */
export function zstdDecompress(data: Buffer, maxBytes: number): Buffer {
  wholeSteps ??= new ZstdSteps();
  const steps = wholeSteps.start(data, maxBytes);
  const first = steps.next();
  if (first === null) return EMPTY;
  if (steps.finished) return Buffer.from(first);
  // the frames' declared size, when within the limit, is the one exact-size buffer the records are views into
  if (steps.declared > 0 && steps.declared <= maxBytes) {
    const whole = Buffer.allocUnsafe(steps.declared);
    let at = 0;
    for (let step: Buffer | null = first; step !== null; step = steps.next()) {
      if (step.length > whole.length - at) throw new CorruptBatchError('zstd: frames decode past their declared content size');
      at += step.copy(whole, at);
    }
    if (at !== whole.length) throw new CorruptBatchError('zstd: frames decode short of their declared content size');
    return whole;
  }
  const parts: Buffer[] = [Buffer.from(first)];
  let total = first.length;
  for (let step = steps.next(); step !== null; step = steps.next()) {
    parts.push(Buffer.from(step));
    total += step.length;
  }
  return Buffer.concat(parts, total);
}

/** Why zstd is unavailable on this Node (for tests that skip their zstd cases, and logs), or null when it is available. */
export function zstdUnavailableReason(): string | null {
  return ZSTD_AVAILABLE ? null : unsupported().message;
}
