/**
 * Before the broker changes anything in its data directory (recovery truncates torn tails, deletes acked
 * segments, rewrites index files, wipes transient queues), it reads the format header of every data
 * file that has one and refuses to start when one was written in a format version this Postbox does not
 * read (UnsupportedFormatError: one line naming the file, the version found and the version supported).
 * Checking first, for the whole directory, is what lets the refusal leave the directory exactly as it
 * was, wherever the newer file sits.
 *
 *   <dataDir>/queues/<queue>/NNNNNNNN.seg          "PBSG" + version   (storage/format.ts)
 *                            NNNNNNNN.ack          "PBAK" + u32 version, or no header (version 1)
 *   <dataDir>/delayed/<exchange>/NNNNNNNN.seg      "PBSG" + version
 *   <dataDir>/streams/<topic>/<partition>/*.log    "PBKL" + version   (storage/partition/format.ts)
 *                                       *.index    "PBKX" + version
 *                                       *.timeindex "PBKT" + version
 *   <dataDir>/groups/offsets.log                   "PBGO" + version   (group-offset-log.ts)
 *
 * An ack file without the "PBAK" header is version 1 (read and converted); one whose header names a
 * version other than 2 is refused like any other file. A file with another magic or too
 * short for a header is not judged here: that is a torn creation or corruption, which each log's
 * recovery handles (and reports) itself. The cost is one open and one 6-byte read per file.
 */

import fs from 'node:fs';
import path from 'node:path';
import { closeQuietly, readdirOrEmpty } from './files.js';
import {
  ACK_FORMAT_VERSION,
  ACK_HEADER_BYTES,
  ACK_LEGACY_FORMAT_VERSION,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_MAGIC,
  ackFileVersion,
  parseAckFileName,
  parseSegmentFileName,
} from './format.js';
import { UnsupportedFormatError, checkFormatVersion } from './format-error.js';
import { SUPPORTED_ACK_VERSIONS } from './ack-file.js';
import { DELETED_TOPIC_PREFIX, STREAMS_DIR } from './topic-catalog-file.js';
import { OFFSET_INDEX_MAGIC, PARTITION_FORMAT_VERSION, PARTITION_SEGMENT_MAGIC, TIME_INDEX_MAGIC, parseSegmentFile } from './partition/format.js';

/** Bytes of a format header that name the format: magic u32 + version u16. */
const VERSION_HEADER_BYTES = 6;

/** "PBGO" and version of the group offsets log (drawn in group-offset-log.ts, which checks it too). */
const GROUP_OFFSETS_MAGIC = 0x5042474f;
const GROUP_OFFSETS_FORMAT_VERSION = 1;
const GROUP_OFFSETS_FILE = path.join('groups', 'offsets.log');

/** Throws UnsupportedFormatError for the first data file under `dataDir` in a format version this Postbox does not read. */
export function checkDataDirFormats(dataDir: string): void {
  const header = Buffer.alloc(VERSION_HEADER_BYTES);
  const ackHeader = Buffer.alloc(ACK_HEADER_BYTES);
  for (const area of ['queues', 'delayed']) {
    const root = path.join(dataDir, area);
    for (const log of subdirectories(root)) {
      for (const name of readdirOrEmpty(log)) {
        if (parseSegmentFileName(name) > 0) checkFile(path.join(log, name), header, SEGMENT_MAGIC, SEGMENT_FORMAT_VERSION);
        else if (parseAckFileName(name) > 0) checkAckFile(path.join(log, name), ackHeader);
      }
    }
  }
  for (const topic of subdirectories(path.join(dataDir, STREAMS_DIR))) {
    if (path.basename(topic).startsWith(DELETED_TOPIC_PREFIX)) continue; // removed at open, never read
    for (const partition of subdirectories(topic)) {
      for (const name of readdirOrEmpty(partition)) {
        const parsed = parseSegmentFile(name);
        if (parsed === null) continue;
        const magic = parsed.suffix === '.log' ? PARTITION_SEGMENT_MAGIC : parsed.suffix === '.index' ? OFFSET_INDEX_MAGIC : TIME_INDEX_MAGIC;
        checkFile(path.join(partition, name), header, magic, PARTITION_FORMAT_VERSION);
      }
    }
  }
  checkFile(path.join(dataDir, GROUP_OFFSETS_FILE), header, GROUP_OFFSETS_MAGIC, GROUP_OFFSETS_FORMAT_VERSION);
}

/** The first `bytes` bytes of `file` read into `header`: how many were read, or -1 when there is no such file. */
function readHeader(file: string, header: Buffer, bytes: number): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw error;
  }
  try {
    return fs.readSync(fd, header, 0, bytes, 0);
  } finally {
    closeQuietly(fd);
  }
}

function checkFile(file: string, header: Buffer, magic: number, supported: number): void {
  const length = readHeader(file, header, VERSION_HEADER_BYTES);
  if (length >= 0) checkFormatVersion(file, header, length, magic, supported);
}

function checkAckFile(file: string, header: Buffer): void {
  const length = readHeader(file, header, ACK_HEADER_BYTES);
  if (length < 0) return;
  const version = ackFileVersion(header, length);
  if (version !== -1 && version !== ACK_LEGACY_FORMAT_VERSION && version !== ACK_FORMAT_VERSION) {
    throw new UnsupportedFormatError(file, version, SUPPORTED_ACK_VERSIONS, 'ack file format version');
  }
}

function subdirectories(dir: string): string[] {
  const found: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) found.push(path.join(dir, entry.name));
  }
  return found;
}
