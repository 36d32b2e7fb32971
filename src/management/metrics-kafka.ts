/**
 * The Kafka model under kafka_exporter's names (github.com/danielqsj/kafka_exporter), so Kafka lag
 * dashboards and alerts built on it work against Postbox without an exporter: topics and partitions with
 * their offsets, consumer groups with committed offsets, lag and members. Postbox is one broker, so every
 * partition has one replica, in sync, led by the preferred leader.
 */
import type { Partition } from '../core/stream/topics.js';
import { escapeLabel, family, perRow, ROWS_PER_YIELD, sample, single, type Row } from './metrics-format.js';
import type { ManagementContext } from './router.js';

/** Postbox's own partition families and kafka_exporter's, from one pass over the partitions. */
export function* kafkaFamilies(ctx: ManagementContext): Generator<string> {
  const partitions: Row<Partition>[] = [];
  let topics = family('kafka_topic_partitions', 'Number of partitions for this topic');
  for (const topic of ctx.streams.topics()) {
    const name = escapeLabel(topic.name);
    topics += sample('kafka_topic_partitions', `{topic="${name}"}`, topic.partitions.length);
    for (const p of topic.partitions) {
      partitions.push({ labels: `{topic="${name}",partition="${p.index}"}`, item: p });
      if (partitions.length % ROWS_PER_YIELD === 0) yield '';
    }
  }
  // ---- Postbox's names (kept as they were)
  yield family('postbox_kafka_partition_high_watermark', 'Durable end offset of a partition');
  yield* perRow('postbox_kafka_partition_high_watermark', partitions, (p) => Number(p.highWatermark));
  yield family('postbox_kafka_partition_log_start_offset', 'First offset still stored in a partition');
  yield* perRow('postbox_kafka_partition_log_start_offset', partitions, (p) => Number(p.log.logStartOffset));
  yield family('postbox_kafka_partition_size_bytes', "Bytes of a partition's segment files");
  yield* perRow('postbox_kafka_partition_size_bytes', partitions, (p) => p.log.sizeBytes);

  // ---- kafka_exporter's names
  yield single('kafka_brokers', 'Number of Brokers in the Kafka Cluster', 1);
  yield topics;
  yield family('kafka_topic_partition_current_offset', 'Current Offset of a Broker at Topic/Partition (the high watermark)');
  yield* perRow('kafka_topic_partition_current_offset', partitions, (p) => Number(p.highWatermark));
  yield family('kafka_topic_partition_oldest_offset', 'Oldest Offset of a Broker at Topic/Partition');
  yield* perRow('kafka_topic_partition_oldest_offset', partitions, (p) => Number(p.log.logStartOffset));
  yield family('kafka_topic_partition_replicas', 'Number of Replicas for this Topic/Partition');
  yield* perRow('kafka_topic_partition_replicas', partitions, () => 1);
  yield family('kafka_topic_partition_in_sync_replica', 'Number of In-Sync Replicas for this Topic/Partition');
  yield* perRow('kafka_topic_partition_in_sync_replica', partitions, () => 1);
  yield family('kafka_topic_partition_under_replicated_partition', '1 if Topic/Partition is under Replicated');
  yield* perRow('kafka_topic_partition_under_replicated_partition', partitions, () => 0);
  yield family('kafka_topic_partition_leader_is_preferred', '1 if Topic/Partition is using the Preferred Broker');
  yield* perRow('kafka_topic_partition_leader_is_preferred', partitions, () => 1);

  // ---- consumer groups: committed offsets and lag (a partition with no committed offset has no series, as in
  // kafka_exporter); gathered first so that each family's samples are written together
  const groups: Row<number>[] = [];
  const offsets: Array<{ group: string; topic: string; partition: number; offset: bigint; lag: number }> = [];
  const sums = new Map<string, { offset: number; lag: number }>();
  for (const group of ctx.groups.listGroups()) {
    const id = escapeLabel(group.groupId);
    groups.push({ labels: `{consumergroup="${id}"}`, item: group.members.length });
    for (const o of ctx.groups.committedOffsets(group.groupId)) {
      const topic = escapeLabel(o.topic);
      const behind = Number(o.lag ?? 0);
      offsets.push({ group: id, topic, partition: o.partition, offset: o.committedOffset, lag: behind });
      if (o.committedOffset < 0n) continue;
      const key = `{consumergroup="${id}",topic="${topic}"}`;
      const sum = sums.get(key) ?? { offset: 0, lag: 0 };
      sum.offset += Number(o.committedOffset);
      sum.lag += behind;
      sums.set(key, sum);
    }
    if (groups.length % ROWS_PER_YIELD === 0) yield '';
  }
  yield family('kafka_consumergroup_members', 'Amount of members in a consumer group');
  yield* perRow('kafka_consumergroup_members', groups, (members) => members);
  const committed = offsets
    .filter((o) => o.offset >= 0n)
    .map((o) => ({ labels: `{consumergroup="${o.group}",topic="${o.topic}",partition="${o.partition}"}`, item: o }));
  yield family('kafka_consumergroup_current_offset', 'Current Offset of a ConsumerGroup at Topic/Partition');
  yield* perRow('kafka_consumergroup_current_offset', committed, (o) => Number(o.offset));
  yield family('kafka_consumergroup_lag', 'Current Approximate Lag of a ConsumerGroup at Topic/Partition');
  yield* perRow('kafka_consumergroup_lag', committed, (o) => o.lag);
  const topicSums = [...sums].map(([labels, item]) => ({ labels, item }));
  yield family('kafka_consumergroup_current_offset_sum', 'Current Offset of a ConsumerGroup at Topic for all partitions');
  yield* perRow('kafka_consumergroup_current_offset_sum', topicSums, (s) => s.offset);
  yield family('kafka_consumergroup_lag_sum', 'Current Approximate Lag of a ConsumerGroup at Topic for all partitions');
  yield* perRow('kafka_consumergroup_lag_sum', topicSums, (s) => s.lag);
  yield family('postbox_kafka_consumergroup_lag', 'High watermark minus the committed offset, per group and partition');
  yield* perRow(
    'postbox_kafka_consumergroup_lag',
    offsets.map((o) => ({ labels: `{group="${o.group}",topic="${o.topic}",partition="${o.partition}"}`, item: o })),
    (o) => o.lag,
  );
}
