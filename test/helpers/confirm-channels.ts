/** amqplib helpers for tests that watch what a consumer gets while publishes wait for their fsync. */
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';

/** What a consumer got from a queue, in order; the messages stay unacked until the caller acks them. */
export interface Received {
  readonly bodies: string[];
  readonly messages: ConsumeMessage[];
}

/** Declares `queue` and consumes it with manual acks on `consumer`. */
export async function consumeInto(consumer: Channel, queue: string, args: Record<string, unknown> = {}, durable = true): Promise<Received> {
  const seen: Received = { bodies: [], messages: [] };
  await consumer.assertQueue(queue, { durable, arguments: args });
  await consumer.consume(queue, (m) => {
    if (m === null) return;
    seen.bodies.push(m.content.toString());
    seen.messages.push(m);
  });
  return seen;
}

/** Publishes a persistent `body` with confirm; `answers` gets 'ack' or 'nack' under the body when the broker answers. */
export function publishConfirmed(confirm: ConfirmChannel, queue: string, body: string, answers: Map<string, 'ack' | 'nack'>): void {
  confirm.sendToQueue(queue, Buffer.from(body), { persistent: true }, (err) => {
    answers.set(body, err === null || err === undefined ? 'ack' : 'nack');
  });
}
