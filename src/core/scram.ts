/**
 * SCRAM credentials (RFC 5802, RFC 7677 for SHA-256; SHA-512 as Kafka's KIP-84 adds it): what the broker keeps
 * of a password so a SCRAM client can prove it knows the password without sending it.
 *
 *   SaltedPassword = PBKDF2-HMAC-H(password as UTF-8, salt, iterations)
 *   StoredKey      = H(HMAC(SaltedPassword, "Client Key"))
 *   ServerKey      = HMAC(SaltedPassword, "Server Key")
 *
 * Only salt, iterations, StoredKey and ServerKey are kept; the password cannot be recovered from them, and
 * they cannot be derived from a RabbitMQ-format password hash (a different one-way function), so a user
 * imported with only a password_hash has no SCRAM credentials until its password is set again.
 *
 * The password is used as its UTF-8 bytes without SASLprep, as Kafka's ScramFormatter and its clients do.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export const SCRAM_MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-256', 'SCRAM-SHA-512'];

/** PBKDF2 iterations of a new credential: Kafka's default (and RFC 7677's minimum), 4096. */
export const SCRAM_ITERATIONS = 4096;
/** Most iterations a stored credential may carry, so an imported one cannot make each login cost seconds. */
export const MAX_SCRAM_ITERATIONS = 65_536;
/** Random salt of a new credential, bytes (Kafka uses 16 to 32 bytes; RFC 5802 asks for a random one). */
const SCRAM_SALT_BYTES = 24;

export interface ScramCredential {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export type ScramCredentials = Readonly<Record<ScramMechanism, ScramCredential>>;

/** A credential as persisted (definitions): base64 fields. */
export interface ScramCredentialDefinition {
  readonly salt: string;
  readonly iterations: number;
  readonly stored_key: string;
  readonly server_key: string;
}
export type ScramCredentialsDefinition = Partial<Record<ScramMechanism, ScramCredentialDefinition>>;

export function scramDigest(mechanism: ScramMechanism): 'sha256' | 'sha512' {
  return mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
}

export function scramHmac(mechanism: ScramMechanism, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(scramDigest(mechanism), key).update(data).digest();
}

export function scramHash(mechanism: ScramMechanism, data: Buffer): Buffer {
  return createHash(scramDigest(mechanism)).update(data).digest();
}

/** One mechanism's credential for a password, with a fresh random salt. */
export function scramCredential(
  mechanism: ScramMechanism,
  password: string,
  iterations: number = SCRAM_ITERATIONS,
  salt: Buffer = randomBytes(SCRAM_SALT_BYTES),
): ScramCredential {
  const digest = scramDigest(mechanism);
  const length = digest === 'sha256' ? 32 : 64;
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, length, digest);
  const clientKey = scramHmac(mechanism, salted, 'Client Key');
  return { salt, iterations, storedKey: scramHash(mechanism, clientKey), serverKey: scramHmac(mechanism, salted, 'Server Key') };
}

/** Both mechanisms' credentials for a password (about 5 ms of CPU: two PBKDF2 runs of 4096 rounds). */
export function scramCredentials(password: string): ScramCredentials {
  return Object.freeze({ 'SCRAM-SHA-256': scramCredential('SCRAM-SHA-256', password), 'SCRAM-SHA-512': scramCredential('SCRAM-SHA-512', password) });
}

export function scramToDefinition(credentials: Partial<ScramCredentials>): ScramCredentialsDefinition {
  const out: Partial<Record<ScramMechanism, ScramCredentialDefinition>> = {};
  for (const m of SCRAM_MECHANISMS) {
    const c = credentials[m];
    if (c !== undefined)
      out[m] = {
        salt: c.salt.toString('base64'),
        iterations: c.iterations,
        stored_key: c.storedKey.toString('base64'),
        server_key: c.serverKey.toString('base64'),
      };
  }
  return out;
}

/**
 * Persisted credentials back (imports, the definitions file); throws a readable message when one is not
 * well formed. Unknown mechanisms are ignored.
 */
export function scramFromDefinition(raw: unknown): Partial<ScramCredentials> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error('SCRAM credentials must be an object keyed by mechanism');
  const out: Partial<Record<ScramMechanism, ScramCredential>> = {};
  for (const m of SCRAM_MECHANISMS) {
    const d = (raw as Record<string, unknown>)[m];
    if (d === undefined) continue;
    if (typeof d !== 'object' || d === null) throw new Error(`${m} credential must be an object`);
    const { salt, iterations, stored_key: storedKey, server_key: serverKey } = d as Record<string, unknown>;
    if (typeof salt !== 'string' || typeof storedKey !== 'string' || typeof serverKey !== 'string')
      throw new Error(`${m} credential needs base64 salt, stored_key and server_key`);
    if (typeof iterations !== 'number' || !Number.isInteger(iterations) || iterations < SCRAM_ITERATIONS || iterations > MAX_SCRAM_ITERATIONS) {
      throw new Error(`${m} credential iterations must be an integer ${SCRAM_ITERATIONS}..${MAX_SCRAM_ITERATIONS}`);
    }
    const keyBytes = scramDigest(m) === 'sha256' ? 32 : 64;
    const c = { salt: Buffer.from(salt, 'base64'), iterations, storedKey: Buffer.from(storedKey, 'base64'), serverKey: Buffer.from(serverKey, 'base64') };
    if (c.salt.length === 0 || c.storedKey.length !== keyBytes || c.serverKey.length !== keyBytes)
      throw new Error(`${m} credential has a wrong salt or key length`);
    out[m] = c;
  }
  return out;
}
