/**
 * The frame of a Kafka attack test: a test broker, the canary (an AMQP publisher with confirms that must keep
 * being served) and one raw Kafka client. After the body the canary must still be confirmed; its worst latency
 * is printed, not asserted.
 */
import type { BrokerOptions } from '../../src/broker.js';
import { startTestBroker, type TestBroker } from './broker.js';
import { startCanary } from './canary.js';
import { RawKafkaClient } from './kafka-raw.js';

export interface KafkaAttack {
  readonly broker: TestBroker;
  readonly client: RawKafkaClient;
}

export async function underKafkaAttack(options: BrokerOptions, body: (attack: KafkaAttack) => Promise<void>): Promise<void> {
  const broker = await startTestBroker(options);
  const canary = await startCanary(broker.url);
  const client = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    await body({ broker, client });
    await canary.check();
  } finally {
    client.close();
    const report = await canary.stop();
    console.log(`canary: ${report.confirmed} confirmed, worst latency ${report.worstLatencyMs.toFixed(0)} ms`);
    await broker.stop();
  }
}
