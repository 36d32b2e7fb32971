/**
 * setTimeout's longest delay, ms (2^31 − 1, about 24.8 days): Node fires a longer one after 1 ms with a
 * TimeoutOverflowWarning. Timers that may wait longer (TTLs, queue expiry, retry and delayed-message waits,
 * all allowed up to 2^32 − 1 ms) wait at most this long, find nothing due, and arm again.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A setTimeout delay for something due `ms` from now: never negative, never past MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}
