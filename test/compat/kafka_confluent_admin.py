"""Postbox's CreatePartitions and AlterConfigs through confluent-kafka's AdminClient (librdkafka 2.0.2).

Usage: kafka_confluent_admin.py <kafka-port>

Prints one line per step; test/kafka/admin-configs-partitions.test.ts checks the lines and the exit status.
Any unexpected outcome raises, so the exit status is not 0.
"""
import sys

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

GUARD_S = 30
TOPIC = "ck-admin"


def only(futures):
    """The result of the single future in a dict of futures."""
    (future,) = futures.values()
    return future.result(GUARD_S)


def error_name(futures):
    """The name of the Kafka error the single future fails with (raises if it succeeds)."""
    try:
        only(futures)
    except KafkaException as e:
        return KafkaError(e.args[0].code()).name()
    raise AssertionError("expected an error")


def described(admin):
    entries = only(admin.describe_configs([ConfigResource("topic", TOPIC)]))
    return {name: (entry.value, entry.is_default) for name, entry in entries.items()}


def partition_count(admin):
    return len(admin.list_topics(TOPIC, timeout=GUARD_S).topics[TOPIC].partitions)


def main(port):
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % port})
    only(admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)]))

    only(admin.create_partitions([NewPartitions(TOPIC, 3)], validate_only=True))
    assert partition_count(admin) == 1, partition_count(admin)
    only(admin.create_partitions([NewPartitions(TOPIC, 3)]))
    assert partition_count(admin) == 3, partition_count(admin)
    print("grown to 3", flush=True)
    print("shrink refused %s" % error_name(admin.create_partitions([NewPartitions(TOPIC, 2)])), flush=True)

    only(admin.alter_configs([ConfigResource("topic", TOPIC, set_config={"retention.ms": "3600000", "cleanup.policy": "compact"})]))
    configs = described(admin)
    assert configs["retention.ms"] == ("3600000", False), configs["retention.ms"]
    assert configs["cleanup.policy"] == ("compact", False), configs["cleanup.policy"]
    # AlterConfigs replaces the whole set: cleanup.policy is not listed, so it goes back to its default
    only(admin.alter_configs([ConfigResource("topic", TOPIC, set_config={"retention.ms": "7200000"})]))
    configs = described(admin)
    assert configs["retention.ms"] == ("7200000", False), configs["retention.ms"]
    assert configs["cleanup.policy"] == ("delete", True), configs["cleanup.policy"]
    print("altered", flush=True)

    print("unknown config %s" % error_name(admin.alter_configs([ConfigResource("topic", TOPIC, set_config={"no.such.config": "1"})])), flush=True)
    print("broker config %s" % error_name(admin.alter_configs([ConfigResource("broker", "0", set_config={"log.retention.ms": "1"})])), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
