import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROGRESS_BAR_WIDTH, PROGRESS_MIN_ITEMS, ProgressBar, renderProgress } from './progress.js';

function stream(isTTY: boolean): { isTTY: boolean; written: string[]; write(text: string): boolean } {
  const written: string[] = [];
  return { isTTY, written, write: (text: string) => written.push(text) > 0 };
}

test('the bar shows the filled fraction, the percentage and the counts', () => {
  assert.equal(renderProgress(4500, 10000, '', 10), '[####......] 45% 4500/10000');
  assert.equal(renderProgress(0, 10, 'sent', 4), '[....] 0% 0/10 sent');
  assert.equal(renderProgress(12, 10, '', 4), '[####] 100% 10/10');
  assert.equal(renderProgress(1, 3).length, `[${'.'.repeat(PROGRESS_BAR_WIDTH)}] 33% 1/3`.length);
});

test('on a terminal the bar redraws in place once per percent and ends its line when finished', () => {
  const out = stream(true);
  const bar = new ProgressBar(out, 1000, 'published');
  for (let done = 1; done <= 1000; done++) bar.update(done);
  bar.finish();
  assert.equal(out.written.length, 102, 'one draw for each percent from 0 to 100, and the final newline');
  assert.ok(out.written.slice(0, -1).every((w) => w.startsWith('\r')));
  assert.match(out.written[out.written.length - 2]!, /\[#+\] 100% 1000\/1000 published$/);
  assert.equal(out.written[out.written.length - 1], '\n');
});

test('nothing is drawn when the stream is not a terminal, or the operation is small', () => {
  const piped = stream(false);
  const bar = new ProgressBar(piped, 1000);
  bar.update(500);
  bar.finish();
  assert.deepEqual(piped.written, []);
  const tty = stream(true);
  const small = new ProgressBar(tty, PROGRESS_MIN_ITEMS - 1);
  small.update(10);
  small.finish();
  assert.deepEqual(tty.written, []);
  assert.equal(small.active, false);
});

test('a new label redraws the bar even at the same percentage', () => {
  const out = stream(true);
  const bar = new ProgressBar(out, 10, 'bytes sent', 0);
  bar.update(10);
  bar.update(10, 'applying');
  bar.update(10, 'applying');
  assert.equal(out.written.length, 2);
  assert.match(out.written[1]!, /100% 10\/10 applying$/);
});

test('clear() erases the bar, and the next update draws it again even at the same percentage', () => {
  const out = stream(true);
  const bar = new ProgressBar(out, 1000, 'consumed');
  bar.clear(); // nothing drawn yet: nothing to erase
  bar.update(500);
  bar.clear();
  bar.update(500);
  bar.finish();
  assert.deepEqual(out.written, [
    '\r\x1b[2K[###############...............] 50% 500/1000 consumed',
    '\r\x1b[2K',
    '\r\x1b[2K[###############...............] 50% 500/1000 consumed',
    '\n',
  ]);
});
