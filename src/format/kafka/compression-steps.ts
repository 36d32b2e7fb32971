/**
 * gzip, snappy and lz4 records areas decompressed a step at a time, like ZstdSteps (zstd.ts) for
 * zstd, so that walking the records of any batch (record-walk.ts: produce validation, ListOffsets by
 * time) holds one step of output, not the whole area, whatever the batch claims:
 *
 *   gzip    through Node's zlib engine object: its native handle's writeSync() takes all the input and
 *           an output buffer of GZIP_STEP_BYTES, and is called again for the next step (the engine keeps
 *           its state between calls; several gzip members are read one after the other, as gunzipSync
 *           does). writeSync and _writeState are Node internals (the same calls zlib's own synchronous
 *           functions make; used here on Node 20): at load, a probe decompresses a known gzip stream this
 *           way and compares; where the internals are missing or the probe disagrees, gzip areas are
 *           decompressed whole within the limit, in one step, as before.
 *   snappy  one step per xerial block (snappy-java and Kafka write blocks of 32 KiB of input); a plain
 *           raw snappy buffer without the framing has no blocks and is one step (snappy expands at most
 *           about 21:1, so that step is bounded by the batch's own size as well as the limit).
 *   lz4     one step per block of the LZ4 frame (64 KiB for Kafka's and librdkafka's frames, 4 MiB at most
 *           by the format). The frame's structure is checked first (lz4FrameBound); each block is decoded
 *           by lz4-napi's raw block decoder, with the previous 64 KiB of output as its dictionary when the
 *           frame's blocks are linked. The optional xxHash32 block and content checksums are not checked
 *           on this path (the batch's CRC-32C, checked before any walk, covers the same bytes).
 *
 * Each reader: start(data, maxBytes) then next() until null; next() returns a view valid until the next
 * call; past `maxBytes` of output in all it throws BatchTooLargeError, on malformed input CorruptBatchError.
 * One reader per codec serves every walk in turn (walks are synchronous and never interleave).
 */

import zlib from 'node:zlib';
import { uncompressSync as lz4UncompressBlock } from 'lz4-napi';
import { BatchTooLargeError, CorruptBatchError } from './errors.js';
import {
  LZ4_BLOCK_MAX_BYTES,
  LZ4_BLOCK_UNCOMPRESSED,
  LZ4_CHECKSUM_BYTES,
  LZ4_FLAG_BLOCK_CHECKSUM,
  LZ4_FLAG_CONTENT_SIZE,
  LZ4_FLAG_DICT_ID,
  XERIAL_BLOCK_LENGTH_BYTES,
  XERIAL_HEADER_BYTES,
  gunzip,
  isXerial,
  lz4FrameBound,
  snappyRawBlock,
} from './compression.js';

/** The records area of a batch, a step of output at a time. */
export interface DecompressionSteps {
  /** the next output (a view valid until the next call), or null at the end */
  next(): Buffer | null;
  /** true once next() returned the last output */
  readonly finished: boolean;
}

const EMPTY = Buffer.alloc(0);

// ---- gzip ------------------------------------------------------------------------------------------

/** Output per gzip step, 128 KiB (as zstd's). */
export const GZIP_STEP_BYTES = 128 * 1024;

/** The parts of Node's zlib engine object the steps use (internals: see the file comment). */
interface ZlibInternals {
  _handle?: {
    writeSync?: (flush: number, input: Buffer, inOffset: number, inLength: number, output: Buffer, outOffset: number, outLength: number) => void;
    onerror?: (message: string, errno: number) => void;
  } | null;
  _writeState?: Uint32Array;
}

export class GzipSteps implements DecompressionSteps {
  private readonly output = Buffer.allocUnsafe(GZIP_STEP_BYTES);
  private engine: zlib.Gunzip | null = null;
  private input: Buffer = EMPTY;
  private maxBytes = 0;
  private total = 0;
  private done = true;
  /** the whole area (no stepwise engine on this Node), handed out as one step */
  private whole: Buffer | null = null;
  private error: string | null = null;

  get finished(): boolean {
    return this.done;
  }

  /**
   * Node's zlib internals the steps need are there and behave (false: gzip areas are decompressed whole):
   * a known stream of several steps and two members decompresses to the same bytes stepwise.
   */
  static supported(): boolean {
    const probe = zlib.createGunzip() as unknown as ZlibInternals & zlib.Gunzip;
    const present = typeof probe._handle?.writeSync === 'function' && probe._writeState instanceof Uint32Array;
    probe.close();
    if (!present) return false;
    try {
      const expected = Buffer.alloc(3 * GZIP_STEP_BYTES + 123);
      for (let i = 0; i < expected.length; i++) expected[i] = (i * 31) & 0xff;
      const stream = Buffer.concat([zlib.gzipSync(expected.subarray(0, 1000)), zlib.gzipSync(expected.subarray(1000))]);
      const steps = new GzipSteps(true).start(stream, expected.length);
      const parts: Buffer[] = [];
      for (let step = steps.next(); step !== null; step = steps.next()) parts.push(Buffer.from(step));
      steps.dispose();
      return Buffer.concat(parts).equals(expected);
    } catch {
      return false;
    }
  }

  /** `stepwise`: use the engine (false: whole, where the probe failed) */
  constructor(private readonly stepwise = GZIP_STEPWISE) {}

  /** Frees the engine (a probe's reader). */
  dispose(): void {
    this.engine?.close();
    this.engine = null;
  }

  start(data: Buffer, maxBytes: number): this {
    this.input = data;
    this.maxBytes = maxBytes;
    this.total = 0;
    this.done = false;
    this.whole = null;
    this.error = null;
    if (!this.stepwise) {
      this.whole = gunzip(data, maxBytes);
      return this;
    }
    if (this.engine === null) {
      this.engine = zlib.createGunzip();
      const internals = this.engine as unknown as ZlibInternals;
      // a decoding error is reported synchronously through the handle's callback (instead of destroying the stream)
      internals._handle!.onerror = (message: string): void => {
        this.error = message;
      };
    } else {
      (this.engine as unknown as { reset(): void }).reset(); // (zlib's reset(), not in @types/node for Gunzip)
    }
    return this;
  }

  next(): Buffer | null {
    if (this.done) return null;
    if (this.whole !== null) {
      const whole = this.whole;
      this.whole = null;
      this.done = true;
      return whole.length > 0 ? whole : null;
    }
    const internals = this.engine as unknown as ZlibInternals;
    const state = internals._writeState!;
    for (;;) {
      const inputBefore = this.input.length;
      internals._handle!.writeSync!(zlib.constants.Z_FINISH, this.input, 0, inputBefore, this.output, 0, GZIP_STEP_BYTES);
      if (this.error !== null) return this.fail(new CorruptBatchError(`gzip records do not decompress: ${this.error}`));
      const produced = GZIP_STEP_BYTES - state[0]!;
      const inputLeft = state[1]!;
      this.input = this.input.subarray(inputBefore - inputLeft);
      this.total += produced;
      if (this.total > this.maxBytes) return this.fail(new BatchTooLargeError(`gzip records decompress past ${this.maxBytes} bytes`));
      if (produced < GZIP_STEP_BYTES) {
        // the output did not fill: the engine has ended the last member (or reported why not, above)
        if (inputLeft > 0) return this.fail(new CorruptBatchError(`gzip: ${inputLeft} byte(s) after the records`));
        this.done = true;
        this.input = EMPTY;
        return produced > 0 ? this.output.subarray(0, produced) : null;
      }
      return this.output;
    }
  }

  private fail(error: Error): never {
    this.done = true;
    this.input = EMPTY;
    // an engine that reported an error keeps it: the next walk gets a fresh one
    this.engine?.close();
    this.engine = null;
    throw error;
  }
}

/** (the probe passes `stepwise` itself, so the constructor's default is not read before this is set) */
const GZIP_STEPWISE = GzipSteps.supported();

/** Whether gzip records are decompressed stepwise on this Node (false: whole, within the limit). */
export function gzipStepwise(): boolean {
  return GZIP_STEPWISE;
}

// ---- snappy ----------------------------------------------------------------------------------------

export class SnappySteps implements DecompressionSteps {
  private data: Buffer = EMPTY;
  private at = 0;
  private maxBytes = 0;
  private total = 0;
  private done = true;

  get finished(): boolean {
    return this.done;
  }

  start(data: Buffer, maxBytes: number): this {
    this.data = data;
    this.maxBytes = maxBytes;
    this.total = 0;
    this.done = false;
    this.at = isXerial(data) ? XERIAL_HEADER_BYTES : -1;
    return this;
  }

  next(): Buffer | null {
    if (this.done) return null;
    const data = this.data;
    if (this.at < 0) {
      // a plain raw snappy buffer: one step
      this.done = true;
      this.data = EMPTY;
      const whole = snappyRawBlock(data, this.maxBytes);
      return whole.length > 0 ? whole : null;
    }
    while (this.at < data.length) {
      if (data.length - this.at < XERIAL_BLOCK_LENGTH_BYTES) return this.fail(new CorruptBatchError('snappy: truncated xerial block length'));
      const length = data.readInt32BE(this.at);
      this.at += XERIAL_BLOCK_LENGTH_BYTES;
      if (length < 0 || length > data.length - this.at) {
        return this.fail(new CorruptBatchError(`snappy: xerial block of ${length} bytes, ${data.length - this.at} present`));
      }
      let block: Buffer;
      try {
        block = snappyRawBlock(data.subarray(this.at, this.at + length), this.maxBytes - this.total);
      } catch (error) {
        return this.fail(error as Error);
      }
      this.at += length;
      this.total += block.length;
      if (this.at >= data.length) this.finish();
      if (block.length > 0) return block;
    }
    this.finish();
    return null;
  }

  private finish(): void {
    this.done = true;
    this.data = EMPTY;
  }

  private fail(error: Error): never {
    this.finish();
    throw error;
  }
}

// ---- lz4 -------------------------------------------------------------------------------------------

/** FLG bit 5: each block decodes on its own; without it a block may copy from the 64 KiB of output before it. */
const LZ4_FLAG_BLOCK_INDEPENDENCE = 0x20;
/** How far back a linked block may copy from: 64 KiB. */
const LZ4_WINDOW_BYTES = 64 * 1024;
/** Bytes of the size prefix lz4-napi's raw block decoder reads (u32 LE: the most the block may decode to). */
const LZ4_SIZE_PREFIX_BYTES = 4;

export class Lz4Steps implements DecompressionSteps {
  private data: Buffer = EMPTY;
  private at = 0;
  private maxBytes = 0;
  private total = 0;
  private done = true;
  private blockMax = 0;
  private blockChecksum = 0;
  private linked = false;
  /** size prefix + one block's compressed bytes, for the raw block decoder (grown to the largest block) */
  private framed: Buffer = Buffer.allocUnsafe(LZ4_SIZE_PREFIX_BYTES + LZ4_WINDOW_BYTES);
  /** the last LZ4_WINDOW_BYTES of output, the dictionary of a linked block */
  private readonly window = Buffer.allocUnsafe(LZ4_WINDOW_BYTES);
  private windowLength = 0;

  get finished(): boolean {
    return this.done;
  }

  start(data: Buffer, maxBytes: number): this {
    lz4FrameBound(data, maxBytes); // the frame's structure checks out, its blocks fit it and their sizes the limit
    const flags = data[4]!;
    this.blockMax = LZ4_BLOCK_MAX_BYTES[(data[5]! >> 4) & 0x07]!;
    this.blockChecksum = (flags & LZ4_FLAG_BLOCK_CHECKSUM) !== 0 ? LZ4_CHECKSUM_BYTES : 0;
    this.linked = (flags & LZ4_FLAG_BLOCK_INDEPENDENCE) === 0;
    let at = 6;
    if ((flags & LZ4_FLAG_CONTENT_SIZE) !== 0) at += 8;
    if ((flags & LZ4_FLAG_DICT_ID) !== 0) at += 4;
    this.at = at + 1; // header checksum
    this.data = data;
    this.maxBytes = maxBytes;
    this.total = 0;
    this.windowLength = 0;
    this.done = false;
    return this;
  }

  next(): Buffer | null {
    while (!this.done) {
      const data = this.data;
      const word = data.readUInt32LE(this.at); // lz4FrameBound checked every block size and the end mark
      this.at += 4;
      if (word === 0) {
        this.done = true;
        this.data = EMPTY;
        return null;
      }
      const size = (word & ~LZ4_BLOCK_UNCOMPRESSED) >>> 0;
      const block = data.subarray(this.at, this.at + size);
      this.at += size + this.blockChecksum;
      let output: Buffer;
      if ((word & LZ4_BLOCK_UNCOMPRESSED) !== 0) {
        output = block;
      } else {
        if (this.framed.length < LZ4_SIZE_PREFIX_BYTES + size) this.framed = Buffer.allocUnsafe(LZ4_SIZE_PREFIX_BYTES + size);
        this.framed.writeUInt32LE(this.blockMax, 0);
        block.copy(this.framed, LZ4_SIZE_PREFIX_BYTES);
        const input = this.framed.subarray(0, LZ4_SIZE_PREFIX_BYTES + size);
        try {
          output =
            this.linked && this.windowLength > 0
              ? lz4UncompressBlock(input, this.window.subarray(LZ4_WINDOW_BYTES - this.windowLength))
              : lz4UncompressBlock(input);
        } catch (error) {
          this.done = true;
          this.data = EMPTY;
          throw new CorruptBatchError(`lz4 records do not decompress: ${(error as Error).message}`);
        }
      }
      this.total += output.length;
      if (this.total > this.maxBytes) {
        this.done = true;
        this.data = EMPTY;
        throw new BatchTooLargeError(`lz4: frame decompresses past ${this.maxBytes} bytes`);
      }
      if (this.linked) this.remember(output);
      if (output.length > 0) return output;
    }
    return null;
  }

  /** Keeps the last LZ4_WINDOW_BYTES of output (at the end of `window`) for the next linked block. */
  private remember(output: Buffer): void {
    const window = this.window;
    if (output.length >= LZ4_WINDOW_BYTES) {
      output.copy(window, 0, output.length - LZ4_WINDOW_BYTES);
      this.windowLength = LZ4_WINDOW_BYTES;
      return;
    }
    const kept = Math.min(this.windowLength, LZ4_WINDOW_BYTES - output.length);
    window.copy(window, LZ4_WINDOW_BYTES - output.length - kept, LZ4_WINDOW_BYTES - kept, LZ4_WINDOW_BYTES);
    output.copy(window, LZ4_WINDOW_BYTES - output.length);
    this.windowLength = kept + output.length;
  }
}
