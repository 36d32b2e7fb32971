/**
 * Connections that ask for big Fetch answers and never read them. A streamed answer holds one chunk of the
 * shared answer memory (--kafka-fetch-memory) while it is sent, and a socket that is not read never takes
 * its chunk: enough such connections held every chunk, and every other consumer's answer waited behind them
 * for as long as they liked. Now a connection that needs a chunk when none is left makes the broker close the
 * connection whose chunk has waited longest in its socket, once that is more than STALLED_SEND_MS (5 s).
 *
 * Here the answer memory is two chunks, two raw connections ask for a 40 MB partition ten times over and do not read, and
 * a third asks for 1 MB: it is answered once one of the stalled two has been closed (about 5 s later), with
 * a canary publishing over AMQP throughout. On the code before, the third waited forever.
 * Worst canary latency measured here: 38-59 ms over five runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { startTestBroker, waitFor } from '../helpers/broker.js';
import { startCanary } from '../helpers/canary.js';
import { fetchFromStartFrame, rawKafkaSocket, RawKafkaClient } from '../helpers/kafka-raw.js';
import { encodeBatch } from '../../src/format/kafka/records.js';
import { createLogger } from '../../src/log/logger.js';

const NONE = 0;
/** one chunk buffer as connection.ts sizes it: 1 MiB and 16 KiB */
const CHUNK = 1024 * 1024 + 16 * 1024;

/** resolves with the size of the first whole response frame read from `socket` */
function frameSize(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let want = -1;
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      if (want < 0) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 4) return;
        want = head.readInt32BE(0);
        got = head.length - 4;
      } else got += chunk.length;
      if (got >= want) resolve(want);
    });
    socket.once('close', () => reject(new Error(`closed after ${got} of ${want} bytes`)));
  });
}

test('connections that do not read their Fetch answers cannot hold the answer memory: the longest-stalled is closed when another consumer needs a chunk', async () => {
  const lines: string[] = [];
  const logger = createLogger('warn', (line) => lines.push(line));
  const broker = await startTestBroker({ kafkaFetchMemoryBytes: 2 * CHUNK, logger });
  const canary = await startCanary(broker.url);
  const producer = await RawKafkaClient.connect(broker.kafkaPort);
  const stalled: Socket[] = [];
  try {
    // 40 batches of about 1 MB (loopback's socket buffers take up to 4 MiB sent and 32 MiB received here)
    for (let i = 0; i < 40; i += 8) {
      const sends: Array<Promise<{ errorCode: number }>> = [];
      for (let j = i; j < i + 8; j++)
        sends.push(
          producer.produce('stalled', 0, encodeBatch({ records: Array.from({ length: 10 }, () => ({ key: null, value: Buffer.alloc(100_000, j) })) })),
        );
      for (const r of await Promise.all(sends)) assert.equal(r.errorCode, NONE);
    }
    const closed: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await rawKafkaSocket(broker.kafkaPort);
      s.pause(); // never reads
      closed.push(false);
      s.once('close', () => (closed[i] = true));
      // an answer covers one segment of the partition, which loopback's socket buffers take whole: ten
      // pipelined fetches of it are more than they take
      s.write(Buffer.concat(Array.from({ length: 10 }, (_, k) => fetchFromStartFrame(k + 1, 'stalled', [0], 2 ** 31 - 1))));
      stalled.push(s);
    }
    // let both answers start: each takes a chunk that its socket will not take
    await new Promise((r) => setTimeout(r, 500));

    // a consumer that reads: its 1 MB answer needs a chunk
    const reader = await rawKafkaSocket(broker.kafkaPort);
    const size = frameSize(reader);
    reader.write(fetchFromStartFrame(7, 'stalled', [0], 1024 * 1024));
    const answered = await size; // the test's own timeout is the guard: before, this never came
    assert.ok(answered > 1_000_000, `a whole answer of ${answered} bytes`);
    assert.equal(
      lines.filter((l) => /has not read its Fetch answer for \d+ ms while other connections wait/.test(l)).length,
      1,
      'one stalled connection was closed, with one line',
    );
    // a paused socket does not see its end: reading again, the closed one reaches it
    for (const s of stalled) s.resume();
    await waitFor(() => closed.filter(Boolean).length >= 1, 10_000, 'the closed connection to reach its end');
    reader.destroy();
    await canary.check();
  } finally {
    for (const s of stalled) s.destroy();
    producer.close();
    const r = await canary.stop();
    process.stderr.write(`kafka-stalled-fetch: canary confirmed ${r.confirmed}, worst latency ${r.worstLatencyMs} ms\n`);
    await broker.stop();
  }
});
