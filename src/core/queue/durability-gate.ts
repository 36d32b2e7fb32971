/**
 * Holds queued messages that someone waits for (a confirm, an HTTP answer, the delayed store's ack) back
 * until the durability round covering their records completes, and drops them when it fails
 * (storage/sync.ts): a consumer never gets a message whose write or fsync failed, so a message whose
 * publisher was nacked is never delivered. Messages nobody waits for are delivered at once; the queues
 * that hold them hear about a failure too, to forget the ones the rollback took (Queue.dropFailed). One
 * listener for every queue of the broker: only queues with records not yet covered by a completed round
 * are visited when a round ends.
 */
import type { Durability, DurabilityListener } from '../../storage/stores.js';
import type { Queue } from './queue.js';

export class QueueDurabilityGate implements DurabilityListener {
  /** queues with records waiting for a round (each once: Queue.awaitingRound) */
  private waiting: Queue[] = [];
  /** the other list, swapped in while `waiting` is visited (queues may append during the visit) */
  private spare: Queue[] = [];

  constructor(private readonly scheduler: Durability) {
    scheduler.addListener(this);
  }

  /** `queue` appended a record: the round that covers it; the queue hears when that round ends. */
  appended(queue: Queue): number {
    const round = this.scheduler.requestRound();
    if (!queue.awaitingRound) {
      queue.awaitingRound = true;
      this.waiting.push(queue);
    }
    return round;
  }

  /**
   * `queue` appended a record nobody waits for: the round that will cover it, not started for it (it
   * starts within DEFERRED_SYNC_INTERVAL_MS, or sooner if anyone requests one). The queue hears when that
   * round completes or fails.
   */
  appendedUnawaited(queue: Queue): number {
    const round = this.scheduler.deferRound();
    if (!queue.awaitingRound) {
      queue.awaitingRound = true;
      this.waiting.push(queue);
    }
    return round;
  }

  onDurable(_round: number): void {
    const completed = this.scheduler.completedRound;
    this.visit((queue) => queue.releaseDurable(completed));
  }

  onFailed(through: number): void {
    this.visit((queue) => queue.dropFailed(through));
  }

  /** `step` returns true while the queue still has records waiting */
  private visit(step: (queue: Queue) => boolean): void {
    const list = this.waiting;
    if (list.length === 0) return;
    this.waiting = this.spare;
    let failure: unknown = null;
    for (let i = 0; i < list.length; i++) {
      const queue = list[i]!;
      queue.awaitingRound = false;
      let still = true;
      try {
        still = step(queue);
      } catch (error) {
        failure ??= error; // the other queues are visited all the same; this one is tried again next round
      }
      if (still && !queue.awaitingRound) {
        queue.awaitingRound = true;
        this.waiting.push(queue);
      }
    }
    list.length = 0;
    this.spare = list;
    if (failure !== null) throw failure;
  }
}
