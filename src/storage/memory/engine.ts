/**
 * The memory engine: the store interfaces over plain memory, for tests (one test body runs over every
 * engine, ARCHITECTURE.md habit 6) and for anything a restart may lose. Nothing survives close().
 */
import type { StorageEngine } from '../stores.js';
import { MemoryDurability } from './durability.js';
import { MemoryMetaStore } from './meta-store.js';
// ---- queue stores
import type { QueueStoreKind, QueueStoreOptions } from '../queue-store.js';
import { MemoryQueueStore } from './queue-store.js';

export class MemoryStorageEngine implements StorageEngine {
  readonly kind = 'memory';
  readonly durable = new MemoryDurability();
  readonly transient = new MemoryDurability();
  readonly meta = new MemoryMetaStore(this.durable);

  onFailure(_listener: (error: Error) => void): void {
    // memory never fails a write
  }

  async close(): Promise<void> {
    // nothing to finish: every round completes at the end of its turn
  }

  // ---- queue stores: each one lives as long as its owner holds it; a reopened name starts empty

  openQueueStore(options: QueueStoreOptions): MemoryQueueStore {
    return new MemoryQueueStore(`${options.kind} ${options.name}`);
  }

  dropTransientQueueStores(): void {
    // nothing outlives its owner here
  }

  dropQueueStoresExcept(_kind: QueueStoreKind, _keep: ReadonlySet<string>): void {
    // nothing outlives its owner here
  }
}
