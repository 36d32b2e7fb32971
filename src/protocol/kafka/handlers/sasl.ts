/**
 * SaslHandshake (v0-1) and SaslAuthenticate (v0-2): the exchange's state belongs to the connection, which
 * also decides what a connection may send before it is authenticated (see ../connection.ts).
 */
import { SASL_AUTHENTICATE_API, SASL_HANDSHAKE_API } from '../generated/messages.js';
import type { KafkaHandler } from './context.js';

const SASL_HANDSHAKE_HANDLER: KafkaHandler<typeof SASL_HANDSHAKE_API.apiKey> = {
  apiKey: SASL_HANDSHAKE_API.apiKey,
  minVersion: 0,
  maxVersion: 1,
  handle: (_context, request, version, session) => session.saslHandshake(request.mechanism, version),
};

const SASL_AUTHENTICATE_HANDLER: KafkaHandler<typeof SASL_AUTHENTICATE_API.apiKey> = {
  apiKey: SASL_AUTHENTICATE_API.apiKey,
  minVersion: 0,
  maxVersion: 2,
  handle: (_context, request, version, session) => session.saslAuthenticate(request.authBytes, version),
};

export const SASL_HANDLERS = [SASL_HANDSHAKE_HANDLER, SASL_AUTHENTICATE_HANDLER] as const;
