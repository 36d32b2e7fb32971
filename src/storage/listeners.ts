/**
 * Copy-on-write listener lists: a list is replaced, never mutated, on add and remove, so whoever completes a
 * round iterates its current list without allocating, even when a listener removes itself meanwhile.
 */
import type { DurabilityListener } from './stores.js';

export function withListener(list: readonly DurabilityListener[], listener: DurabilityListener): readonly DurabilityListener[] {
  return [...list, listener];
}

/** `list` itself when `listener` is not in it */
export function withoutListener(list: readonly DurabilityListener[], listener: DurabilityListener): readonly DurabilityListener[] {
  const index = list.indexOf(listener);
  if (index < 0) return list;
  const next = list.slice();
  next.splice(index, 1);
  return next;
}
