"""Postbox through pika (Debian's python3-pika 1.2, BlockingConnection).

Usage: pika_smoke.py <amqp-port>

Prints one line per step; test/compat/pika.test.ts checks the lines and the exit status. Any failure raises,
so the exit status is not 0.
"""
import sys

import pika
import pika.exceptions


def main(port):
    params = pika.ConnectionParameters(
        host="127.0.0.1",
        port=port,
        credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1,
        socket_timeout=10,
        blocked_connection_timeout=10,
    )
    conn = pika.BlockingConnection(params)
    print("connected", flush=True)
    ch = conn.channel()
    ch.confirm_delivery()

    declared = ch.queue_declare(queue="pika-smoke", durable=True)
    assert declared.method.queue == "pika-smoke", declared.method
    print("declared pika-smoke", flush=True)

    # with confirm_delivery, basic_publish returns only once the broker confirmed the message
    props = pika.BasicProperties(content_type="text/plain", delivery_mode=2, headers={"n": 1, "who": "pika"}, message_id="p-1")
    ch.basic_publish(exchange="", routing_key="pika-smoke", body=b"hello pika", properties=props, mandatory=True)
    print("confirmed", flush=True)

    method, got_props, body = ch.basic_get("pika-smoke", auto_ack=False)
    assert method is not None, "basic_get found no message"
    assert body == b"hello pika", body
    assert got_props.content_type == "text/plain", got_props
    assert got_props.headers == {"n": 1, "who": "pika"}, got_props.headers
    assert got_props.message_id == "p-1", got_props
    ch.basic_ack(method.delivery_tag)
    print("got", body.decode(), flush=True)

    method, _, _ = ch.basic_get("pika-smoke", auto_ack=True)
    assert method is None, "queue should be empty after the ack"
    print("empty", flush=True)

    ch.basic_publish(exchange="", routing_key="pika-smoke", body=b"consume me")
    received = []

    def on_message(channel, deliver, _properties, message_body):
        received.append(message_body)
        channel.basic_ack(deliver.delivery_tag)
        channel.stop_consuming()

    ch.basic_consume(queue="pika-smoke", on_message_callback=on_message)
    ch.start_consuming()
    assert received == [b"consume me"], received
    print("consumed", received[0].decode(), flush=True)

    ch.exchange_declare(exchange="pika-x", exchange_type="direct")
    own = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.queue_bind(queue=own, exchange="pika-x", routing_key="rk")
    ch.basic_publish(exchange="pika-x", routing_key="rk", body=b"routed")
    method, _, body = ch.basic_get(own, auto_ack=True)
    assert method is not None and body == b"routed", body
    print("routed", body.decode(), flush=True)

    try:
        ch.basic_publish(exchange="pika-x", routing_key="nowhere", body=b"lost", mandatory=True)
        print("unroutable message was not returned", flush=True)
    except pika.exceptions.UnroutableError:
        print("returned unroutable", flush=True)

    conn.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
