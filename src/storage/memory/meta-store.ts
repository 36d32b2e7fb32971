/**
 * The memory engine's metadata store: definitions, group offsets and the topic catalogue in maps, kept by the engine until it
 * closes (a store closed and opened again on the same engine finds what it held, as a file store finds its
 * files), durable at the end of the turn (MemoryDurability).
 */
import { DefinitionIndex } from '../definition-index.js';
import { GroupOffsetTable } from '../group-offset-table.js';
import {
  emptyStoredDefinitions,
  type DefinitionStore,
  type DefinitionsOpenOptions,
  type GroupOffsets,
  type GroupOffsetStore,
  type MetaStore,
  type OpenedDefinitions,
  type OpenedTopicCatalog,
  type StoredDefinitionChange,
  type StoredDefinitions,
  type StoredTopic,
  type TopicCatalog,
} from '../meta-store.js';
import type { Durability } from '../stores.js';

/** Definitions as documents in memory: a change is applied at once (O(1)), durable with the round it returns. */
class MemoryDefinitionStore implements DefinitionStore {
  readonly snapshotDue = false;
  private closed = false;

  constructor(
    private readonly owner: MemoryMetaStore,
    private readonly durability: Durability,
  ) {}

  record(changes: readonly StoredDefinitionChange[]): number {
    if (this.closed) throw new Error('the definitions store is closed');
    if (changes.length === 0) return 0;
    // a copy, as a file or a database holds its own: later changes to the caller's objects do not reach it
    const copies = changes.map((change) => structuredClone(change));
    for (const change of copies) this.owner.definitions.apply(change);
    return this.durability.requestRound();
  }

  writeSnapshot(all: StoredDefinitions): void {
    if (this.closed) throw new Error('the definitions store is closed');
    this.owner.definitions = new DefinitionIndex(structuredClone(all));
  }

  close(): void {
    this.closed = true;
  }
}

/** Group offsets in maps; writes apply when the memory round completes (the end of the turn). */
class MemoryGroupOffsetStore extends GroupOffsetTable<null> {
  constructor(
    durability: Durability,
    private readonly owner: MemoryMetaStore,
    kept: Map<string, GroupOffsets> | null,
  ) {
    super(durability);
    if (kept !== null) for (const [groupId, topics] of kept) for (const partitions of topics.values()) this.applyCommit(groupId, [...partitions.values()]);
    durability.addListener(this);
  }

  protected persist(): null {
    return null;
  }

  protected release(): void {
    // the maps themselves: the writes still waiting are applied to them right after this
    this.owner.groupOffsets = this.byGroup;
  }
}

/** The storage name of a topic's partition logs in the memory engine (its key prefix in the engine's logs). */
function topicStorage(name: string): string {
  return `topics/${name}`;
}

/**
 * Topics in a map (the engine's, so a catalogue opened anew on it finds them); a change is complete, and
 * "durable", when its call returns. An unfinished creation leaves nothing but partition logs, which
 * prepareTopic drops.
 */
class MemoryTopicCatalog implements TopicCatalog {
  constructor(
    private readonly owner: MemoryMetaStore,
    /** removes every stored partition log (not open) under a topic's storage name */
    private readonly dropLogs: (storage: string) => void,
  ) {}

  prepareTopic(name: string): string {
    if (this.owner.topics.has(name)) throw new Error(`stream topic '${name}' is in the catalogue already`);
    const storage = topicStorage(name);
    this.dropLogs(storage);
    return storage;
  }

  createTopic(name: string, topic: StoredTopic): void {
    if (this.owner.topics.has(name)) throw new Error(`stream topic '${name}' is in the catalogue already`);
    this.owner.topics.set(name, copyOf(topic));
  }

  updateTopic(name: string, topic: StoredTopic): void {
    this.known(name);
    this.owner.topics.set(name, copyOf(topic));
  }

  deleteTopic(name: string): void {
    this.known(name);
    this.owner.topics.delete(name);
    this.dropLogs(topicStorage(name));
  }

  reserveProducerIds(count: number): number {
    const start = this.owner.nextProducerId;
    this.owner.nextProducerId = start + count;
    return start;
  }

  close(): void {
    // the maps stay with the engine
  }

  private known(name: string): void {
    if (!this.owner.topics.has(name)) throw new Error(`stream topic '${name}' is not in the catalogue`);
  }
}

/** a copy, as a file or a database holds its own: later changes to the caller's objects do not reach it */
function copyOf(topic: StoredTopic): StoredTopic {
  return { id: topic.id, partitions: topic.partitions, configs: { ...topic.configs } };
}

export class MemoryMetaStore implements MetaStore {
  /** what the definitions store holds, keyed (and found again when opened anew on this engine) */
  definitions = new DefinitionIndex(emptyStoredDefinitions());
  /** what a closed group-offset store held, for the next one opened on this engine */
  groupOffsets: Map<string, GroupOffsets> | null = null;
  /** the topic catalogue, by name, in creation order */
  readonly topics = new Map<string, StoredTopic>();
  /** the first producer id of the next block */
  nextProducerId = 0;

  constructor(
    private readonly durability: Durability,
    /** removes every stored partition log (not open) under a topic's storage name (the engine's logs) */
    private readonly dropLogs: (storage: string) => void = () => undefined,
  ) {}

  openTopicCatalog(): OpenedTopicCatalog {
    const topics = [...this.topics].map(([name, topic]) => ({ name, storage: topicStorage(name), topic: copyOf(topic) }));
    return { catalog: new MemoryTopicCatalog(this, this.dropLogs), topics };
  }

  openDefinitions(_open: DefinitionsOpenOptions): OpenedDefinitions {
    return { store: new MemoryDefinitionStore(this, this.durability), definitions: structuredClone(this.definitions.definitions()) };
  }

  openGroupOffsets(): GroupOffsetStore {
    return new MemoryGroupOffsetStore(this.durability, this, this.groupOffsets);
  }
}
