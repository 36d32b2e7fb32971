/**
 * The file engine's metadata store (meta-store.ts): definitions in definitions.json and its journal
 * (definitions-file.ts), group offsets in groups/offsets.log (group-offsets-file.ts), both made durable by
 * the engine's `durable` scheduler rounds; the topic catalogue in streams/ (topic-catalog-file.ts: a
 * topic.json per topic and producer-ids, each written durably in place). All in the data directory.
 */
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import { FileDefinitionStore } from './definitions-file.js';
import { FileGroupOffsetStore } from './group-offsets-file.js';
import type { DefinitionsOpenOptions, MetaStore, OpenedDefinitions, OpenedTopicCatalog } from './meta-store.js';
import { FileTopicCatalog, STREAMS_DIR } from './topic-catalog-file.js';
import type { SyncScheduler } from './sync.js';

/** The directory of the group offsets log, under the data directory. */
export const GROUPS_DIR = 'groups';

export interface FileMetaStoreOptions {
  readonly dataDir: string;
  readonly scheduler: SyncScheduler;
  readonly logger: Logger;
}

export interface FileGroupOffsetsOpenOptions {
  /** never compact an offsets log smaller than this, bytes (tests lower it; default DEFAULT_COMPACTION_MIN_BYTES) */
  readonly compactionMinBytes?: number;
}

export class FileMetaStore implements MetaStore {
  constructor(private readonly options: FileMetaStoreOptions) {}

  openDefinitions(open: DefinitionsOpenOptions): OpenedDefinitions & { store: FileDefinitionStore } {
    const logger = this.options.logger;
    return FileDefinitionStore.open({
      dataDir: this.options.dataDir,
      scheduler: this.options.scheduler,
      current: open.current,
      error: (line) => logger.error(line),
      warn: (line) => logger.warn(line),
    });
  }

  openGroupOffsets(open: FileGroupOffsetsOpenOptions = {}): FileGroupOffsetStore {
    const logger = this.options.logger;
    return FileGroupOffsetStore.open({
      dir: path.join(this.options.dataDir, GROUPS_DIR),
      scheduler: this.options.scheduler,
      warn: (line) => logger.warn(line),
      error: (line) => logger.error(line),
      info: (line) => logger.info(line),
      ...(open.compactionMinBytes === undefined ? {} : { compactionMinBytes: open.compactionMinBytes }),
    });
  }

  openTopicCatalog(): OpenedTopicCatalog {
    const logger = this.options.logger;
    return FileTopicCatalog.open({ root: path.join(this.options.dataDir, STREAMS_DIR), warn: (line) => logger.warn(line) });
  }
}
