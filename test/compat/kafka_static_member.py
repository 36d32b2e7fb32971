"""Static membership (group.instance.id, KIP-345) on Postbox through confluent-kafka (librdkafka).

Usage: kafka_static_member.py <kafka-port>

Members a and b, each with a group.instance.id, share a 4-partition topic. b consumes and commits, then
closes (a static member sends no LeaveGroup) and a new consumer with b's instance id starts within the
session timeout: it must get b's partitions back and resume at b's commits, while a, which keeps polling,
sees no rebalance at all (no revoke, no new assignment). Waits are guards, not timing checks. The last
line of stdout is one JSON object, which test/compat/kafka-python-rebalance.test.ts checks.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "static-events"
GROUP = "static-group"
PARTITIONS = 4
GUARD_S = 40
SESSION_TIMEOUT_MS = 30000


def consumer(bootstrap, instance, events):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": GROUP,
        "group.instance.id": instance,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": 500,
    })
    c.subscribe(
        [TOPIC],
        on_assign=lambda _c, parts: events.append(("assign", sorted(p.partition for p in parts))),
        on_revoke=lambda _c, parts: events.append(("revoke", sorted(p.partition for p in parts))),
    )
    return c


def poll_into(c, received):
    msg = c.poll(0.1)
    if msg is None:
        return
    if msg.error():
        raise KafkaException(msg.error())
    received.append((msg.partition(), msg.value().decode()))


def wait_until(what, predicate, pollers):
    deadline = time.time() + GUARD_S
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out waiting until " + what)
        for c, received in pollers:
            poll_into(c, received)


def main(port):
    bootstrap = "127.0.0.1:%d" % port
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)]).values():
        future.result(GUARD_S)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})

    def produce(phase):
        for p in range(PARTITIONS):
            producer.produce(TOPIC, value=("%s-p%d" % (phase, p)).encode(), partition=p)
        assert producer.flush(GUARD_S) == 0

    a_events, b_events, b2_events = [], [], []
    a_got, b_got, b2_got = [], [], []
    a = consumer(bootstrap, "member-a", a_events)
    b = consumer(bootstrap, "member-b", b_events)
    pollers = [(a, a_got), (b, b_got)]

    def split_done():
        owned = sorted(p.partition for p in a.assignment()) + sorted(p.partition for p in b.assignment())
        return len(a.assignment()) > 0 and len(b.assignment()) > 0 and sorted(owned) == list(range(PARTITIONS))

    wait_until("a and b split the partitions", split_done, pollers)
    a_parts = sorted(p.partition for p in a.assignment())
    b_parts = sorted(p.partition for p in b.assignment())
    produce("first")
    wait_until("a and b consumed the first round", lambda: len(a_got) + len(b_got) == PARTITIONS, pollers)
    b.commit(asynchronous=False)
    a_events_before = len(a_events)
    b.close()

    b2 = consumer(bootstrap, "member-b", b2_events)
    pollers = [(a, a_got), (b2, b2_got)]
    wait_until("the restarted b has partitions", lambda: len(b2.assignment()) > 0, pollers)
    b2_parts = sorted(p.partition for p in b2.assignment())
    produce("second")
    wait_until(
        "a and the restarted b consumed the second round",
        lambda: len([v for _, v in a_got if v.startswith("second")]) + len(b2_got) == PARTITIONS,
        pollers,
    )
    # a few more polls: a rebalance started by the restart would show up in a's callbacks by now
    end = time.time() + 1.5
    while time.time() < end:
        for c, received in pollers:
            poll_into(c, received)
    a_after = a_events[a_events_before:]
    a.close()
    b2.close()
    print(json.dumps({
        "a": a_parts,
        "b": b_parts,
        "b2": b2_parts,
        "aEventsAfterRestart": a_after,
        "b2Received": sorted(b2_got),
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]))
