/**
 * A queue store in memory (queue-store.ts): each record a Buffer of its own, freed when acked, nothing
 * written anywhere and nothing left after close(). Positions are synthetic: (block, index), a block being
 * RECORDS_PER_BLOCK consecutive appends, so they grow in append order as the file engine's (segment, byte
 * offset) do. A block's slot array goes once every record in it is acked and appends moved on to the next.
 *
 * The semantics the core relies on are the file engine's, and the shared test body checks them on both
 * (queue-store.contract.test.ts): liveRecords/liveBytes count what is not acked; an ack of an unknown or
 * acked position returns false; holds() is true for an acked record until its block goes; read() of a
 * position that holds no readable record throws a RangeError.
 */
import { MAX_RECORD_PAYLOAD_BYTES, MIN_RECORD_PAYLOAD_BYTES } from '../format.js';
import type { QueueStore } from '../queue-store.js';

/**
 * Appends per block, 4096: a block's slot array (32 KiB of pointers) is freed whole once all its records
 * are acked, and a queue that is never longer than a few thousand messages keeps one or two of them.
 */
export const RECORDS_PER_BLOCK = 4096;
/** Block numbers are u32 positions like the file engine's segment numbers; the first block is 1. */
const MAX_BLOCK_NUMBER = 0xffff_ffff;

class Block {
  /** the records appended to this block, in order; null once acked */
  readonly records: Array<Buffer | null> = [];
  live = 0;
  constructor(readonly number: number) {}
}

export class MemoryQueueStore implements QueueStore {
  lastSegment: number;
  private liveRecordCount = 0;
  private liveByteCount = 0;
  private readonly blocks = new Map<number, Block>();
  private active: Block;
  private state: 'open' | 'closed' | 'destroyed' = 'open';

  constructor(private readonly name: string) {
    this.active = new Block(1);
    this.blocks.set(1, this.active);
    this.lastSegment = 1;
  }

  get liveRecords(): number {
    return this.liveRecordCount;
  }

  get liveBytes(): number {
    return this.liveByteCount;
  }

  /** memory never fails a write */
  get writeFailing(): boolean {
    return false;
  }

  /** blocks held (the file engine's segmentCount), for tests */
  get blockCount(): number {
    return this.blocks.size;
  }

  append(parts: readonly Buffer[], payloadLength: number): number {
    if (this.state !== 'open') throw this.notOpenError();
    if (!(payloadLength >= MIN_RECORD_PAYLOAD_BYTES && payloadLength <= MAX_RECORD_PAYLOAD_BYTES)) {
      throw new RangeError(`payload length ${payloadLength} outside ${MIN_RECORD_PAYLOAD_BYTES}..${MAX_RECORD_PAYLOAD_BYTES}`);
    }
    // the parts may be views of a socket's read buffer: the record gets bytes of its own
    const record = Buffer.allocUnsafe(payloadLength);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (at + part.length > payloadLength) throw partsMismatchError(parts, payloadLength);
      record.set(part, at);
      at += part.length;
    }
    if (at !== payloadLength) throw partsMismatchError(parts, payloadLength);
    let block = this.active;
    if (block.records.length === RECORDS_PER_BLOCK) block = this.nextBlock();
    const offset = block.records.length;
    block.records.push(record);
    block.live++;
    this.liveRecordCount++;
    this.liveByteCount += payloadLength;
    this.lastSegment = block.number;
    return offset;
  }

  read(segment: number, offset: number, length: number): Buffer {
    const record = this.recordAt(segment, offset);
    if (record.length !== length) throw new RangeError(`${this.describe(segment, offset)} holds ${record.length} bytes, not ${length}`);
    return record;
  }

  readAt(segment: number, offset: number): Buffer {
    return this.recordAt(segment, offset);
  }

  holds(segment: number, offset: number): boolean {
    const block = this.blocks.get(segment);
    return block !== undefined && offset >= 0 && offset < block.records.length;
  }

  ack(segment: number, offset: number): boolean {
    if (this.state !== 'open') throw this.notOpenError();
    const block = this.blocks.get(segment);
    if (block === undefined || !(offset >= 0 && offset < block.records.length)) return false;
    const record = block.records[offset];
    if (record === null || record === undefined) return false;
    block.records[offset] = null;
    block.live--;
    this.liveRecordCount--;
    this.liveByteCount -= record.length;
    if (block.live === 0 && block !== this.active) this.blocks.delete(segment);
    return true;
  }

  markDelivered(_segment: number, _offset: number): void {
    // a delivered marker only matters to a store that is reopened: this one never is
    if (this.state !== 'open') throw this.notOpenError();
  }

  describe(segment: number, offset: number): string {
    return `memory queue store '${this.name}', record ${segment}:${offset}`;
  }

  destroy(): void {
    this.blocks.clear();
    this.liveRecordCount = 0;
    this.liveByteCount = 0;
    this.state = 'destroyed';
  }

  close(): void {
    if (this.state === 'open') this.state = 'closed';
  }

  private recordAt(segment: number, offset: number): Buffer {
    if (this.state !== 'open') throw this.notOpenError();
    const record = this.blocks.get(segment)?.records[offset];
    if (record === null || record === undefined) throw new RangeError(`${this.describe(segment, offset)}: no record there (acked, or never appended)`);
    return record;
  }

  private nextBlock(): Block {
    const full = this.active;
    if (full.number === MAX_BLOCK_NUMBER) throw new RangeError(`memory queue store '${this.name}': block numbers exhausted`);
    const next = new Block(full.number + 1);
    this.blocks.set(next.number, next);
    this.active = next;
    if (full.live === 0) this.blocks.delete(full.number);
    return next;
  }

  private notOpenError(): Error {
    return new Error(`memory queue store '${this.name}' is ${this.state}`);
  }
}

function partsMismatchError(parts: readonly Buffer[], payloadLength: number): RangeError {
  let total = 0;
  for (const part of parts) total += part.length;
  return new RangeError(`payload parts hold ${total} bytes, payloadLength says ${payloadLength}`);
}
