"""A consumer group of two members rebalancing on Postbox, through a real Python Kafka client.

Usage: kafka_rebalance.py <kafka-port> <confluent|kafka-python>

Member a joins alone, member b joins, both consume what is produced next, both commit; then b closes
(leaves the group) and a, alone again, consumes what is produced after that. Each member runs in its own
thread (kafka-python joins a group inside poll() and blocks there until every member has rejoined, so two
members cannot share one thread). Waits are guards, not timing checks: a wait that runs out raises with
what was seen. The last line of stdout is one JSON object, which
test/compat/kafka-python-rebalance.test.ts checks.
"""
import json
import sys
import threading
import time

TOPIC = "rebalance-events"
GROUP = "rebalance-group"
PARTITIONS = 4
PER_PARTITION = 3
ALL = list(range(PARTITIONS))
GUARD_S = 40
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 500


class ConfluentClient:
    def __init__(self, bootstrap):
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        self.bootstrap = bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until its futures resolve
        for future in admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)]).values():
            future.result(GUARD_S)
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})

    def produce(self, values_by_partition):
        failures = []
        for partition, values in values_by_partition.items():
            for value in values:
                self.producer.produce(TOPIC, value=value.encode(), partition=partition, callback=lambda err, msg: err is not None and failures.append(err))
        assert self.producer.flush(GUARD_S) == 0 and not failures, failures

    def consumer(self):
        return ConfluentMember(self.bootstrap)


class ConfluentMember:
    def __init__(self, bootstrap):
        from confluent_kafka import Consumer

        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_MS,
        })
        self.consumer.subscribe([TOPIC])

    def poll(self):
        from confluent_kafka import KafkaException

        msg = self.consumer.poll(0.2)
        if msg is None:
            return []
        if msg.error():
            raise KafkaException(msg.error())
        return [(msg.partition(), msg.value().decode())]

    def assignment(self):
        return sorted(tp.partition for tp in self.consumer.assignment())

    def commit(self):
        self.consumer.commit(asynchronous=False)

    def close(self):
        self.consumer.close()


class KafkaPythonClient:
    def __init__(self, bootstrap):
        from kafka import KafkaAdminClient, KafkaProducer
        from kafka.admin import NewTopic

        self.bootstrap = bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=GUARD_S * 1000)
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
        admin.close()
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")

    def produce(self, values_by_partition):
        futures = [self.producer.send(TOPIC, value=value.encode(), partition=partition) for partition, values in values_by_partition.items() for value in values]
        self.producer.flush(GUARD_S)
        for future in futures:
            future.get(GUARD_S)

    def consumer(self):
        return KafkaPythonMember(self.bootstrap)


class KafkaPythonMember:
    def __init__(self, bootstrap):
        from kafka import KafkaConsumer

        self.consumer = KafkaConsumer(
            TOPIC,
            bootstrap_servers=bootstrap,
            group_id=GROUP,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_MS,
        )

    def poll(self):
        batches = self.consumer.poll(timeout_ms=200)
        return [(tp.partition, record.value.decode()) for tp, records in batches.items() for record in records]

    def assignment(self):
        return sorted(tp.partition for tp in self.consumer.assignment())

    def commit(self):
        self.consumer.commit()

    def close(self):
        self.consumer.close()


class Member(threading.Thread):
    """Polls one consumer in its own thread; the main thread reads its state and asks it to commit or close."""

    def __init__(self, name, client):
        super().__init__(name=name, daemon=True)
        self.client = client
        self.lock = threading.Lock()
        self.received = []
        self.assigned = []
        self.error = None
        self.commit_asked = threading.Event()
        self.committed = threading.Event()
        self.stop_asked = threading.Event()
        self.closed = threading.Event()

    def run(self):
        try:
            consumer = self.client.consumer()
            try:
                while not self.stop_asked.is_set():
                    got = consumer.poll()
                    assigned = consumer.assignment()
                    with self.lock:
                        self.received.extend(got)
                        self.assigned = assigned
                    if self.commit_asked.is_set() and not self.committed.is_set():
                        consumer.commit()
                        self.committed.set()
            finally:
                consumer.close()
        except Exception as err:  # reported by the main thread's waits
            self.error = repr(err)
        finally:
            self.closed.set()

    def state(self):
        with self.lock:
            return list(self.assigned), list(self.received)

    def take_received(self):
        with self.lock:
            got, self.received = self.received, []
            return got


def wait_until(what, predicate, members, seen):
    deadline = time.time() + GUARD_S
    while not predicate():
        for m in members:
            if m.error is not None:
                raise AssertionError("%s: member %s failed: %s" % (what, m.name, m.error))
        if time.time() > deadline:
            raise AssertionError("timed out waiting until %s; saw %r" % (what, seen()))
        time.sleep(0.05)


def values(phase):
    return {p: ["%s-p%d-%d" % (phase, p, i) for i in range(PER_PARTITION)] for p in ALL}


def by_partition(received):
    out = {}
    for partition, value in received:
        out.setdefault(str(partition), []).append(value)
    return out


def main(port, flavour):
    bootstrap = "127.0.0.1:%d" % port
    client = (ConfluentClient if flavour == "confluent" else KafkaPythonClient)(bootstrap)
    a = Member("a", client)
    b = Member("b", client)
    snapshot = lambda: {"a": a.state(), "b": b.state()}

    a.start()
    wait_until("a alone is assigned every partition", lambda: a.state()[0] == ALL, [a], snapshot)
    alone = a.state()[0]

    b.start()

    def split():
        pa, pb = a.state()[0], b.state()[0]
        return pa and pb and not set(pa) & set(pb) and sorted(pa + pb) == ALL

    wait_until("a and b split the partitions", split, [a, b], snapshot)
    split_a, split_b = a.state()[0], b.state()[0]

    client.produce(values("before"))
    wait_until("a and b received everything produced after the split", lambda: len(a.state()[1]) + len(b.state()[1]) == PARTITIONS * PER_PARTITION, [a, b], snapshot)
    before_a, before_b = a.take_received(), b.take_received()
    for m in (a, b):
        m.commit_asked.set()
    wait_until("a and b committed", lambda: a.committed.is_set() and b.committed.is_set(), [a, b], snapshot)

    b.stop_asked.set()
    wait_until("b closed", b.closed.is_set, [a], snapshot)
    assert b.error is None, b.error
    wait_until("a is assigned every partition again", lambda: a.state()[0] == ALL, [a], snapshot)
    after_leave = a.state()[0]

    client.produce(values("after"))
    wait_until("a received everything produced after b left", lambda: sum(1 for _, v in a.state()[1] if v.startswith("after-")) == PARTITIONS * PER_PARTITION, [a], snapshot)
    after_a = a.take_received()
    a.stop_asked.set()
    wait_until("a closed", a.closed.is_set, [], snapshot)
    assert a.error is None, a.error

    print(json.dumps({
        "alone": alone,
        "split": {"a": split_a, "b": split_b},
        "beforeLeave": {"a": by_partition(before_a), "b": by_partition(before_b)},
        "afterLeave": after_leave,
        "afterLeaveReceived": by_partition(after_a),
    }), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
