/**
 * What the kernel charges a process to write into the page cache on this machine: the CPU a log writer
 * pays inside write() before any fsync. Three passes of `--mib` MiB in 1 MiB write()s under tmpdir():
 *
 *   1. a new file, right after the process starts: the page cache takes pages from the free list as the
 *      machine left them (on a VM whose host reclaims free guest memory, each is a host page fault);
 *   2. a new file, right after deleting the first: the pages just freed are taken again;
 *   3. the second file overwritten in place: its pages are already in the cache, only the copy is left.
 *
 * Each pass prints wall time and the process's system CPU for the writes, then the fdatasync's wall time.
 * On a machine where pass 1 costs many times pass 2, a broker writing new data pays that price per byte
 * (bench/results/2026-12-05-kafka.md).
 *
 *   node dist/bench/page-cache-cost.js [--mib 1024]
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intFlag, machineInfo, nowMs, parseArgs, table } from './lib/common.js';

const BLOCK_BYTES = 1024 * 1024;

interface Pass {
  label: string;
  writeMs: number;
  systemMs: number;
  userMs: number;
  syncMs: number;
}

function writePass(label: string, file: string, flags: string, blocks: number, block: Buffer): Pass {
  const fd = openSync(file, flags);
  try {
    const start = nowMs();
    const cpu = process.cpuUsage();
    for (let i = 0; i < blocks; i++) writeSync(fd, block, 0, BLOCK_BYTES, i * BLOCK_BYTES);
    const used = process.cpuUsage(cpu);
    const written = nowMs();
    fdatasyncSync(fd);
    return { label, writeMs: written - start, systemMs: used.system / 1000, userMs: used.user / 1000, syncMs: nowMs() - written };
  } finally {
    closeSync(fd);
  }
}

function main(): void {
  const flags = parseArgs(process.argv.slice(2), ['mib']);
  const blocks = intFlag(flags, 'mib', 1024);
  const dir = mkdtempSync(join(tmpdir(), 'postbox-page-cache-'));
  const block = Buffer.alloc(BLOCK_BYTES, 0x61);
  try {
    const first = join(dir, 'first');
    const second = join(dir, 'second');
    const passes = [writePass('new file (pages from the free list)', first, 'w', blocks, block)];
    unlinkSync(first);
    passes.push(writePass('new file after deleting the first (pages just freed)', second, 'w', blocks, block));
    passes.push(writePass('overwrite of the second (pages already cached)', second, 'r+', blocks, block));
    const mib = blocks;
    console.log(`# page-cache write cost, ${mib} MiB in 1 MiB writes — ${machineInfo()}\n`);
    console.log(
      table(
        ['pass', 'write ms', 'system CPU ms', 'user CPU ms', 'MB/s into the cache', 'fdatasync ms'],
        passes.map((p) => [
          p.label,
          p.writeMs.toFixed(0),
          p.systemMs.toFixed(0),
          p.userMs.toFixed(0),
          ((mib * BLOCK_BYTES) / p.writeMs / 1e3).toFixed(0),
          p.syncMs.toFixed(0),
        ]),
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
