/**
 * A one-line progress bar for long CLI operations (bulk publish and consume, definitions import, bench):
 *
 *   \r[############..................] 40% 4000/10000 published
 *
 * It is drawn on stderr only, and only when stderr is a terminal, so piped or redirected output (and every
 * test) sees no control characters. It redraws only when the whole percentage changes (at most 101 draws
 * per run), so a fast loop pays almost nothing for it, and it never looks at a clock.
 */

/** Cells between the brackets. */
export const PROGRESS_BAR_WIDTH = 30;
/** Operations on fewer items than this finish too quickly for a bar to be more than a flicker. */
export const PROGRESS_MIN_ITEMS = 100;

const FILLED = '#';
const EMPTY = '.';
/** Return to the start of the line and erase it (ANSI "erase in line", whole line). */
const REWRITE_LINE = '\r\x1b[2K';

/** Where a bar is drawn: process.stderr, or a test's stand-in. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** The bar's text for `done` of `total`, without the leading carriage return: `[#####.....] 50% 5/10`. */
export function renderProgress(done: number, total: number, label = '', width = PROGRESS_BAR_WIDTH): string {
  const clamped = Math.max(0, Math.min(done, total));
  const fraction = total > 0 ? clamped / total : 1;
  const filled = Math.floor(fraction * width);
  const percent = Math.floor(fraction * 100);
  const bar = `[${FILLED.repeat(filled)}${EMPTY.repeat(width - filled)}] ${percent}% ${clamped}/${total}`;
  return label === '' ? bar : `${bar} ${label}`;
}

export class ProgressBar {
  private readonly enabled: boolean;
  private lastPercent = -1;
  private lastLabel = '';
  private drawn = false;

  /**
   * `minimum`: draw nothing when `total` is below it (PROGRESS_MIN_ITEMS for item counts; pass 0 for
   * operations whose total is not a count of items, e.g. bytes).
   */
  constructor(
    private readonly stream: ProgressStream,
    private readonly total: number,
    private readonly label = '',
    minimum = PROGRESS_MIN_ITEMS,
  ) {
    this.enabled = stream.isTTY === true && total > 0 && total >= minimum;
  }

  /** whether anything will be drawn (stderr is a terminal and the operation is large enough) */
  get active(): boolean {
    return this.enabled;
  }

  /** `done` of the total are finished; `label` replaces the words after the counts */
  update(done: number, label = this.label): void {
    if (!this.enabled) return;
    const percent = Math.floor((Math.max(0, Math.min(done, this.total)) * 100) / this.total);
    if (percent === this.lastPercent && label === this.lastLabel) return;
    this.lastPercent = percent;
    this.lastLabel = label;
    this.drawn = true;
    this.stream.write(REWRITE_LINE + renderProgress(done, this.total, label));
  }

  /**
   * erase the bar from its line, so output to the same terminal (stdout) starts at the line's beginning; the
   * next update() draws it again below that output
   */
  clear(): void {
    if (!this.drawn) return;
    this.drawn = false;
    this.lastPercent = -1;
    this.stream.write(REWRITE_LINE);
  }

  /** end the line the bar is on, so what follows starts on a fresh line */
  finish(): void {
    if (!this.drawn) return;
    this.drawn = false;
    this.stream.write('\n');
  }
}
