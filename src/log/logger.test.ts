import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, escapeLogText } from './logger.js';

test('every control character is escaped, so one log call is one line', () => {
  const lines: string[] = [];
  const logger = createLogger('debug', (line) => lines.push(line));
  logger.warn(`user 'a\nb\rc\td\x00e\x1b[2Jf\x7fg\x85h\u2028i\u2029j'`);
  logger.notice(() => 'ready\nforged');
  assert.equal(lines.length, 2);
  assert.ok(lines[0]!.endsWith(`user 'a\\nb\\rc\\td\\x00e\\x1b[2Jf\\x7fg\\x85h\\u2028i\\u2029j'`), lines[0]);
  assert.ok(lines[1]!.endsWith('ready\\nforged'), lines[1]);
  for (const line of lines) assert.equal(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(line), false);
  assert.equal(escapeLogText('plain text, é and 日本 stay as they are'), 'plain text, é and 日本 stay as they are');
});
