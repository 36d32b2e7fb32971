/**
 * The server side of one SASL exchange on a Kafka connection: PLAIN (RFC 4616) and SCRAM-SHA-256/512
 * (RFC 5802, RFC 7677, Kafka's KIP-84). The connection (./connection.ts) carries the tokens, in
 * SaslAuthenticate requests (SaslHandshake v1) or as bare size-prefixed frames (SaslHandshake v0), and
 * step() turns each client token into the next server token, a verdict, or a refusal.
 *
 * SCRAM, as messages on the wire (no channel binding; Kafka's extensions such as tokenauth are refused):
 *
 *   client-first  gs2-header client-first-bare     "n,," "n=" user ",r=" cnonce
 *   server-first                                   "r=" cnonce snonce ",s=" base64(salt) ",i=" iterations
 *   client-final                                   "c=" base64(gs2-header) ",r=" cnonce snonce ",p=" base64(proof)
 *   server-final                                   "v=" base64(ServerSignature)
 *
 *   AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
 *   ClientSignature = HMAC(StoredKey, AuthMessage);  ClientKey = proof XOR ClientSignature
 *   the proof holds when H(ClientKey) = StoredKey;   ServerSignature = HMAC(ServerKey, AuthMessage)
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { UserConfig } from '../../config/config.js';
import type { UserStore } from '../../core/users.js';
import { scramHash, scramHmac, SCRAM_MECHANISMS, type ScramCredential, type ScramMechanism } from '../../core/scram.js';

/** The mechanisms offered, in SaslHandshake's answer and order. */
export const SASL_MECHANISMS: readonly string[] = ['PLAIN', ...SCRAM_MECHANISMS];

/**
 * Largest SASL token accepted, bytes: a PLAIN or SCRAM message is a user name (at most 255 bytes, 765
 * escaped), a password and nonces; 16 KiB is far above any of them and keeps a hostile client's cost small.
 */
export const MAX_SASL_TOKEN_BYTES = 16 * 1024;
/** Random bytes in the server's nonce (base64 in the message). */
const SERVER_NONCE_BYTES = 24;

/** What a client is told when its credentials fail (the details go to the log only), as Kafka words it. */
export function authenticationFailedText(mechanism: string): string {
  return `Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`;
}

export type SaslStep =
  /** send `token` to the client and wait for its next one */
  | { readonly kind: 'challenge'; readonly token: Buffer }
  /** authenticated: send `token` (possibly empty) and the connection is `user` */
  | { readonly kind: 'done'; readonly token: Buffer; readonly user: UserConfig }
  /** refused: `reason` is for the log; the client is told authenticationFailedText() */
  | { readonly kind: 'failed'; readonly reason: string; readonly user: string };

export function isSaslMechanism(name: string): boolean {
  return SASL_MECHANISMS.includes(name);
}

/** One authentication attempt with one mechanism. */
export class SaslExchange {
  private stage: 'first' | 'final' | 'over' = 'first';
  // SCRAM state between the two client messages
  private user = '';
  private credential: ScramCredential | null = null;
  private identity: UserConfig | null = null;
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private gs2Header = '';

  constructor(
    readonly mechanism: string,
    private readonly users: UserStore,
    private readonly fromLoopback: boolean,
  ) {}

  /** the next token decides the login (PLAIN's only token, SCRAM's client-final): it goes through the login guard */
  get decides(): boolean {
    return this.mechanism === 'PLAIN' ? this.stage === 'first' : this.stage === 'final';
  }

  /** the user the next token logs in as, for the login guard's lines (PLAIN: read from the token) */
  claimedUser(token: Buffer): string {
    if (this.mechanism !== 'PLAIN') return this.user;
    return token.toString('utf8').split('\0')[1] ?? '';
  }

  step(token: Buffer): SaslStep {
    if (this.stage === 'over') return this.fail('a token after the exchange ended');
    if (token.length > MAX_SASL_TOKEN_BYTES) return this.fail(`a ${token.length}-byte token (at most ${MAX_SASL_TOKEN_BYTES})`);
    if (this.mechanism === 'PLAIN') return this.plain(token);
    return this.stage === 'first' ? this.scramFirst(token) : this.scramFinal(token);
  }

  private fail(reason: string): SaslStep {
    this.stage = 'over';
    return { kind: 'failed', reason, user: this.user };
  }

  // ---- PLAIN: authzid \0 authcid \0 password

  private plain(token: Buffer): SaslStep {
    this.stage = 'over';
    const parts = token.toString('utf8').split('\0');
    if (parts.length !== 3) return this.fail('a malformed PLAIN token');
    const [authzid, authcid, password] = parts as [string, string, string];
    this.user = authcid;
    // Kafka: an authorization id, when given, must be the authenticating user
    if (authzid !== '' && authzid !== authcid) return this.fail(`authorization id '${authzid}' differs from the user name`);
    const user = this.users.authenticate(authcid, password, this.fromLoopback);
    if (user === undefined) return this.fail('wrong user name or password, or a user that may not connect from there');
    return { kind: 'done', token: Buffer.alloc(0), user };
  }

  // ---- SCRAM

  private scramFirst(token: Buffer): SaslStep {
    const text = token.toString('utf8');
    // gs2-header: cbind-flag "," [authzid] ","
    const first = text.indexOf(',');
    const second = first < 0 ? -1 : text.indexOf(',', first + 1);
    if (second < 0) return this.fail('a malformed SCRAM client-first message');
    const flag = text.slice(0, first);
    if (flag !== 'n' && flag !== 'y')
      return this.fail(flag.startsWith('p=') ? 'SCRAM channel binding, which is not offered' : 'a malformed SCRAM client-first message');
    const authzid = text.slice(first + 1, second);
    this.gs2Header = text.slice(0, second + 1);
    this.clientFirstBare = text.slice(second + 1);
    const attrs = scramAttributes(this.clientFirstBare);
    if (attrs === null || attrs[0]?.[0] !== 'n' || attrs[1]?.[0] !== 'r') return this.fail('a malformed SCRAM client-first message');
    if (attrs.length > 2)
      return this.fail(
        `SCRAM extensions (${attrs
          .slice(2)
          .map((a) => a[0])
          .join(',')}), which are not supported`,
      );
    const user = scramName(attrs[0][1]);
    if (user === null) return this.fail('a malformed SCRAM user name');
    this.user = user;
    if (authzid !== '') {
      const z = authzid.startsWith('a=') ? scramName(authzid.slice(2)) : null;
      if (z !== user) return this.fail('an authorization id that differs from the user name');
    }
    const clientNonce = attrs[1][1];
    if (clientNonce === '' || !/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce)) return this.fail('a malformed SCRAM nonce');
    const found = this.users.scramCredential(user, this.mechanism as ScramMechanism, this.fromLoopback);
    if (found === undefined) return this.fail('no such user, no SCRAM credential for it (set its password again), or a user that may not connect from there');
    this.credential = found.credential;
    this.identity = found.identity;
    this.nonce = clientNonce + randomBytes(SERVER_NONCE_BYTES).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${found.credential.salt.toString('base64')},i=${found.credential.iterations}`;
    this.stage = 'final';
    return { kind: 'challenge', token: Buffer.from(this.serverFirst, 'utf8') };
  }

  private scramFinal(token: Buffer): SaslStep {
    this.stage = 'over';
    const text = token.toString('utf8');
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) return this.fail('a SCRAM client-final message without a proof');
    const withoutProof = text.slice(0, proofAt);
    const attrs = scramAttributes(withoutProof);
    if (attrs === null || attrs.length !== 2 || attrs[0]![0] !== 'c' || attrs[1]![0] !== 'r') return this.fail('a malformed SCRAM client-final message');
    if (attrs[0]![1] !== Buffer.from(this.gs2Header, 'utf8').toString('base64'))
      return this.fail('a SCRAM channel-binding attribute that differs from the client-first message');
    // Kafka's check (ScramSaslServer): the nonce ends with the one the server sent. librdkafka sends its own
    // nonce in front of the whole server nonce again, which Kafka accepts, so must this
    if (!attrs[1]![1].endsWith(this.nonce)) return this.fail('a SCRAM nonce that is not the one the server sent');
    const mechanism = this.mechanism as ScramMechanism;
    const credential = this.credential!;
    const proof = Buffer.from(text.slice(proofAt + 3), 'base64');
    if (proof.length !== credential.storedKey.length) return this.fail('a SCRAM proof of the wrong length');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = scramHmac(mechanism, credential.storedKey, authMessage);
    for (let i = 0; i < proof.length; i++) proof[i]! ^= clientSignature[i]!;
    if (!timingSafeEqual(scramHash(mechanism, proof), credential.storedKey)) return this.fail('wrong password');
    const serverSignature = scramHmac(mechanism, credential.serverKey, authMessage);
    return { kind: 'done', token: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'), user: this.identity! };
  }
}

/** "a=1,b=2" as [name, value] pairs (single-letter names, RFC 5802's attr-val), or null when malformed. */
function scramAttributes(text: string): Array<[string, string]> | null {
  const out: Array<[string, string]> = [];
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/^[a-zA-Z]$/.test(part[0]!)) return null;
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

/** A SCRAM saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed (null). */
function scramName(text: string): string | null {
  if (text === '') return null;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '=') {
      out += c;
      continue;
    }
    const code = text.slice(i + 1, i + 3);
    if (code === '2C') out += ',';
    else if (code === '3D') out += '=';
    else return null;
    i += 2;
  }
  return out;
}
