import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AmqpCodecError } from '../../errors/codec-error.js';
import { AmqpDecimal, encodeTable, type FieldTable } from '../../core/field-table.js';
import { FrameParser, PROTOCOL_HEADER, type FrameSink } from './frame-parser.js';
import {
  CLASS_BASIC,
  FRAME_END,
  FRAME_HEADER,
  FRAME_METHOD,
  M_ACCESS_REQUEST,
  M_BASIC_ACK,
  M_BASIC_DELIVER,
  M_BASIC_NACK,
  M_BASIC_PUBLISH,
  M_BASIC_RECOVER_ASYNC,
  M_CONNECTION_CLOSE,
  M_EXCHANGE_UNBIND_OK,
  M_QUEUE_DECLARE,
  M_TX_SELECT,
  METHOD_INFO,
  ReplyCode,
  basicPropertiesSize,
  classIdOf,
  decodeBasicProperties,
  decodeMethod,
  encodeBasicHeaderFrame,
  encodeMethodFrame,
  isHardError,
  methodFrameSize,
  methodHasContent,
  methodIdOf,
  methodName,
  methodPayloadSize,
  newPropertyScan,
  scanBasicProperties,
  sizeQueueDeclare,
  writeBasicProperties,
  writeMethodFrame,
  writeQueueDeclare,
  type AmqpMethod,
  type AmqpMethodInfo,
  type BasicProperties,
  type PropertyScan,
} from './generated/spec.js';
import { seededRandom as prng } from '../../util/seeded-random.js';

// ---- helpers ----------------------------------------------------------------------------------------------

/** Finds `relative` in the current directory or an ancestor, or next to / above this test file. */
function findUp(relative: string): string | undefined {
  for (const start of [process.cwd(), dirname(fileURLToPath(import.meta.url))]) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, relative);
      if (existsSync(candidate)) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

function specPath(): string | undefined {
  const dir = process.env.POSTBOX_SPECS_DIR;
  if (dir !== undefined) return join(dir, 'amqp-0-9-1', 'amqp-rabbitmq-0.9.1.json');
  return findUp(join('shared', 'specs', 'amqp-0-9-1', 'amqp-rabbitmq-0.9.1.json'));
}

interface AmqplibDefs {
  encodeMethod(id: number, channel: number, fields: object): Buffer;
  encodeProperties(classId: number, channel: number, size: number, fields: object): Buffer;
}

function loadAmqplibDefs(): AmqplibDefs | undefined {
  const path = findUp(join('node_modules', 'amqplib', 'lib', 'defs.js'));
  if (path === undefined) return undefined;
  return createRequire(import.meta.url)(path) as AmqplibDefs;
}

/** A table whose encoding amqplib produces identically (no small ints: amqplib picks b/s for those). */
const PORTABLE_TABLE: FieldTable = {
  'x-message-ttl': 1234567,
  'x-queue-type': 'quorum',
  flag: true,
  off: false,
  nested: { key: 'value', deeper: { n: -99999 } },
  list: ['a', 70000, true],
  bytes: Buffer.from([0, 1, 254, 255]),
  nothing: null,
  ratio: 0.25,
};

/**
 * Non-default arguments for `info`; `variant` changes bit patterns and values so several encodings of
 * each method are checked.
 */
function sampleArgs(info: AmqpMethodInfo, variant: number): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  info.fields.forEach((f, i) => {
    switch (f.type) {
      case 'bit':
        args[f.name] = variant === 0 ? true : variant === 1 ? i % 2 === 0 : i % 3 === 1;
        break;
      case 'octet':
        args[f.name] = (200 + i + variant) & 0xff;
        break;
      case 'short':
        args[f.name] = 0xbeef - i - variant;
        break;
      case 'long':
        args[f.name] = 0xdeadbeef - i - variant;
        break;
      case 'longlong':
        args[f.name] = Number.MAX_SAFE_INTEGER - i - variant;
        break;
      case 'timestamp':
        args[f.name] = 1_700_000_000 + i;
        break;
      case 'shortstr':
        args[f.name] = variant === 2 ? 'é'.repeat(127) + 'x' : `${info.name}/${f.name}/ü${variant}`;
        break;
      case 'longstr':
        args[f.name] = Buffer.from(`\u0000${f.name}\u0000${'s'.repeat(variant * 300)}`);
        break;
      case 'table':
        args[f.name] = variant === 1 ? {} : PORTABLE_TABLE;
        break;
    }
  });
  return args;
}

function methodOf(info: AmqpMethodInfo, variant: number): AmqpMethod {
  return { id: info.id, args: sampleArgs(info, variant) } as AmqpMethod;
}

class Collect implements FrameSink {
  readonly frames: { type: number; channel: number; payload: Buffer }[] = [];
  readonly errors: number[] = [];
  onProtocolHeader(ok: boolean): void {
    assert.equal(ok, true);
  }
  onFrame(type: number, channel: number, payload: Buffer): void {
    this.frames.push({ type, channel, payload });
  }
  onFrameError(replyCode: number): void {
    this.errors.push(replyCode);
  }
}

function expectCodecError(fn: () => unknown, replyCode: number): void {
  assert.throws(fn, (e: unknown) => e instanceof AmqpCodecError && e.replyCode === replyCode);
}

// ---- the generated tables match the spec --------------------------------------------------------------------

test('every method in the spec has an id constant, a name and content/sync flags', (t) => {
  const path = specPath();
  if (path === undefined) return t.skip('spec file not found');
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    classes: { name: string; id: number; methods: { name: string; id: number; content?: boolean; arguments: unknown[] }[] }[];
  };
  const expected = json.classes.flatMap((c) =>
    c.methods.map((m) => ({ id: c.id * 65536 + m.id, name: `${c.name}.${m.name}`, content: m.content === true, n: m.arguments.length })),
  );
  assert.equal(METHOD_INFO.length, expected.length);
  for (const e of expected) {
    const info = METHOD_INFO.find((i) => i.id === e.id);
    assert.ok(info, e.name);
    assert.equal(info.name, e.name);
    assert.equal(info.fields.length, e.n);
    assert.equal(methodName(e.id), e.name);
    assert.equal(methodHasContent(e.id), e.content);
  }
});

test('method ids combine class and method ids', () => {
  assert.equal(M_BASIC_PUBLISH, 0x3c0028);
  assert.equal(classIdOf(M_BASIC_PUBLISH), CLASS_BASIC);
  assert.equal(methodIdOf(M_BASIC_PUBLISH), 40);
  assert.equal(M_EXCHANGE_UNBIND_OK, (40 << 16) | 51);
  assert.equal(M_BASIC_RECOVER_ASYNC, (60 << 16) | 100);
  assert.equal(methodName(0x3c03e7), 'unknown(60.999)');
  assert.equal(methodHasContent(M_BASIC_DELIVER), true);
  assert.equal(methodHasContent(M_BASIC_ACK), false);
});

test('reply codes and their hard/soft class come from the spec', () => {
  assert.equal(ReplyCode.NOT_FOUND, 404);
  assert.equal(ReplyCode.FRAME_ERROR, 501);
  assert.equal(isHardError(ReplyCode.FRAME_ERROR), true);
  assert.equal(isHardError(ReplyCode.CONNECTION_FORCED), true);
  assert.equal(isHardError(ReplyCode.PRECONDITION_FAILED), false);
  assert.equal(isHardError(ReplyCode.REPLY_SUCCESS), false);
});

test('the method union narrows args by id', () => {
  const m = decodeMethod(
    encodeMethodFrame(1, { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange: 'x', routingKey: 'rk', mandatory: true, immediate: false } }),
    7,
    Number.MAX_SAFE_INTEGER,
  );
  switch (m.id) {
    case M_BASIC_PUBLISH:
      assert.equal(m.args.routingKey, 'rk');
      assert.equal(m.args.mandatory, true);
      break;
    default:
      assert.fail(`decoded ${methodName(m.id)}`);
  }
});

// ---- round trips ----------------------------------------------------------------------------------------------

test('every method survives encodeMethodFrame -> FrameParser -> decodeMethod with non-default args', () => {
  for (const info of METHOD_INFO) {
    for (let variant = 0; variant < 3; variant++) {
      const m = methodOf(info, variant);
      const frame = encodeMethodFrame(513, m);
      assert.equal(frame.length, methodFrameSize(m));
      assert.equal(frame.length, 8 + methodPayloadSize(m));
      assert.equal(frame[0], FRAME_METHOD);
      assert.equal(frame[frame.length - 1], FRAME_END);

      const sink = new Collect();
      const parser = new FrameParser(sink, 1 << 20);
      parser.push(Buffer.concat([PROTOCOL_HEADER, frame]));
      assert.equal(sink.frames.length, 1, info.name);
      const first = sink.frames[0];
      assert.ok(first, info.name);
      const { type, channel, payload } = first;
      assert.equal(type, FRAME_METHOD);
      assert.equal(channel, 513);
      assert.deepEqual(decodeMethod(payload, 0, payload.length), m, `${info.name} variant ${variant}`);
    }
  }
});

test('writeMethodFrame writes the same bytes into a larger buffer at an offset', () => {
  const m = methodOf(
    METHOD_INFO.find((i) => i.id === M_QUEUE_DECLARE)!,
    0,
  );
  const expected = encodeMethodFrame(3, m);
  const buf = Buffer.alloc(expected.length + 20, 0xaa);
  assert.equal(writeMethodFrame(buf, 10, 3, m), 10 + expected.length);
  assert.deepEqual(buf.subarray(10, 10 + expected.length), expected);
  assert.equal(buf[9], 0xaa);
  assert.equal(buf[10 + expected.length], 0xaa);
});

test('consecutive bits pack into one octet, least significant bit first', () => {
  const args = { ticket: 0, queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: true, nowait: true, arguments: {} };
  const payload = Buffer.alloc(sizeQueueDeclare(args));
  assert.equal(writeQueueDeclare(payload, 0, args), payload.length);
  // | 00 32 00 0a | ticket 00 00 | 01 'q' | bits | table length 00 00 00 00 |
  assert.deepEqual(payload, Buffer.from([0, 50, 0, 10, 0, 0, 1, 0x71, 0b11010, 0, 0, 0, 0]));
  assert.deepEqual(decodeMethod(payload, 0, payload.length), { id: M_QUEUE_DECLARE, args });

  const nack = encodeMethodFrame(0, { id: M_BASIC_NACK, args: { deliveryTag: 258, multiple: false, requeue: true } });
  assert.deepEqual(nack.subarray(7, -1), Buffer.from([0, 60, 0, 120, 0, 0, 0, 0, 0, 0, 1, 2, 0b10]));

  const access = encodeMethodFrame(0, {
    id: M_ACCESS_REQUEST,
    args: { realm: '', exclusive: true, passive: false, active: true, write: false, read: true },
  });
  assert.deepEqual(access.subarray(7, -1), Buffer.from([0, 30, 0, 10, 0, 0b10101]));
});

test('trailing bytes after the last argument are ignored', () => {
  const frame = encodeMethodFrame(0, { id: M_BASIC_ACK, args: { deliveryTag: 7, multiple: true } });
  const payload = Buffer.concat([frame.subarray(7, -1), Buffer.from([1, 2, 3])]);
  assert.deepEqual(decodeMethod(payload, 0, payload.length), { id: M_BASIC_ACK, args: { deliveryTag: 7, multiple: true } });
});

test('decodeMethod honours offset and end inside a larger buffer', () => {
  const frame = encodeMethodFrame(0, { id: M_CONNECTION_CLOSE, args: { replyCode: 320, replyText: 'bye', classId: 0, methodId: 0 } });
  assert.deepEqual(decodeMethod(frame, 7, frame.length - 1).args, { replyCode: 320, replyText: 'bye', classId: 0, methodId: 0 });
  expectCodecError(() => decodeMethod(frame, 7, frame.length - 3), 502);
});

// ---- decode errors ------------------------------------------------------------------------------------------

test('unknown classes and methods are 540 NOT_IMPLEMENTED', () => {
  expectCodecError(() => decodeMethod(Buffer.from([0x03, 0xe7, 0, 10]), 0, 4), 540);
  expectCodecError(() => decodeMethod(Buffer.from([0, 60, 0x03, 0xe7]), 0, 4), 540);
  expectCodecError(() => decodeMethod(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0]), 0, 6), 540);
});

test('every truncation of every method is 502 SYNTAX_ERROR', () => {
  for (const info of METHOD_INFO) {
    const payload = encodeMethodFrame(0, methodOf(info, 0)).subarray(7, -1);
    for (let cut = 0; cut < payload.length; cut++) {
      if (cut >= 4 && info.fields.length === 0) continue;
      expectCodecError(() => decodeMethod(payload, 0, cut), 502);
      // the same cut made by the buffer itself, not by `end`
      expectCodecError(() => decodeMethod(Buffer.from(payload.subarray(0, cut)), 0, payload.length), 502);
    }
  }
});

test('a malformed table argument is 502 SYNTAX_ERROR', () => {
  const payload = Buffer.from(
    encodeMethodFrame(0, {
      id: M_QUEUE_DECLARE,
      args: { ticket: 0, queue: 'q', passive: false, durable: false, exclusive: false, autoDelete: false, nowait: false, arguments: { k: 'v' } },
    }).subarray(7, -1),
  );
  const tag = payload.indexOf('S'.charCodeAt(0), 13);
  payload[tag] = 'Z'.charCodeAt(0);
  expectCodecError(() => decodeMethod(payload, 0, payload.length), 502);
});

// ---- basic properties ---------------------------------------------------------------------------------------

const EVERY_TYPE_HEADERS: FieldTable = {
  bool: true,
  int: -123456,
  long: 2 ** 40,
  big: 2n ** 62n,
  double: 3.25,
  string: 'héllo',
  bytes: Buffer.from([0, 1, 255]),
  date: new Date(1_700_000_000_000),
  decimal: new AmqpDecimal(2, 12345),
  void: null,
  array: [1, 'two', false, null, [3], { in: 'array' }],
  table: { a: { b: 'c' } },
};

const ALL_PROPERTIES: BasicProperties = {
  contentType: 'application/json',
  contentEncoding: 'gzip',
  headers: EVERY_TYPE_HEADERS,
  deliveryMode: 2,
  priority: 9,
  correlationId: 'corr-1',
  replyTo: 'amq.rabbitmq.reply-to',
  expiration: '60000',
  messageId: 'msg-ü',
  timestamp: 1_700_000_123,
  type: 'order.created',
  userId: 'guest',
  appId: 'postbox-test',
  clusterId: 'c1',
};

function encodeProperties(p: BasicProperties): Buffer {
  const buf = Buffer.alloc(basicPropertiesSize(p));
  assert.equal(writeBasicProperties(buf, 0, p), buf.length);
  return buf;
}

function assertScanAgrees(buf: Buffer, scan: PropertyScan, p: BasicProperties): void {
  scanBasicProperties(buf, 0, buf.length, scan);
  assert.equal(scan.deliveryMode, p.deliveryMode ?? 0);
  assert.equal(scan.priority, p.priority ?? -1);
  assert.equal(scan.expiration, p.expiration);
  assert.equal(scan.end, buf.length);
  if (p.headers === undefined) {
    assert.equal(scan.headersStart, -1);
    assert.equal(scan.headersEnd, -1);
  } else {
    assert.deepEqual(buf.subarray(scan.headersStart, scan.headersEnd), encodeTable(p.headers));
  }
}

test('basic properties round trip, every property and every header type', () => {
  const buf = encodeProperties(ALL_PROPERTIES);
  assert.equal(buf.readUInt16BE(0), 0xfffc);
  assert.deepEqual(decodeBasicProperties(buf, 0, buf.length), ALL_PROPERTIES);
  assertScanAgrees(buf, newPropertyScan(), ALL_PROPERTIES);
});

test('each property alone round trips, sets its own flag bit, and scans the same', () => {
  const scan = newPropertyScan();
  const names = Object.keys(ALL_PROPERTIES) as (keyof BasicProperties)[];
  names.forEach((name, i) => {
    const p: BasicProperties = { [name]: ALL_PROPERTIES[name] };
    const buf = encodeProperties(p);
    assert.equal(buf.readUInt16BE(0), 1 << (15 - i), name);
    assert.deepEqual(decodeBasicProperties(buf, 0, buf.length), p);
    assertScanAgrees(buf, scan, p);
  });
  const empty = encodeProperties({});
  assert.deepEqual(empty, Buffer.from([0, 0]));
  assertScanAgrees(empty, scan, {});
});

test('continuation flag words are skipped and unknown flags ignored', () => {
  const plain = encodeProperties({ deliveryMode: 2, expiration: '5' });
  const flags = plain.readUInt16BE(0);
  // first word with the continuation bit, then a word with unknown bits and another continuation, then one more
  const buf = Buffer.concat([Buffer.from([flags >> 8, (flags & 0xff) | 1, 0xff, 0xff, 0x80, 0x00]), plain.subarray(2)]);
  assert.deepEqual(decodeBasicProperties(buf, 0, buf.length), { deliveryMode: 2, expiration: '5' });
  const scan = newPropertyScan();
  scanBasicProperties(buf, 0, buf.length, scan);
  assert.equal(scan.end, buf.length);
  assert.equal(scan.expiration, '5');
  expectCodecError(() => decodeBasicProperties(buf, 0, 4), 502);
});

test('truncated properties are 502 for both decode and scan', () => {
  const buf = encodeProperties(ALL_PROPERTIES);
  const scan = newPropertyScan();
  for (let cut = 0; cut < buf.length; cut++) {
    expectCodecError(() => decodeBasicProperties(buf, 0, cut), 502);
    expectCodecError(() => scanBasicProperties(buf, 0, cut, scan), 502);
  }
});

test('encodeBasicHeaderFrame builds a content header frame', () => {
  const frame = encodeBasicHeaderFrame(9, 2 ** 40 + 5, { deliveryMode: 1 });
  assert.deepEqual(frame, Buffer.from([FRAME_HEADER, 0, 9, 0, 0, 0, 15, 0, 60, 0, 0, 0, 0, 1, 0, 0, 0, 0, 5, 0x10, 0, 1, FRAME_END]));
});

// ---- byte-for-byte against amqplib ------------------------------------------------------------------------

test('every method encodes byte-for-byte as amqplib encodes it', (t) => {
  const defs = loadAmqplibDefs();
  if (defs === undefined) return t.skip('amqplib not installed');
  let compared = 0;
  for (const info of METHOD_INFO) {
    for (let variant = 0; variant < 3; variant++) {
      const m = methodOf(info, variant);
      let theirs: Buffer;
      try {
        theirs = defs.encodeMethod(info.id, 42, m.args);
      } catch (e) {
        if (e instanceof Error && /Unknown/i.test(e.message)) continue; // a method amqplib does not know
        throw e;
      }
      assert.deepEqual(encodeMethodFrame(42, m), theirs, `${info.name} variant ${variant}`);
      compared++;
    }
  }
  assert.ok(compared >= METHOD_INFO.length * 3 - 6, `compared only ${compared}`);
});

test('basic properties encode byte-for-byte as amqplib encodes them', (t) => {
  const defs = loadAmqplibDefs();
  if (defs === undefined) return t.skip('amqplib not installed');
  const p: BasicProperties = { ...ALL_PROPERTIES, headers: PORTABLE_TABLE };
  assert.deepEqual(encodeBasicHeaderFrame(5, 1000, p), defs.encodeProperties(CLASS_BASIC, 5, 1000, p));
  assert.deepEqual(encodeBasicHeaderFrame(5, 0, { priority: 0 }), defs.encodeProperties(CLASS_BASIC, 5, 0, { priority: 0 }));
});

// ---- fuzz -----------------------------------------------------------------------------------------------------

function mutate(random: () => number, seed: Buffer): Buffer {
  const buf = Buffer.from(seed);
  switch (Math.floor(random() * 5)) {
    case 0: // flip a few bytes
      for (let k = 1 + Math.floor(random() * 3); k > 0 && buf.length > 0; k--) {
        const at = Math.floor(random() * buf.length);
        buf[at] = buf.readUInt8(at) ^ (1 << Math.floor(random() * 8));
      }
      return buf;
    case 1: // saturate a byte (huge lengths)
      if (buf.length > 0) buf[Math.floor(random() * buf.length)] = 0xff;
      return buf;
    case 2: // truncate
      return buf.subarray(0, Math.floor(random() * buf.length));
    case 3: // random tail after a valid id
      for (let i = 4; i < buf.length; i++) buf[i] = Math.floor(random() * 256);
      return buf;
    default: {
      // insert random bytes
      const at = Math.floor(random() * (buf.length + 1));
      const extra = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * 256)));
      return Buffer.concat([buf.subarray(0, at), extra, buf.subarray(at)]);
    }
  }
}

test('fuzz: decodeMethod and the property decoders throw only AmqpCodecError', () => {
  const random = prng(0x5eed);
  const seeds = METHOD_INFO.flatMap((info) => [0, 1, 2].map((v) => encodeMethodFrame(0, methodOf(info, v)).subarray(7, -1)));
  const propertySeeds = [encodeProperties(ALL_PROPERTIES), encodeProperties({ headers: PORTABLE_TABLE, expiration: '1' })];
  const scan = newPropertyScan();
  const started = Date.now();
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const seed = i % 4 === 3 ? propertySeeds[i % 2] : seeds[Math.floor(random() * seeds.length)];
    assert.ok(seed !== undefined);
    const input = mutate(random, seed);
    if (i % 4 === 3) {
      let p: BasicProperties | undefined;
      try {
        p = decodeBasicProperties(input, 0, input.length);
      } catch (e) {
        assert.ok(e instanceof AmqpCodecError && e.replyCode === 502, String(e));
      }
      try {
        scanBasicProperties(input, 0, input.length, scan);
        if (p !== undefined) {
          assert.equal(scan.deliveryMode, p.deliveryMode ?? 0);
          assert.equal(scan.priority, p.priority ?? -1);
          assert.equal(scan.expiration, p.expiration);
        }
      } catch (e) {
        assert.ok(e instanceof AmqpCodecError && e.replyCode === 502, String(e));
        assert.equal(p, undefined, 'scan failed where decode succeeded');
      }
      continue;
    }
    try {
      decodeMethod(input, 0, input.length);
      decoded++;
    } catch (e) {
      assert.ok(e instanceof AmqpCodecError && (e.replyCode === 502 || e.replyCode === 540), String(e));
    }
  }
  assert.ok(decoded > 1000, `only ${decoded} mutated inputs decoded`);
  assert.ok(Date.now() - started < 20_000, 'fuzz took too long');
});

test('method ids with no arguments decode to empty args', () => {
  assert.deepEqual(decodeMethod(Buffer.from([0, 90, 0, 10]), 0, 4), { id: M_TX_SELECT, args: {} });
});
