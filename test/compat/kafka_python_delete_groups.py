"""Postbox's DeleteGroups through kafka-python (Debian's python3-kafka 2.0.2): KafkaAdminClient.delete_consumer_groups.

Usage: kafka_python_delete_groups.py <kafka-port>

Prints one line per step; test/compat/kafka-python-clients.test.ts checks the lines and the exit status.
Any failure raises, so the exit status is not 0.
"""
import sys

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

GUARD_MS = 30000


def main(port):
    bootstrap = "127.0.0.1:%d" % port
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=GUARD_MS)
    admin.create_topics([NewTopic("kp-ledger", 2, 1)])

    # a standalone commit (no subscription, so no generation) makes a group with offsets and no members
    committer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="kp-old", enable_auto_commit=False)
    committer.commit({TopicPartition("kp-ledger", p): OffsetAndMetadata(7 + p, "") for p in range(2)})
    committer.close(autocommit=False)
    offsets = admin.list_consumer_group_offsets("kp-old")
    assert sorted((tp.partition, om.offset) for tp, om in offsets.items()) == [(0, 7), (1, 8)], offsets
    print("committed for kp-old", flush=True)

    results = sorted((group, error.__name__) for group, error in admin.delete_consumer_groups(["kp-old", "kp-missing"]))
    assert results == [("kp-missing", "GroupIdNotFoundError"), ("kp-old", "NoError")], results
    print("deleted kp-old, kp-missing not found", flush=True)

    groups = [group for group, _ in admin.list_consumer_groups()]
    assert "kp-old" not in groups, groups
    offsets = admin.list_consumer_group_offsets("kp-old")
    assert offsets == {}, offsets
    print("kp-old is gone", flush=True)
    admin.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
