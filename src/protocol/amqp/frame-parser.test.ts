import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AmqpCodecError } from '../../errors/codec-error.js';
import { FRAME_OVERHEAD, FrameParser, PROTOCOL_HEADER, type FrameSink } from './frame-parser.js';
import {
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FRAME_MIN_SIZE,
  M_BASIC_ACK,
  M_BASIC_PUBLISH,
  M_CONNECTION_TUNE_OK,
  M_QUEUE_DECLARE,
  decodeMethod,
  encodeBasicHeaderFrame,
  encodeMethodFrame,
} from './generated/spec.js';
import { seededRandom as prng } from '../../util/seeded-random.js';

// ---- helpers ----------------------------------------------------------------------------------------------

type Event = ['header', boolean, Buffer] | ['frame', number, number, Buffer] | ['error', number];

class Recorder implements FrameSink {
  readonly events: Event[] = [];
  onProtocolHeader(ok: boolean, header: Buffer): void {
    this.events.push(['header', ok, Buffer.from(header)]);
  }
  onFrame(type: number, channel: number, payload: Buffer): void {
    // keep the payload itself, not a copy: later pushes must not change it
    this.events.push(['frame', type, channel, payload]);
  }
  onFrameError(replyCode: number): void {
    this.events.push(['error', replyCode]);
  }
}

const MAX_FRAME = 131072;

/** Feeds `chunks` to a fresh parser; returns what the sink saw. */
function parse(chunks: Buffer[], maxFrameSize = MAX_FRAME): Event[] {
  const sink = new Recorder();
  const parser = new FrameParser(sink, maxFrameSize);
  for (const c of chunks) parser.push(c);
  return sink.events;
}

/** A raw frame with an arbitrary type, size field and frame-end octet. */
function rawFrame(type: number, channel: number, payload: Buffer, end = 0xce, size = payload.length): Buffer {
  const head = Buffer.alloc(7);
  head[0] = type;
  head.writeUInt16BE(channel, 1);
  head.writeUInt32BE(size, 3);
  return Buffer.concat([head, payload, Buffer.from([end])]);
}

const body = Buffer.alloc(5000);
for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) & 0xff;

/** A realistic stream: header, publish + content header + two bodies, an empty body, a heartbeat, an ack. */
const STREAM = Buffer.concat([
  PROTOCOL_HEADER,
  encodeMethodFrame(1, { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange: 'amq.direct', routingKey: 'k', mandatory: true, immediate: false } }),
  encodeBasicHeaderFrame(1, 5003, { contentType: 'text/plain', deliveryMode: 2, headers: { a: 1 } }),
  rawFrame(FRAME_BODY, 1, body),
  rawFrame(FRAME_BODY, 1, Buffer.from('end')),
  rawFrame(FRAME_BODY, 2, Buffer.alloc(0)),
  rawFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0)),
  encodeMethodFrame(65535, { id: M_BASIC_ACK, args: { deliveryTag: 1, multiple: false } }),
]);

const EXPECTED: Event[] = [
  ['header', true, PROTOCOL_HEADER],
  [
    'frame',
    FRAME_METHOD,
    1,
    encodeMethodFrame(1, { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange: 'amq.direct', routingKey: 'k', mandatory: true, immediate: false } }).subarray(
      7,
      -1,
    ),
  ],
  ['frame', FRAME_HEADER, 1, encodeBasicHeaderFrame(1, 5003, { contentType: 'text/plain', deliveryMode: 2, headers: { a: 1 } }).subarray(7, -1)],
  ['frame', FRAME_BODY, 1, body],
  ['frame', FRAME_BODY, 1, Buffer.from('end')],
  ['frame', FRAME_BODY, 2, Buffer.alloc(0)],
  ['frame', FRAME_HEARTBEAT, 0, Buffer.alloc(0)],
  ['frame', FRAME_METHOD, 65535, encodeMethodFrame(65535, { id: M_BASIC_ACK, args: { deliveryTag: 1, multiple: false } }).subarray(7, -1)],
];

// ---- splitting --------------------------------------------------------------------------------------------

test('a stream pushed in one chunk yields every frame', () => {
  assert.deepEqual(parse([STREAM]), EXPECTED);
});

test('every two-way split of the stream yields the same frames', () => {
  for (let i = 0; i <= STREAM.length; i++) {
    assert.deepEqual(parse([STREAM.subarray(0, i), STREAM.subarray(i)]), EXPECTED, `split at ${i}`);
  }
});

test('one byte at a time yields the same frames, and they stay valid after the chunks are overwritten', () => {
  const sink = new Recorder();
  const parser = new FrameParser(sink, MAX_FRAME);
  for (const byte of STREAM) {
    const chunk = Buffer.from([byte]);
    parser.push(chunk);
    chunk[0] = byte ^ 0xff; // a caller reusing its chunk must not corrupt assembled frames
  }
  assert.deepEqual(sink.events, EXPECTED);
});

test('random multi-way splits, including empty chunks, yield the same frames', () => {
  const random = prng(42);
  for (let trial = 0; trial < 500; trial++) {
    const chunks: Buffer[] = [];
    let pos = 0;
    while (pos < STREAM.length) {
      const n = Math.floor(random() ** 3 * 6000);
      chunks.push(STREAM.subarray(pos, pos + n));
      pos += n;
    }
    assert.deepEqual(parse(chunks), EXPECTED, `trial ${trial}`);
  }
});

test('a frame wholly inside a chunk is a zero-copy view of that chunk', () => {
  const chunk = Buffer.from(STREAM);
  const events = parse([chunk]);
  for (const e of events) {
    if (e[0] !== 'frame' || e[3].length === 0) continue;
    assert.equal(e[3].buffer, chunk.buffer);
  }
});

test('a straddling frame is copied into a buffer of exactly its payload size', () => {
  const frame = rawFrame(FRAME_BODY, 3, body);
  const sink = new Recorder();
  const parser = new FrameParser(sink, MAX_FRAME);
  const a = Buffer.concat([PROTOCOL_HEADER, frame.subarray(0, 100)]);
  const b = Buffer.from(frame.subarray(100));
  parser.push(a);
  parser.push(b);
  const event = sink.events[1];
  assert.ok(event, 'a frame event after the protocol header');
  assert.equal(event[0], 'frame');
  const payload = event[3] as Buffer;
  assert.equal(payload.length, body.length);
  assert.notEqual(payload.buffer, a.buffer);
  assert.notEqual(payload.buffer, b.buffer);
  a.fill(0);
  b.fill(0);
  assert.deepEqual(payload, body);
});

test('decoded method frames from a split stream are correct', () => {
  const m = {
    id: M_QUEUE_DECLARE,
    args: { ticket: 0, queue: 'orders', passive: false, durable: true, exclusive: false, autoDelete: true, nowait: true, arguments: { 'x-max-length': 10 } },
  } as const;
  const input = Buffer.concat([PROTOCOL_HEADER, encodeMethodFrame(4, m)]);
  for (let i = 0; i <= input.length; i++) {
    const events = parse([input.subarray(0, i), input.subarray(i)]);
    const frame = events[1];
    assert.ok(frame, `a frame event after the protocol header (split at ${i})`);
    assert.equal(frame[0], 'frame');
    const payload = frame[3] as Buffer;
    assert.deepEqual(decodeMethod(payload, 0, payload.length), m);
  }
});

// ---- malformed input --------------------------------------------------------------------------------------

const GOOD = encodeMethodFrame(0, { id: M_CONNECTION_TUNE_OK, args: { channelMax: 2047, frameMax: 131072, heartbeat: 60 } });
const GOOD_EVENT: Event = ['frame', FRAME_METHOD, 0, GOOD.subarray(7, -1)];

interface Malformed {
  name: string;
  input: Buffer;
  /** events before the failure (after a good header), then the failure */
  expected: Event[];
  maxFrameSize?: number;
}

const MALFORMED: Malformed[] = [
  {
    name: 'AMQP 0-9-0 header',
    input: Buffer.from('AMQP\x00\x00\x09\x00', 'latin1'),
    expected: [['header', false, Buffer.from('AMQP\x00\x00\x09\x00', 'latin1')]],
  },
  {
    name: 'AMQP 0-8 style header',
    input: Buffer.from('AMQP\x01\x01\x00\x09', 'latin1'),
    expected: [['header', false, Buffer.from('AMQP\x01\x01\x00\x09', 'latin1')]],
  },
  {
    name: 'AMQP 1.0 header',
    input: Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'),
    expected: [['header', false, Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')]],
  },
  { name: 'HTTP request, rejected at the first byte', input: Buffer.from('GET / HTTP/1.1\r\n\r\n'), expected: [['header', false, Buffer.from('G')]] },
  { name: 'lower-case amqp', input: Buffer.from('amqp\x00\x00\x09\x01', 'latin1'), expected: [['header', false, Buffer.from('a')]] },
  {
    name: 'bad frame end',
    input: Buffer.concat([PROTOCOL_HEADER, GOOD, rawFrame(FRAME_METHOD, 0, GOOD.subarray(7, -1), 0xcd)]),
    expected: [['header', true, PROTOCOL_HEADER], GOOD_EVENT, ['error', 501]],
  },
  {
    name: 'frame end missing (size field one too small)',
    input: Buffer.concat([PROTOCOL_HEADER, rawFrame(FRAME_BODY, 1, Buffer.from('abcd'), 0xce, 3)]),
    expected: [
      ['header', true, PROTOCOL_HEADER],
      ['error', 501],
    ],
  },
  {
    name: 'oversize frame, reported from its header alone',
    input: Buffer.concat([PROTOCOL_HEADER, GOOD, rawFrame(FRAME_BODY, 1, Buffer.alloc(0), 0xce, FRAME_MIN_SIZE - FRAME_OVERHEAD + 1).subarray(0, 7)]),
    expected: [['header', true, PROTOCOL_HEADER], GOOD_EVENT, ['error', 501]],
    maxFrameSize: FRAME_MIN_SIZE,
  },
  {
    name: 'size field of 4 GiB',
    input: Buffer.concat([PROTOCOL_HEADER, Buffer.from([FRAME_BODY, 0, 1, 0xff, 0xff, 0xff, 0xff])]),
    expected: [
      ['header', true, PROTOCOL_HEADER],
      ['error', 501],
    ],
  },
  {
    name: 'frame type 0',
    input: Buffer.concat([PROTOCOL_HEADER, rawFrame(0, 0, Buffer.alloc(0))]),
    expected: [
      ['header', true, PROTOCOL_HEADER],
      ['error', 501],
    ],
  },
  {
    name: 'frame type 4',
    input: Buffer.concat([PROTOCOL_HEADER, rawFrame(4, 0, Buffer.alloc(1))]),
    expected: [
      ['header', true, PROTOCOL_HEADER],
      ['error', 501],
    ],
  },
  {
    name: 'frame type 206',
    input: Buffer.concat([PROTOCOL_HEADER, GOOD, rawFrame(206, 0, Buffer.alloc(1))]),
    expected: [['header', true, PROTOCOL_HEADER], GOOD_EVENT, ['error', 501]],
  },
];

test('malformed input gets the right reply code, once, and nothing after it', () => {
  for (const c of MALFORMED) {
    // trailing good frames must never be delivered once the input is rejected
    const input = Buffer.concat([c.input, GOOD, GOOD]);
    const whole = parse([input], c.maxFrameSize);
    assert.deepEqual(whole, c.expected, c.name);
    const bytewise = parse(
      Array.from(input, (b) => Buffer.from([b])),
      c.maxFrameSize,
    );
    assert.deepEqual(bytewise, c.expected, `${c.name} (one byte at a time)`);
  }
});

test('a frame of exactly frame-max is accepted, one byte more is not', () => {
  const payload = Buffer.alloc(FRAME_MIN_SIZE - FRAME_OVERHEAD, 1);
  assert.deepEqual(parse([PROTOCOL_HEADER, rawFrame(FRAME_BODY, 1, payload)], FRAME_MIN_SIZE), [
    ['header', true, PROTOCOL_HEADER],
    ['frame', FRAME_BODY, 1, payload],
  ]);
  assert.deepEqual(parse([PROTOCOL_HEADER, rawFrame(FRAME_BODY, 1, Buffer.alloc(payload.length + 1))], FRAME_MIN_SIZE), [
    ['header', true, PROTOCOL_HEADER],
    ['error', 501],
  ]);
});

test('setMaxFrameSize applies to the next frame', () => {
  const sink = new Recorder();
  const parser = new FrameParser(sink, MAX_FRAME);
  parser.push(Buffer.concat([PROTOCOL_HEADER, rawFrame(FRAME_BODY, 1, Buffer.alloc(200))]));
  parser.setMaxFrameSize(100);
  parser.push(rawFrame(FRAME_BODY, 1, Buffer.alloc(200)));
  assert.deepEqual(
    sink.events.map((e) => e[0]),
    ['header', 'frame', 'error'],
  );
  assert.equal(parser.closed, true);
});

// ---- fuzz -------------------------------------------------------------------------------------------------

test('fuzz: random and mutated streams never throw, never hang, split the same way, and stop after an error', () => {
  const random = prng(0xf0220);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => {
    const item = items[int(items.length)];
    assert.ok(item !== undefined, 'pick from a non-empty list');
    return item;
  };
  const seeds = [
    GOOD.subarray(7, -1),
    encodeMethodFrame(1, { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange: 'e', routingKey: 'r', mandatory: false, immediate: false } }).subarray(7, -1),
    encodeMethodFrame(1, {
      id: M_QUEUE_DECLARE,
      args: { ticket: 0, queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: false, nowait: false, arguments: { a: [1, 'b'] } },
    }).subarray(7, -1),
    encodeBasicHeaderFrame(1, 10, { headers: { h: true }, priority: 1 }).subarray(7, -1),
  ];
  const started = Date.now();
  let frames = 0;
  let errors = 0;
  for (let i = 0; i < 20_000; i++) {
    const parts: Buffer[] = [random() < 0.03 ? Buffer.from([65, 77, 81, 80, 0, 0, 9, int(3)]) : PROTOCOL_HEADER];
    for (let k = 1 + int(4); k > 0; k--) {
      const payload = Buffer.from(random() < 0.7 ? pick(seeds) : Array.from({ length: int(64) }, () => int(256)));
      if (random() < 0.5 && payload.length > 0) payload[int(payload.length)] = int(256);
      const type = random() < 0.9 ? pick([FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT]) : int(256);
      const size = random() < 0.95 ? payload.length : payload.length + int(5) - 2;
      parts.push(rawFrame(type, int(65536), payload, random() < 0.97 ? 0xce : int(256), Math.max(0, size)));
    }
    const input = Buffer.concat(parts);
    if (random() < 0.3) input[int(input.length)] = int(256);

    const whole = parse([input], 512);
    const chunks: Buffer[] = [];
    for (let pos = 0; pos < input.length;) {
      const n = 1 + int(40);
      chunks.push(input.subarray(pos, pos + n));
      pos += n;
    }
    assert.deepEqual(parse(chunks, 512), whole, `iteration ${i}`);

    const failed = whole.findIndex((e) => e[0] === 'error' || (e[0] === 'header' && !e[1]));
    if (failed >= 0) {
      errors++;
      assert.equal(failed, whole.length - 1, 'events after an error');
    }
    for (const e of whole) {
      if (e[0] !== 'frame') continue;
      frames++;
      if (e[1] !== FRAME_METHOD) continue;
      try {
        decodeMethod(e[3], 0, e[3].length);
      } catch (err) {
        assert.ok(err instanceof AmqpCodecError, String(err));
      }
    }
  }
  assert.ok(frames > 10_000 && errors > 1_000, `frames ${frames}, errors ${errors}`);
  assert.ok(Date.now() - started < 30_000, 'fuzz took too long');
});
