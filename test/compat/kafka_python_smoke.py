"""Postbox through kafka-python (Debian's python3-kafka 2.0.2).

Usage: kafka_python_smoke.py <kafka-port>

Prints one line per step; test/compat/kafka-python-clients.test.ts checks the lines and the exit status.
Any failure raises, so the exit status is not 0.
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

GUARD_MS = 30000


def main(port):
    bootstrap = "127.0.0.1:%d" % port
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=GUARD_MS)
    admin.create_topics([NewTopic("kp-orders", 3, 1)])
    print("created kp-orders", flush=True)

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip")
    start = int(time.time() * 1000)
    for i in range(60):
        producer.send("kp-orders", key=b"order-%d" % (i % 6), value=b"v%d" % i, timestamp_ms=start + i)
    producer.flush(GUARD_MS / 1000)
    print("produced 60", flush=True)

    partitions = [TopicPartition("kp-orders", p) for p in range(3)]
    reader = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=3000)
    reader.assign(partitions)
    reader.seek_to_beginning()
    values = sorted(int(m.value[1:]) for m in reader)
    assert values == list(range(60)), values
    print("read 60 from the beginning", flush=True)

    ends = reader.end_offsets(partitions)
    assert sum(ends.values()) == 60, ends
    found = reader.offsets_for_times({tp: start + 30 for tp in partitions})
    # every partition has records at or after start+30, and the offset found is the first of them
    assert all(v is not None and v.timestamp >= start + 30 for v in found.values()), found
    print("offsets by time", flush=True)
    reader.close()

    group = KafkaConsumer(
        "kp-orders",
        bootstrap_servers=bootstrap,
        group_id="kp-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    count = sum(1 for _ in group)
    assert count == 60, count
    group.commit()
    committed = sum(group.committed(tp) or 0 for tp in partitions)
    assert committed == 60, committed
    print("group consumed and committed 60", flush=True)
    group.close()

    admin.delete_topics(["kp-orders"])
    print("deleted kp-orders", flush=True)
    admin.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
