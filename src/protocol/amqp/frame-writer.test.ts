/**
 * The frame writer reuses its output chunk across flushes: each flush hands the socket the part written since
 * the previous one and keeps writing after it. The socket may still hold an earlier part (a write it has not
 * sent yet), so those bytes must never change; and the stream the socket gets must be the frames, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { FrameWriter } from './frame-writer.js';
import { FrameParser, type FrameSink } from './frame-parser.js';
import { FRAME_BODY, FRAME_HEADER } from './generated/spec.js';

/** A socket that keeps every buffer it is given (as one with a backlog would) and a copy of it as it was then. */
class HoldingSocket {
  readonly given: Buffer[] = [];
  readonly copies: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  write(b: Buffer): boolean {
    this.given.push(b);
    this.copies.push(Buffer.from(b));
    return true;
  }
}

test('parts already handed to the socket never change while the writer goes on, and the bytes are the frames in order', () => {
  const socket = new HoldingSocket();
  const writer = new FrameWriter(socket as unknown as Socket, 131072);
  const properties = Buffer.from([0, 0]);
  const bodies: Buffer[] = [];
  // small deliveries with a flush after each few (as turns of the event loop would), past several chunks of
  // 128 KiB, and a body large enough to be written directly
  for (let i = 0; i < 3000; i++) {
    const body = Buffer.alloc(i === 1500 ? 40_000 : 100 + (i % 50), i & 0xff);
    bodies.push(body);
    writer.deliver(1, Buffer.from('ctag'), i + 1, false, 'ex', `key-${i}`, properties, body);
    if (i % 7 === 0) writer.flush();
  }
  writer.flush();
  assert.ok(socket.given.length > 400, `flushed ${socket.given.length} times`);
  for (let i = 0; i < socket.given.length; i++) assert.ok(socket.given[i]!.equals(socket.copies[i]!), `part ${i} changed after it was handed over`);
  // the stream parses back into the deliveries' bodies
  const received: Buffer[] = [];
  let assembling: Buffer[] = [];
  const sink: FrameSink = {
    onProtocolHeader() {},
    onFrame(type, _channel, payload) {
      if (type === FRAME_HEADER) assembling = [];
      else if (type === FRAME_BODY) {
        assembling.push(Buffer.from(payload));
        const want = bodies[received.length]!;
        if (Buffer.concat(assembling).length === want.length) received.push(Buffer.concat(assembling));
      }
    },
    onFrameError(code, text) {
      assert.fail(`frame error ${code}: ${text}`);
    },
  };
  const parser = new FrameParser(sink, 131072);
  parser.push(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
  for (const part of socket.given) parser.push(part);
  assert.equal(received.length, bodies.length);
  for (let i = 0; i < bodies.length; i++) assert.ok(received[i]!.equals(bodies[i]!), `body ${i}`);
});
