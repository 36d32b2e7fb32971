/** The project's AMQP 0-9-1 client (client.ts) and its frame builders (frames.ts), for the CLI, bench/ and test/. */
export * from './client.js';
export * from './frames.js';
