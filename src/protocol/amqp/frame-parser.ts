/**
 * Incremental AMQP 0-9-1 frame parser: feed it socket chunks of any size, it hands whole frames to a sink.
 *
 * A connection starts with the 8-byte protocol header:
 *
 *   +-----+-----+-----+-----+-----+-------+-------+----------+
 *   | 'A' | 'M' | 'Q' | 'P' |  0  | major | minor | revision |     0-9-1: 00 00 09 01
 *   +-----+-----+-----+-----+-----+-------+-------+----------+
 *
 * then frames:
 *
 *   0        1          3              7                 7+size      8+size
 *   +--------+----------+--------------+-----------------+-----------+
 *   | u8     | u16      | u32          | payload         | u8 0xCE   |
 *   | type   | channel  | size         | (size bytes)    | frame-end |
 *   +--------+----------+--------------+-----------------+-----------+
 *
 * Types: 1 method, 2 content header, 3 content body, 8 heartbeat. The negotiated frame-max bounds the whole
 * frame (8 + size), so the size check happens as soon as the 7-byte frame header is known and an oversize
 * frame is never buffered.
 *
 * Hot path: a frame that lies entirely inside the chunk being pushed is delivered as a zero-copy subarray of
 * that chunk. Only a frame that straddles chunks is copied, into a buffer allocated for exactly its payload,
 * and that buffer is never reused, so every payload handed out stays valid. The sink is called
 * synchronously; it must copy what it keeps only if the chunk's owner reuses chunks (sockets do not).
 *
 * Errors (a protocol header other than 0-9-1, a bad frame-end, an oversize frame, an unknown frame type) are
 * reported once; the parser then ignores all further input, as the connection is about to close.
 */
import {
  FRAME_BODY,
  FRAME_END,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  PROTOCOL_MAJOR,
  PROTOCOL_MINOR,
  PROTOCOL_REVISION,
  ReplyCode,
} from './generated/spec.js';

export interface FrameSink {
  /**
   * `ok` is false when the peer sent anything but the 0-9-1 header; `header` is what it sent: all 8 bytes,
   * or fewer when a byte of 'AMQP' was already wrong (up to and including that byte).
   */
  onProtocolHeader(ok: boolean, header: Buffer): void;
  onFrame(type: number, channel: number, payload: Buffer): void;
  onFrameError(replyCode: number, text: string): void;
}

/** Bytes in the protocol header. */
export const PROTOCOL_HEADER_SIZE = 8;
/** Bytes before the payload: type u8, channel u16, size u32. */
export const FRAME_HEADER_SIZE = 7;
/** Bytes a frame adds to its payload: the 7-byte header and the frame-end octet. */
export const FRAME_OVERHEAD = 8;

/** The protocol header this broker speaks. */
export const PROTOCOL_HEADER: Buffer = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, PROTOCOL_MAJOR, PROTOCOL_MINOR, PROTOCOL_REVISION]);

/** Bytes of 'AMQP' that must open the protocol header; a mismatch there is rejected without waiting. */
const PROTOCOL_NAME_SIZE = 4;

const enum State {
  /** collecting the 8-byte protocol header into `header` */
  ProtocolHeader,
  /** at a frame boundary, or collecting a straddling 7-byte frame header into `head` */
  FrameHeader,
  /** collecting a straddling payload into `payload` */
  Payload,
  /** waiting for the frame-end octet of a straddling frame */
  FrameEnd,
  /** after a bad protocol header or a frame error: all input is ignored */
  Closed,
}

function isFrameType(type: number): boolean {
  return type === FRAME_METHOD || type === FRAME_HEADER || type === FRAME_BODY || type === FRAME_HEARTBEAT;
}

export class FrameParser {
  private readonly sink: FrameSink;
  private maxFrameSize: number;
  private state: State = State.ProtocolHeader;

  /** protocol header bytes collected so far (allocated once per connection) */
  private readonly header: Buffer = Buffer.alloc(PROTOCOL_HEADER_SIZE);
  private headerFill = 0;

  /** a frame header split across chunks; internal only, never handed out */
  private readonly head: Buffer = Buffer.alloc(FRAME_HEADER_SIZE);
  private headFill = 0;

  /** the straddling frame being assembled */
  private frameType = 0;
  private frameChannel = 0;
  private payload: Buffer = Buffer.alloc(0);
  private payloadFill = 0;

  /** `maxFrameSize` bounds the whole frame, the 8 bytes of overhead included. */
  constructor(sink: FrameSink, maxFrameSize: number) {
    this.sink = sink;
    this.maxFrameSize = maxFrameSize;
  }

  /** Changes the frame-size limit (whole frame, overhead included), e.g. once connection.tune-ok arrives. */
  setMaxFrameSize(n: number): void {
    this.maxFrameSize = n;
  }

  /** True once the parser has rejected its input and ignores everything further. */
  get closed(): boolean {
    return this.state === State.Closed;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.state === State.ProtocolHeader) {
      pos = this.readProtocolHeader(chunk);
      if (pos < 0) return;
    }
    const length = chunk.length;
    while (pos < length) {
      switch (this.state) {
        case State.FrameHeader:
          pos = this.headHasBytes() ? this.continueHead(chunk, pos) : this.readFrames(chunk, pos);
          break;
        case State.Payload:
          pos = this.continuePayload(chunk, pos);
          break;
        case State.FrameEnd:
          pos = this.finishStraddlingFrame(chunk, pos);
          break;
        default:
          return; // Closed
      }
    }
  }

  private headHasBytes(): boolean {
    return this.headFill > 0;
  }

  /**
   * Consumes protocol header bytes. Returns the position after the header once it is complete and
   * accepted, or -1 while it is incomplete or after rejecting it.
   */
  private readProtocolHeader(chunk: Buffer): number {
    const take = Math.min(PROTOCOL_HEADER_SIZE - this.headerFill, chunk.length);
    chunk.copy(this.header, this.headerFill, 0, take);
    const start = this.headerFill;
    this.headerFill += take;
    for (let i = start; i < this.headerFill && i < PROTOCOL_NAME_SIZE; i++) {
      if (this.header[i] !== PROTOCOL_HEADER[i]) {
        // report only up to the first wrong byte, so the outcome does not depend on chunking
        this.rejectProtocolHeader(i + 1);
        return -1;
      }
    }
    if (this.headerFill < PROTOCOL_HEADER_SIZE) return -1;
    if (!this.header.equals(PROTOCOL_HEADER)) {
      this.rejectProtocolHeader(PROTOCOL_HEADER_SIZE);
      return -1;
    }
    this.state = State.FrameHeader;
    this.sink.onProtocolHeader(true, this.header);
    return take;
  }

  private rejectProtocolHeader(received: number): void {
    this.state = State.Closed;
    this.sink.onProtocolHeader(false, this.header.subarray(0, received));
  }

  /**
   * The fast path, at a frame boundary: delivers every frame that lies wholly inside `chunk` as a subarray,
   * then starts assembling a trailing partial frame, if any. Returns the position reached.
   */
  private readFrames(chunk: Buffer, pos: number): number {
    const length = chunk.length;
    while (length - pos >= FRAME_HEADER_SIZE) {
      // the loop condition puts the whole 7-byte header inside the chunk; plain indexing, because
      // readUInt8/readUInt16BE here cost about 40% more parser time (600k frames: 35 ms -> 55 ms)
      const type = chunk[pos]!;
      const channel = (chunk[pos + 1]! << 8) | chunk[pos + 2]!;
      const size = chunk.readUInt32BE(pos + 3);
      if (!this.checkFrameHeader(type, size)) return length;
      const payloadStart = pos + FRAME_HEADER_SIZE;
      const frameEnd = payloadStart + size;
      if (frameEnd >= length) {
        // the payload or the frame-end octet is in a later chunk
        this.beginStraddlingFrame(type, channel, size);
        return this.continuePayload(chunk, payloadStart);
      }
      const frameEndOctet = chunk[frameEnd]!; // frameEnd < length: checked just above
      if (frameEndOctet !== FRAME_END) {
        this.frameError(ReplyCode.FRAME_ERROR, `frame-end octet is 0x${frameEndOctet.toString(16)}, not 0xce`);
        return length;
      }
      pos = frameEnd + 1;
      this.sink.onFrame(type, channel, chunk.subarray(payloadStart, frameEnd));
      if (this.state !== State.FrameHeader) return length; // the sink closed us
    }
    // fewer than 7 bytes left: keep them for the next chunk
    chunk.copy(this.head, 0, pos, length);
    this.headFill = length - pos;
    return length;
  }

  /** Completes a frame header split across chunks. */
  private continueHead(chunk: Buffer, pos: number): number {
    const take = Math.min(FRAME_HEADER_SIZE - this.headFill, chunk.length - pos);
    chunk.copy(this.head, this.headFill, pos, pos + take);
    this.headFill += take;
    pos += take;
    if (this.headFill < FRAME_HEADER_SIZE) return pos;
    this.headFill = 0;
    const head = this.head;
    const type = head.readUInt8(0);
    const size = head.readUInt32BE(3);
    if (!this.checkFrameHeader(type, size)) return chunk.length;
    this.beginStraddlingFrame(type, head.readUInt16BE(1), size);
    return pos;
  }

  /** Validates a frame header; reports the error and returns false if it is bad. */
  private checkFrameHeader(type: number, size: number): boolean {
    if (!isFrameType(type)) {
      this.frameError(ReplyCode.FRAME_ERROR, `unknown frame type ${type}`);
      return false;
    }
    if (size + FRAME_OVERHEAD > this.maxFrameSize) {
      this.frameError(ReplyCode.FRAME_ERROR, `frame of ${size + FRAME_OVERHEAD} bytes exceeds the negotiated frame-max of ${this.maxFrameSize}`);
      return false;
    }
    return true;
  }

  private beginStraddlingFrame(type: number, channel: number, size: number): void {
    this.frameType = type;
    this.frameChannel = channel;
    // memory of its own, not a slice of Node's shared pool (8 KiB on Node 20, 64 KiB on Node 24): a payload
    // kept as a message body must not hold a pool slab, and other buffers' bytes, alive with it
    this.payload = Buffer.allocUnsafeSlow(size);
    this.payloadFill = 0;
    this.state = size === 0 ? State.FrameEnd : State.Payload;
  }

  private continuePayload(chunk: Buffer, pos: number): number {
    const payload = this.payload;
    const take = Math.min(payload.length - this.payloadFill, chunk.length - pos);
    chunk.copy(payload, this.payloadFill, pos, pos + take);
    this.payloadFill += take;
    if (this.payloadFill === payload.length) this.state = State.FrameEnd;
    return pos + take;
  }

  /** `pos` is inside `chunk`: push() calls this only while bytes remain. */
  private finishStraddlingFrame(chunk: Buffer, pos: number): number {
    const frameEndOctet = chunk.readUInt8(pos);
    if (frameEndOctet !== FRAME_END) {
      this.frameError(ReplyCode.FRAME_ERROR, `frame-end octet is 0x${frameEndOctet.toString(16)}, not 0xce`);
      return chunk.length;
    }
    const payload = this.payload;
    this.payload = EMPTY; // drop our reference: the sink owns it now
    this.state = State.FrameHeader;
    this.sink.onFrame(this.frameType, this.frameChannel, payload);
    return pos + 1;
  }

  private frameError(replyCode: number, text: string): void {
    this.state = State.Closed;
    this.payload = EMPTY;
    this.sink.onFrameError(replyCode, text);
  }
}

const EMPTY: Buffer = Buffer.alloc(0);
