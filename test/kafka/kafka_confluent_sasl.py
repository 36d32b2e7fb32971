"""Postbox through confluent-kafka with SASL (SASL_PLAINTEXT): SCRAM-SHA-512 and PLAIN, and a wrong password.

Usage: kafka_confluent_sasl.py <host:port> <user> <password>

Prints one line per step; test/kafka/sasl.test.ts checks the lines and the exit status.
"""
import sys

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

GUARD_S = 20


def config(bootstrap, mechanism, user, password):
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


def round_trip(bootstrap, mechanism, user, password):
    topic = "ck-sasl-" + mechanism.lower()
    producer = Producer(dict(config(bootstrap, mechanism, user, password), acks="all"))
    errors = []
    for i in range(10):
        producer.produce(topic, value=b"v%d" % i, callback=lambda err, msg: errors.append(err))
    assert producer.flush(GUARD_S) == 0, "messages left undelivered"
    assert errors == [None] * 10, errors
    consumer = Consumer(dict(config(bootstrap, mechanism, user, password), **{"group.id": "ck-sasl-" + mechanism, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    seen = []
    for _ in range(200):
        if len(seen) == 10:
            break
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        seen.append(msg.value())
    consumer.close()
    assert seen == [b"v%d" % i for i in range(10)], seen
    print("%s produced and consumed" % mechanism, flush=True)


def wrong_password(bootstrap, user):
    failures = []
    producer = Producer(dict(config(bootstrap, "SCRAM-SHA-256", user, "wrong"), error_cb=lambda err: failures.append(err)))
    for _ in range(50):
        if failures:
            break
        producer.poll(0.2)
    codes = [e.code() for e in failures]
    assert KafkaError._AUTHENTICATION in codes, [str(e) for e in failures]
    print("wrong password: authentication failed", flush=True)


def main(bootstrap, user, password):
    round_trip(bootstrap, "SCRAM-SHA-512", user, password)
    round_trip(bootstrap, "PLAIN", user, password)
    wrong_password(bootstrap, user)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
