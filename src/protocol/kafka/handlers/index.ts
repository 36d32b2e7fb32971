/**
 * The dispatch table: every API this listener serves, with the versions it advertises. ApiVersions
 * itself lives here because its answer is this table.
 */
import { API_VERSIONS_API, type ApiVersionsResponse, type ServedApiKey } from '../generated/messages.js';
import { KafkaProtocolState } from '../errors.js';
import type { AnyKafkaHandler, KafkaHandler } from './context.js';
import { GROUP_HANDLERS } from './groups.js';
import { TOPIC_HANDLERS } from './topics.js';
import { PRODUCE_HANDLERS } from './produce.js';
import { FETCH_HANDLERS } from './fetch.js';
import { ADMIN_HANDLERS } from './admin.js';
import { SASL_HANDLERS } from './sasl.js';

const API_VERSIONS_HANDLER: KafkaHandler<typeof API_VERSIONS_API.apiKey> = {
  apiKey: API_VERSIONS_API.apiKey,
  minVersion: 0,
  maxVersion: 3,
  handle: () => apiVersionsBody(KafkaProtocolState.NONE),
};

const HANDLERS: readonly AnyKafkaHandler[] = [
  API_VERSIONS_HANDLER,
  ...TOPIC_HANDLERS,
  ...PRODUCE_HANDLERS,
  ...FETCH_HANDLERS,
  ...GROUP_HANDLERS,
  ...ADMIN_HANDLERS,
  ...SASL_HANDLERS,
];

const BY_KEY = new Map<number, AnyKafkaHandler>();
for (const h of HANDLERS) {
  if (BY_KEY.has(h.apiKey)) throw new Error(`two Kafka handlers for API key ${h.apiKey}`);
  BY_KEY.set(h.apiKey, h);
}

/** The versions this broker answers, per API, ascending by key: exactly what ApiVersions advertises. */
export const ADVERTISED_APIS: ReadonlyArray<{ apiKey: number; minVersion: number; maxVersion: number }> = [...BY_KEY.values()]
  .map((h) => ({ apiKey: h.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }))
  .sort((a, b) => a.apiKey - b.apiKey);

export function handlerFor(apiKey: number): AnyKafkaHandler | undefined {
  return BY_KEY.get(apiKey as ServedApiKey);
}

export function apiVersionsBody(errorCode: number): ApiVersionsResponse {
  return {
    errorCode,
    apiKeys: ADVERTISED_APIS.map((a) => ({ ...a })),
    throttleTimeMs: 0,
    supportedFeatures: [],
    finalizedFeaturesEpoch: -1n,
    finalizedFeatures: [],
    zkMigrationReady: false,
  };
}
