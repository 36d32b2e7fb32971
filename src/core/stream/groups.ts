/**
 * Consumer-group coordinator (stub: being written). Protocol-neutral membership, rebalances and durable
 * committed offsets for the Kafka model.
 */
import type { Logger } from '../../log/logger.js';
import type { SyncScheduler } from '../../storage/sync.js';
import type { StreamStore } from './topics.js';

export interface GroupCoordinatorOptions {
  readonly dataDir: string;
  readonly scheduler: SyncScheduler;
  readonly logger: Logger;
  readonly streams: StreamStore;
}

export class GroupCoordinator {
  private constructor(readonly options: GroupCoordinatorOptions) {}

  static open(options: GroupCoordinatorOptions): GroupCoordinator {
    return new GroupCoordinator(options);
  }

  async close(): Promise<void> {}
}
