/**
 * The file engine's topic catalogue (meta-store.ts: TopicCatalog). Under <dataDir>/streams/:
 *
 *   <topic>/topic.json           the topic's record, JSON.stringify({ id, partitions, configs }, null, 2)
 *                                and a newline: written at creation and rewritten whole when partitions are
 *                                added or configs altered (always temp file + fsync + rename + directory fsync)
 *   <topic>/<partition>/         the partition logs (StorageEngine.openLogStore(<topic dir>, partition), the
 *                                engine's PartitionLog); the topic's storage name is its directory's path
 *   .deleted-<topic>-<pid>-<n>/  a deleted topic, renamed away at once and removed in the background
 *   producer-ids                 the start of the next block of producer ids, a decimal line
 *
 * A topic exists once its topic.json exists. Creation is prepareTopic (the empty directory), then the
 * partition directories (the core, through openLogStore), then topic.json renamed into place and streams/
 * fsynced (createTopic): a crash in between leaves a directory without topic.json, removed at open. A grow
 * opens the new partition directories first, then rewrites topic.json with the new count (updateTopic);
 * partition directories past the count in topic.json (an interrupted grow) are removed at open by the
 * core, through StorageEngine.removeLogStoresFrom.
 */
import fs from 'node:fs';
import path from 'node:path';
import { syncDirectory, writeFileAtomic } from './files.js';
import type { CatalogedTopic, OpenedTopicCatalog, StoredTopic, TopicCatalog } from './meta-store.js';

/** The directory of the topic catalogue and the partition logs, under the data directory. */
export const STREAMS_DIR = 'streams';
/** A topic's record, in its directory. */
export const TOPIC_FILE = 'topic.json';
/** The start of a deleted topic's directory name once renamed away (storage/format-check.ts skips them). */
export const DELETED_TOPIC_PREFIX = '.deleted-';
/** The next block of producer ids, in streams/. */
export const PRODUCER_IDS_FILE = 'producer-ids';

export interface FileTopicCatalogOptions {
  /** the catalogue's directory (<dataDir>/streams), created if missing */
  readonly root: string;
  readonly warn: (line: string) => void;
}

/** topic.json's fields, in the order they are written */
interface TopicFile {
  id: string;
  partitions: number;
  configs: Record<string, string>;
}

export class FileTopicCatalog implements TopicCatalog {
  /** the names with a topic.json */
  private readonly names = new Set<string>();
  private deletedCounter = 0;
  /** the start of the next block of producer ids (what producer-ids holds) */
  private nextProducerId = 0;

  private constructor(private readonly options: FileTopicCatalogOptions) {}

  static open(options: FileTopicCatalogOptions): OpenedTopicCatalog {
    const catalog = new FileTopicCatalog(options);
    fs.mkdirSync(options.root, { recursive: true });
    const topics = catalog.scan();
    catalog.nextProducerId = readProducerIds(path.join(options.root, PRODUCER_IDS_FILE));
    return { catalog, topics };
  }

  /** Every topic with a topic.json; removes deleted topics' leftovers and directories without topic.json. */
  private scan(): CatalogedTopic[] {
    const root = this.options.root;
    const topics: CatalogedTopic[] = [];
    for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = path.join(root, entry.name);
      if (entry.name.startsWith(DELETED_TOPIC_PREFIX)) {
        fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
      let file: TopicFile;
      try {
        file = JSON.parse(fs.readFileSync(path.join(dir, TOPIC_FILE), 'utf8')) as TopicFile;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          // creation was interrupted before topic.json landed: the topic never existed
          this.options.warn(`stream topic directory '${entry.name}' has no ${TOPIC_FILE} (interrupted creation); removing it`);
          fs.rmSync(dir, { recursive: true, force: true });
          continue;
        }
        throw new Error(`stream topic '${entry.name}': unreadable ${TOPIC_FILE}: ${(err as Error).message}`);
      }
      this.names.add(entry.name);
      topics.push({ name: entry.name, storage: dir, topic: { id: file.id, partitions: file.partitions, configs: file.configs } });
    }
    return topics;
  }

  prepareTopic(name: string): string {
    if (this.names.has(name)) throw new Error(`stream topic '${name}' is in the catalogue already`);
    const dir = this.dirOf(name);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  createTopic(name: string, topic: StoredTopic): void {
    if (this.names.has(name)) throw new Error(`stream topic '${name}' is in the catalogue already`);
    this.writeTopicFile(name, topic);
    // the topic's directory is new in streams/: its entry must survive a power loss with topic.json
    syncDirectory(this.options.root);
    this.names.add(name);
  }

  updateTopic(name: string, topic: StoredTopic): void {
    this.known(name);
    this.writeTopicFile(name, topic);
  }

  deleteTopic(name: string): void {
    this.known(name);
    this.names.delete(name);
    const away = path.join(this.options.root, `${DELETED_TOPIC_PREFIX}${name}-${process.pid}-${this.deletedCounter++}`);
    try {
      fs.renameSync(this.dirOf(name), away);
      syncDirectory(this.options.root);
      fs.rm(away, { recursive: true, force: true }, () => undefined);
    } catch (err) {
      this.options.warn(`stream topic '${name}': removing its directory failed: ${(err as Error).message}`);
    }
  }

  reserveProducerIds(count: number): number {
    const start = this.nextProducerId;
    const end = start + count;
    writeFileAtomic(path.join(this.options.root, PRODUCER_IDS_FILE), `${end}\n`);
    this.nextProducerId = end;
    return start;
  }

  close(): void {
    // every change was durable when its call returned
  }

  private dirOf(name: string): string {
    return path.join(this.options.root, name);
  }

  private known(name: string): void {
    if (!this.names.has(name)) throw new Error(`stream topic '${name}' is not in the catalogue`);
  }

  private writeTopicFile(name: string, topic: StoredTopic): void {
    const file: TopicFile = { id: topic.id, partitions: topic.partitions, configs: { ...topic.configs } };
    writeFileAtomic(path.join(this.dirOf(name), TOPIC_FILE), JSON.stringify(file, null, 2) + '\n');
  }
}

/** The start of the next block of producer ids: what `file` holds, 0 when it is missing or unreadable. */
function readProducerIds(file: string): number {
  try {
    const stored = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    if (Number.isSafeInteger(stored) && stored >= 0) return stored;
  } catch {
    // no file yet: start at 0
  }
  return 0;
}
