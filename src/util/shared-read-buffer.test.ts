import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { once } from 'node:events';
import { readIntoSharedBuffer, sharedReadsEnabled } from './shared-read-buffer.js';

/** A server whose accepted sockets all read into one tiny shared buffer; each connection's bytes are collected apart. */
async function sharedServer(
  bufferBytes: number,
): Promise<{ server: Server; port: number; received: Map<number, Buffer[]>; taken: boolean[]; sockets: Socket[] }> {
  const shared = Buffer.alloc(bufferBytes);
  const received = new Map<number, Buffer[]>();
  const taken: boolean[] = [];
  const sockets: Socket[] = [];
  let next = 0;
  const server = createServer((socket) => {
    const id = next++;
    received.set(id, []);
    sockets.push(socket);
    taken.push(
      readIntoSharedBuffer(socket, shared, (length, bytes) => {
        assert.equal(bytes, shared, 'reads arrive in the shared buffer itself');
        received.get(id)!.push(Buffer.from(bytes.subarray(0, length)));
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, received, taken, sockets };
}

function pattern(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

test('accepted sockets read into the one shared buffer, each connection gets exactly its own bytes, and end and close still come', async () => {
  const { server, port, received, taken, sockets } = await sharedServer(7);
  const sent = [pattern(1, 100_000), pattern(2, 70_001)];
  const clients = sent.map((bytes) => {
    const c = connect(port, '127.0.0.1');
    c.end(bytes);
    return c;
  });
  await Promise.all(clients.map((c) => once(c, 'close')));
  while (sockets.length < 2) await once(server, 'connection');
  await Promise.all(sockets.map((s) => (s.destroyed ? Promise.resolve() : once(s, 'close'))));
  server.close();
  // on Node 20, 22 and 24 the internals are there: a false here means every broker runs the slower path
  assert.deepEqual(taken, [true, true]);
  const byContent = [...received.values()].map((chunks) => Buffer.concat(chunks));
  byContent.sort((a, b) => a.length - b.length);
  assert.ok(byContent[0]!.equals(sent[1]!), 'the second client’s 70,001 bytes, intact');
  assert.ok(byContent[1]!.equals(sent[0]!), 'the first client’s 100,000 bytes, intact');
  for (const chunks of received.values())
    assert.ok(
      chunks.every((c) => c.length <= 7),
      'no read is larger than the buffer',
    );
});

test('pause() stops reads into the shared buffer and resume() goes on where it stopped', async () => {
  const { server, port, received, sockets } = await sharedServer(1024);
  const client = connect(port, '127.0.0.1');
  await once(server, 'connection');
  const socket = sockets[0]!;
  socket.pause();
  client.write(pattern(3, 4096));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(received.get(0)!.length, 0, 'nothing is read while paused');
  socket.resume();
  client.end(pattern(4, 10));
  await once(socket, 'end');
  assert.ok(Buffer.concat(received.get(0)!).equals(Buffer.concat([pattern(3, 4096), pattern(4, 10)])));
  socket.destroy();
  server.close();
});

test('a socket that already reads into a buffer of its own is left alone', () => {
  const own = new Socket({ onread: { buffer: Buffer.alloc(16), callback: () => true } } as ConstructorParameters<typeof Socket>[0]);
  assert.equal(
    readIntoSharedBuffer(own, Buffer.alloc(16), () => undefined),
    false,
  );
  own.destroy();
});

test('POSTBOX_SOCKET_READS=stream turns the shared buffer off; anything else leaves it on', () => {
  assert.equal(sharedReadsEnabled({ POSTBOX_SOCKET_READS: 'stream' }), false);
  assert.equal(sharedReadsEnabled({}), true);
  assert.equal(sharedReadsEnabled({ POSTBOX_SOCKET_READS: 'shared' }), true);
});
