/**
 * Defaults the core uses when it is built without a setting (tests, tools), and the settings table
 * (config.ts) shows: kept here, below the core, so that the core reads them and config/ imports nothing
 * above itself (the layering in ARCHITECTURE.md, checked by eslint.config.js).
 */

/** RabbitMQ's default collect_statistics_interval, ms: rates are per-second averages over this window. */
export const DEFAULT_STATS_INTERVAL_MS = 5000;

/**
 * Default limits on the topic catalogue. Every partition is a directory, a log with its index in memory and
 * (while used) open files, so the counts are what a client could otherwise grow without bound: one Metadata
 * request naming 10,000 unknown topics auto-creates 10,000 of them. The totals admit 100k topics and 200k
 * partitions (open files are bounded by the descriptor cache whatever the count; 100k partitions beside
 * 100k durable queues measured 1.3 GiB RSS and a 4.9 s restart, bench/results/2026-12-07-many-durable.md);
 * the per-request budget below is what keeps one client request cheap.
 */
export const DEFAULT_MAX_TOPICS = 100_000;
export const DEFAULT_MAX_PARTITIONS_TOTAL = 200_000;
/**
 * Partitions one request may create (a CreateTopics, a CreatePartitions, or the topics a Metadata or Produce
 * request auto-creates), 1,000: far more than any client creates at once, few enough that one request costs
 * a bounded amount of file-system work while every other client waits.
 */
export const DEFAULT_MAX_PARTITIONS_PER_REQUEST = 1_000;
