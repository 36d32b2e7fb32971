import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2 } from './browse.js';

test("murmur2 gives Kafka's values (the Java client's UtilsTest vectors), so a keyed record lands where a Java producer puts it", () => {
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [text, expected] of vectors) assert.equal(murmur2(Buffer.from(text)), expected, text);
});
