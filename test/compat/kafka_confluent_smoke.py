"""Postbox through confluent-kafka (Debian's python3-confluent-kafka on librdkafka 2.0.2).

Usage: kafka_confluent_smoke.py <kafka-port>

Prints one line per step; test/compat/kafka-python-clients.test.ts checks the lines and the exit status.
Any failure raises, so the exit status is not 0.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

GUARD_S = 30


def main(port):
    bootstrap = "127.0.0.1:%d" % port
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic("ck-events", num_partitions=2, replication_factor=1)]).values():
        future.result(GUARD_S)
    print("created ck-events", flush=True)

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "compression.type": "zstd"})
    delivered = []
    for i in range(100):
        producer.produce(
            "ck-events",
            key=b"user-%d" % (i % 10),
            value=b"event-%d" % i,
            callback=lambda err, msg: delivered.append(err),
        )
    assert producer.flush(GUARD_S) == 0, "messages left undelivered"
    assert len(delivered) == 100 and all(e is None for e in delivered), delivered
    print("produced 100 idempotent", flush=True)

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "ck-group",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe(["ck-events"])
    seen = {}
    deadline = time.time() + GUARD_S
    while sum(len(v) for v in seen.values()) < 100:
        assert time.time() < deadline, "timed out consuming: %r" % {k: len(v) for k, v in seen.items()}
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        seen.setdefault(msg.key(), []).append(int(msg.value().split(b"-")[1]))
    # per key, order is kept (a key always lands in the same partition)
    assert all(values == sorted(values) for values in seen.values()), seen
    print("consumed 100 in key order", flush=True)
    consumer.commit(asynchronous=False)
    committed = consumer.committed([TopicPartition("ck-events", 0), TopicPartition("ck-events", 1)], timeout=GUARD_S)
    assert sum(tp.offset for tp in committed) == 100, committed
    print("committed 100", flush=True)
    low, high = consumer.get_watermark_offsets(TopicPartition("ck-events", 0), timeout=GUARD_S)
    assert low == 0 and high == committed[0].offset, (low, high, committed)
    print("watermarks match", flush=True)
    consumer.close()

    for future in admin.delete_topics(["ck-events"]).values():
        future.result(GUARD_S)
    print("deleted ck-events", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
