export { startBroker, type BrokerOptions, type RunningBroker } from './broker.js';
export type { Config } from './config/config.js';
