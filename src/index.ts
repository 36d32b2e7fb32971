export { startBroker, type BrokerOptions, type RunningBroker } from './broker.js';
export type { Config } from './config/config.js';
export { StartupError } from './util/startup-error.js';
export { DataDirLockedError } from './storage/data-dir-lock.js';
export { ListenError } from './util/listen.js';
