/**
 * The memory engine: the store interfaces over plain memory, for tests (one test body runs over every
 * engine, ARCHITECTURE.md habit 6) and for anything a restart may lose. Nothing survives close().
 */
import type { StorageCounters, StorageEngine } from '../stores.js';
import { MemoryDurability } from './durability.js';
import { MemoryMetaStore } from './meta-store.js';
// ---- queue stores
import type { QueueStoreKind, QueueStoreOptions } from '../queue-store.js';
import { MemoryQueueStore } from './queue-store.js';
import type { LogStore, LogStoreOptions } from '../log-store.js';
import { MemoryLogData, MemoryLogStore } from './log-store.js';

export class MemoryStorageEngine implements StorageEngine {
  readonly kind = 'memory';
  readonly durable = new MemoryDurability();
  readonly transient = new MemoryDurability();
  /** the topic catalogue drops a topic's partition logs here (a deleted topic, an unfinished creation) */
  readonly meta = new MemoryMetaStore(this.durable, (storage) => void this.removeLogStoresFrom(storage, 0));

  storageCounters(): StorageCounters {
    return { failures: 0, unrepairedStores: 0, bytesWritten: 0 };
  }

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

  // ---- Kafka partitions (log-store.ts) ----
  /** every partition's batches by `<topic>/<partition>`, kept from a close to the next open */
  private readonly logs = new Map<string, MemoryLogData>();

  openLogStore(topic: string, partition: number, options: LogStoreOptions): LogStore {
    const name = `${topic}/${partition}`;
    let data = this.logs.get(name);
    if (data === undefined) {
      data = new MemoryLogData();
      this.logs.set(name, data);
    } else if (data.open) {
      throw new Error(`partition ${name} is open already`);
    }
    return new MemoryLogStore(name, data, options.limits);
  }

  removeLogStoresFrom(topic: string, from: number): number[] {
    const removed: number[] = [];
    const prefix = `${topic}/`;
    for (const [name, data] of this.logs) {
      if (!name.startsWith(prefix) || data.open) continue;
      const partition = Number(name.slice(prefix.length));
      if (!Number.isInteger(partition) || partition < from) continue;
      this.logs.delete(name);
      removed.push(partition);
    }
    return removed;
  }
}
