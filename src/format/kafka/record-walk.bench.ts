/**
 * Micro-benchmark of the produce path's record walk over compressed batches (not run by the tests).
 *
 *   node dist/src/format/kafka/record-walk.bench.js [seconds per case]
 *
 * For each codec and batch shape: walkProducedBatches (lengths only, as for a topic that is not compacted)
 * over the same batch repeatedly for SECONDS, printing decompressed MB/s and batches/s. Shapes: a Java
 * client's default 16 KiB batch, and a librdkafka batch of 10,000 records of 100 bytes (about 1 MB).
 */
import { CompressionCodec, codecName, encodeBatch } from './records.js';
import { walkProducedBatches } from './record-walk.js';

const DEFAULT_SECONDS = 1;
const LIMIT = 64 * 1024 * 1024;

function batchOf(codec: CompressionCodec, records: number, valueBytes: number): Buffer {
  const value = Buffer.alloc(valueBytes);
  for (let i = 0; i < valueBytes; i++) value[i] = 97 + ((i * 7) % 26);
  return encodeBatch({
    compression: codec,
    records: Array.from({ length: records }, (_, i) => ({ key: Buffer.from(`key-${i}`), value })),
  });
}

const seconds = Number(process.argv[2] ?? DEFAULT_SECONDS);
const shapes = [
  { name: '16 KiB batch (150 x 100 B)', records: 150, valueBytes: 100 },
  { name: '1 MB batch (10,000 x 100 B)', records: 10_000, valueBytes: 100 },
];
const summary = { records: 0, allKeyed: true };
for (const shape of shapes) {
  for (const codec of [CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd]) {
    const batch = batchOf(codec, shape.records, shape.valueBytes);
    const areaBytes = batchOf(CompressionCodec.None, shape.records, shape.valueBytes).length;
    let walks = 0;
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(Math.round(seconds * 1e9));
    while (process.hrtime.bigint() < deadline) {
      for (let i = 0; i < 10; i++) walkProducedBatches(batch, LIMIT, summary, false);
      walks += 10;
    }
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(
      `${shape.name.padEnd(30)} ${codecName(codec).padEnd(7)} ${(walks / elapsed).toFixed(0).padStart(8)} batches/s ` +
        `${((walks * areaBytes) / elapsed / 1048576).toFixed(0).padStart(6)} MB/s of records`,
    );
  }
}
