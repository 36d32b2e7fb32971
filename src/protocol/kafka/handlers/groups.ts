/** Kafka group APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups). Being written. */
import type { AnyKafkaHandler } from './context.js';

export const GROUP_HANDLERS: readonly AnyKafkaHandler[] = [];
