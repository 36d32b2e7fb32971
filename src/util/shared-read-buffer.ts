/**
 * Reading a server's accepted TCP sockets into one buffer of the caller's, instead of a new one per read.
 *
 * Node hands every read of a socket over as a new Buffer of fresh memory (up to 64 KiB). A producer
 * sending 1 GiB makes about 16,000 of them, and the external memory they add starts a full mark-compact
 * every few MB: 45 per GiB of 1 KiB records in the Kafka listener, and the broker's CPU per record fell
 * from 3.1–3.5 µs to 1.1–1.9 once its sockets read into one reused buffer
 * (bench/results/2026-12-06-kafka-direct-io.md). `net.Socket`'s documented `onread` option does exactly
 * that, but only for sockets a program constructs itself: a `net.Server` builds its accepted sockets without
 * it. readIntoSharedBuffer() does for an accepted socket what that option does in the constructor: it fills
 * the socket's two onread slots (found by their symbols' names, which every socket carries, null) and hands
 * the buffer to the socket's handle (`useUserBuffer`). From then on Node calls `onRead(length, buffer)`
 * for every read, and 'end', 'close', 'error', pause() and resume() work as for any socket.
 *
 * That relies on the Node internals the option itself is built on (since Node 12.10; checked here on 20.20,
 * 22.23 and 24.22). Where they are missing or differ, nothing is changed and false is returned: the
 * caller then reads 'data' events as usual. POSTBOX_SOCKET_READS=stream forces that (a troubleshooting
 * switch, docs/configuration.md).
 *
 * The buffer may be shared by every socket: Node reads into it and calls onRead() at once, one read at a
 * time, so onRead() must copy what it keeps before it returns.
 */
import type { Socket } from 'node:net';

/** Read size of the shared buffer: Node's own read size for sockets (the largest one read() returns). */
export const SHARED_READ_BUFFER_BYTES = 64 * 1024;

interface OnreadSlots {
  buffer: symbol;
  callback: symbol;
}

/** The environment's choice of read path: 'stream' turns the shared buffer off. */
export function sharedReadsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.POSTBOX_SOCKET_READS !== 'stream';
}

function onreadSlots(socket: Socket): OnreadSlots | null {
  let buffer: symbol | undefined;
  let callback: symbol | undefined;
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description === 'kBuffer') buffer = key;
    else if (key.description === 'kBufferCb') callback = key;
  }
  if (buffer === undefined || callback === undefined) return null;
  const slots = socket as unknown as Record<symbol, unknown>;
  // both present and empty: a socket made without `onread`, as a server makes them
  if (slots[buffer] !== null || slots[callback] !== null) return null;
  return { buffer, callback };
}

/**
 * Makes `socket` (just accepted, nothing read from it yet by anyone) read into `buffer` and call
 * `onRead(length, buffer)` for each read (the `onread` option's callback: Node calls it directly; it
 * returns nothing, as `false` would pause reading), with no 'data' events. False, changing nothing, where
 * this Node does not allow it; the caller then listens to 'data'.
 */
export function readIntoSharedBuffer(socket: Socket, buffer: Buffer, onRead: (length: number, bytes: Buffer) => void): boolean {
  const slots = onreadSlots(socket);
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  if (slots === null || handle === undefined || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  const target = socket as unknown as Record<symbol, unknown>;
  target[slots.buffer] = buffer;
  target[slots.callback] = onRead;
  try {
    (handle.useUserBuffer as (b: Buffer) => void).call(handle, buffer);
  } catch {
    target[slots.buffer] = null;
    target[slots.callback] = null;
    return false;
  }
  return true;
}
