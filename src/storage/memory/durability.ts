/**
 * Durability rounds for the memory engine: nothing is ever written anywhere, so a round completes as soon
 * as the current turn of the event loop ends (as the file engine's rounds under fsync 'never' complete
 * once written). Completion is never synchronous inside requestRound(), so a caller can register what
 * waits for the round after it got the number, exactly as with the file engine.
 */
import { withListener, withoutListener } from '../listeners.js';
import type { CommitDurations, Durability, DurabilityListener } from '../stores.js';

const NO_DURATIONS: CommitDurations = Object.freeze({ boundsMs: [], counts: [0], count: 0, sumMs: 0 });

export class MemoryDurability implements Durability {
  private completed = 0;
  private issued = 0;
  private scheduled = false;
  /** Replaced (never mutated) on add/remove, so completing a round iterates without allocating. */
  private listeners: readonly DurabilityListener[] = [];
  private readonly completeCallback = (): void => this.complete();
  readonly failure = null;
  readonly lastFailure = null;
  readonly lastFailureAt = 0;
  readonly durations = NO_DURATIONS;

  get completedRound(): number {
    return this.completed;
  }

  requestRound(): number {
    if (!this.scheduled) {
      this.scheduled = true;
      this.issued = this.completed + 1;
      setImmediate(this.completeCallback);
    }
    return this.issued;
  }

  deferRound(): number {
    return this.requestRound();
  }

  addListener(listener: DurabilityListener): void {
    this.listeners = withListener(this.listeners, listener);
  }

  removeListener(listener: DurabilityListener): void {
    this.listeners = withoutListener(this.listeners, listener);
  }

  private complete(): void {
    this.scheduled = false;
    this.completed = this.issued;
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!.onDurable(this.completed);
  }
}
