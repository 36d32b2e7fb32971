/**
 * Connections whose Fetch answer is stuck in the socket while others wait for a chunk buffer.
 *
 * A streamed Fetch answer costs its connection one chunk buffer from the shared fetch memory while it is
 * sent (connection.ts), and a client that stops reading keeps its chunk: the socket never takes it. A few
 * hundred such clients would hold every chunk, and every other consumer's answers would wait behind them.
 * So when a connection has to wait for a chunk, the one whose last chunk has waited longest in its socket
 * is closed, if that has been more than STALLED_SEND_MS (a Kafka client that has not read its answer for
 * that long is past its own request.timeout.ms or about to be; it reconnects and fetches again). While
 * anyone waits, this is looked at again every STALLED_CHECK_MS.
 */
import type { ByteBudget } from '../../util/byte-budget.js';

/** How long a chunk may wait in a socket before its connection is closed for a connection waiting for one, ms. */
export const STALLED_SEND_MS = 5_000;
/** How often the stalled senders are looked at while a connection waits for a chunk, ms. */
const STALLED_CHECK_MS = 1_000;

export interface StalledSender {
  /** close the connection (one log line): its chunk has waited `heldMs` in the socket while others wait */
  closeStalled(heldMs: number): void;
}

export class StalledSenders {
  /** senders with a chunk handed to their socket and not yet taken, by when, oldest first (Map order) */
  private readonly since = new Map<StalledSender, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly memory: ByteBudget) {}

  /** `sender` handed a chunk to its socket */
  writing(sender: StalledSender, now = performance.now()): void {
    this.since.delete(sender); // to the end: the Map stays ordered by time
    this.since.set(sender, now);
  }

  /** the socket took the chunk (or the connection is gone) */
  written(sender: StalledSender): void {
    this.since.delete(sender);
  }

  /** a connection waits for a chunk: the longest-stalled sender past STALLED_SEND_MS is closed */
  waiting(): void {
    this.closeOldest();
    if (this.timer === null) {
      this.timer = setInterval(() => {
        if (this.memory.waiting === 0) {
          clearInterval(this.timer!);
          this.timer = null;
          return;
        }
        this.closeOldest();
      }, STALLED_CHECK_MS);
      this.timer.unref();
    }
  }

  private closeOldest(now = performance.now()): void {
    for (const [sender, at] of this.since) {
      if (now - at < STALLED_SEND_MS) return;
      this.since.delete(sender);
      sender.closeStalled(now - at);
      return;
    }
  }

  /** the broker stops */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
