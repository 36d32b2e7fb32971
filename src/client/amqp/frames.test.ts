import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameParser, PROTOCOL_HEADER, type FrameSink } from '../../protocol/amqp/frame-parser.js';
import {
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_METHOD,
  M_BASIC_DELIVER,
  M_BASIC_PUBLISH,
  decodeBasicProperties,
  decodeMethod,
  encodeBasicHeaderFrame,
  type BasicProperties,
} from '../../protocol/amqp/generated/spec.js';
import { contentBodySize, deliverTagOf, encodePublish, methodPayload } from './frames.js';

interface Parsed {
  type: number;
  channel: number;
  payload: Buffer;
}

/** The frames in `bytes`, as the broker's own parser splits them. */
function parse(bytes: Buffer): Parsed[] {
  const frames: Parsed[] = [];
  const sink: FrameSink = {
    onProtocolHeader: () => {},
    onFrame: (type, channel, payload) => void frames.push({ type, channel, payload: Buffer.from(payload) }),
    onFrameError: (_code, text) => assert.fail(`the parser refused the bytes: ${text}`),
  };
  const parser = new FrameParser(sink, 1024 * 1024);
  parser.push(PROTOCOL_HEADER);
  parser.push(bytes);
  return frames;
}

for (const [what, bodySize, frameMax] of [
  ['an empty body', 0, 4096],
  ['a body in one frame', 100, 4096],
  ['a body exactly filling one frame', 4096 - 8, 4096],
  ['a body split over several frames', 10_000, 4096],
  ['a body with no frame-max', 10_000, 0],
] as const) {
  test(`encodePublish of ${what} is a basic.publish, a content header and the body as the broker's codecs read them`, () => {
    const body = Buffer.alloc(bodySize);
    for (let i = 0; i < bodySize; i++) body[i] = i & 0xff;
    const properties: BasicProperties = { deliveryMode: 2, contentType: 'text/plain', headers: { a: 1 } };
    const { bytes, bodyOffset } = encodePublish(7, 'amq.direct', 'key', body, properties, frameMax);
    const frames = parse(bytes);
    assert.ok(frames.every((f) => f.channel === 7));
    assert.equal(frames[0]!.type, FRAME_METHOD);
    assert.deepEqual(decodeMethod(frames[0]!.payload, 0, frames[0]!.payload.length), {
      id: M_BASIC_PUBLISH,
      args: { ticket: 0, exchange: 'amq.direct', routingKey: 'key', mandatory: false, immediate: false },
    });
    assert.equal(frames[1]!.type, FRAME_HEADER);
    assert.equal(contentBodySize(frames[1]!.payload), bodySize);
    assert.deepEqual(decodeBasicProperties(frames[1]!.payload, 12, frames[1]!.payload.length), properties);
    const bodies = frames.slice(2);
    assert.ok(bodies.every((f) => f.type === FRAME_BODY && (frameMax === 0 || f.payload.length <= frameMax - 8)));
    assert.equal(bodies.length, frameMax === 0 ? (bodySize > 0 ? 1 : 0) : Math.ceil(bodySize / (frameMax - 8)));
    assert.deepEqual(Buffer.concat(bodies.map((f) => f.payload)), body);
    if (bodySize > 0) assert.deepEqual(bytes.subarray(bodyOffset, bodyOffset + 8), body.subarray(0, 8));
    else assert.equal(bodyOffset, bytes.length);
  });
}

test('deliverTagOf reads the delivery tag that the generated decoder reads, for any consumer tag', () => {
  for (const consumerTag of ['', 'c', 'amq.ctag-' + 'x'.repeat(200)]) {
    for (const deliveryTag of [0, 1, 255, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER]) {
      const payload = methodPayload({ id: M_BASIC_DELIVER, args: { consumerTag, deliveryTag, redelivered: true, exchange: 'e', routingKey: 'r' } });
      const decoded = decodeMethod(payload, 0, payload.length);
      assert.equal(decoded.id, M_BASIC_DELIVER);
      assert.equal(deliverTagOf(payload), deliveryTag);
      if (decoded.id === M_BASIC_DELIVER) assert.equal(deliverTagOf(payload), decoded.args.deliveryTag);
    }
  }
});

test('contentBodySize reads the body size the generated header encoder wrote, above 2^32 too', () => {
  for (const size of [0, 1, 0xffffffff, 0x100000001, 2 ** 40]) {
    const frame = encodeBasicHeaderFrame(1, size, { deliveryMode: 1 });
    assert.equal(contentBodySize(frame.subarray(7, frame.length - 1)), size);
  }
});
