/**
 * Users and their vhost permissions. Two kinds of user:
 *
 * - config users, from the config file (and the built-in guest): fixed while the broker runs; their
 *   permissions are the vhosts listed in the file ('*' = every vhost). The management API shows them but
 *   cannot change them (edit the file instead).
 * - managed users, created through the management API or a definitions import: stored in the data
 *   directory's definitions file with a salted password hash (RabbitMQ's format, so a RabbitMQ export
 *   imports with working passwords), and given vhost access by permission entries.
 *
 * Permissions carry RabbitMQ's configure/write/read regular expressions. An entry for a vhost lets the user
 * open it; inside, access() gives the compiled expressions the AMQP channel checks each resource name
 * against, with RabbitMQ's rules: unanchored matching, and an empty expression matches nothing.
 *
 * Password hashes (RabbitMQ's rabbit_password_hashing_*): base64(salt ‖ H(salt ‖ UTF-8 password)) with a
 * 4-byte random salt and H = SHA-256 (the default), SHA-512 or MD5. MD5 (RabbitMQ before 3.6) is refused for
 * new hashes and imports unless the broker runs with --allow-md5-password-hashes: a GPU tries billions of MD5
 * candidates a second. Users already stored with one are restored (and named in a warning at startup).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UserConfig } from '../config/config.js';
import { brokerError, Errors } from '../errors/errors.js';
import { LinearRegex } from '../util/linear-regex.js';
import {
  scramCredentials,
  scramFromDefinition,
  scramToDefinition,
  type ScramCredential,
  type ScramCredentials,
  type ScramCredentialsDefinition,
  type ScramMechanism,
} from './scram.js';

export const HASHING_SHA256 = 'rabbit_password_hashing_sha256';
export const HASHING_SHA512 = 'rabbit_password_hashing_sha512';
export const HASHING_MD5 = 'rabbit_password_hashing_md5';
const DIGESTS: Readonly<Record<string, string>> = { [HASHING_SHA256]: 'sha256', [HASHING_SHA512]: 'sha512', [HASHING_MD5]: 'md5' };

/** Salt length of a password hash, bytes (RabbitMQ's). */
const SALT_BYTES = 4;
/** Longest user name accepted, bytes of UTF-8 (AMQP's shortstr limit, as the name travels in SASL). */
export const MAX_USER_NAME_BYTES = 255;
/** The regular expression that grants everything, as RabbitMQ writes it. */
export const FULL_PERMISSION = '.*';

/** A managed user as persisted (RabbitMQ's definitions field names). */
export interface UserDefinition {
  readonly name: string;
  readonly password_hash: string;
  readonly hashing_algorithm: string;
  readonly tags: readonly string[];
  /**
   * SCRAM-SHA-256/512 credentials (./scram.ts), a Postbox extension of RabbitMQ's format: absent from a
   * RabbitMQ export, whose users then log in with PLAIN only until their password is set again.
   */
  readonly postbox_scram_credentials?: ScramCredentialsDefinition;
}

/** One user's permissions in one vhost (RabbitMQ's definitions field names). */
export interface PermissionDefinition {
  readonly user: string;
  readonly vhost: string;
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

/** A user as the management API lists it. */
export interface UserView {
  readonly name: string;
  readonly tags: readonly string[];
  readonly passwordHash: string;
  readonly hashingAlgorithm: string;
  /** true for users from the config file (read-only at run time) */
  readonly fromConfig: boolean;
  /** the user's SCRAM credentials (none for a user imported with only a password hash) */
  readonly scram: Partial<ScramCredentials>;
}

export interface UserInput {
  /** a new password (hashed here) */
  readonly password?: string;
  /** or a ready hash (imports); '' means no password login */
  readonly passwordHash?: string;
  readonly hashingAlgorithm?: string;
  /** with a ready hash: the SCRAM credentials that go with it (a Postbox export), if any */
  readonly scram?: Partial<ScramCredentials>;
  readonly tags: readonly string[];
}

/** What an operation needs of a resource, RabbitMQ's three permission kinds. */
export type AccessKind = 'configure' | 'write' | 'read';

/** One user's compiled permissions in one vhost. */
export class ResourceAccess {
  private readonly configure: NameMatcher | null;
  private readonly write: NameMatcher | null;
  private readonly read: NameMatcher | null;

  constructor(configure: string, write: string, read: string) {
    this.configure = compilePermission(configure);
    this.write = compilePermission(write);
    this.read = compilePermission(read);
  }

  /** whether an operation of `kind` may touch some resource (the permission's expression is not empty) */
  grantsAny(kind: AccessKind): boolean {
    return (kind === 'configure' ? this.configure : kind === 'write' ? this.write : this.read) !== null;
  }

  /** whether an operation of `kind` may touch the resource called `name` */
  allows(kind: AccessKind, name: string): boolean {
    const re = kind === 'configure' ? this.configure : kind === 'write' ? this.write : this.read;
    return re !== null && (re === MATCH_ALL || re.test(name));
  }
}

/** stands for '.*' (and '^.*$' ...): matches every name without running a regular expression */
const MATCH_ALL: NameMatcher = { test: () => true };

interface NameMatcher {
  test(name: string): boolean;
}

function compilePermission(expression: string): NameMatcher | null {
  // RabbitMQ: the empty expression grants nothing; any other is matched unanchored (re:run), here by a
  // linear-time matcher (util/linear-regex.ts) since the expression comes from an API user
  if (expression === '') return null;
  if (expression === FULL_PERMISSION || expression === '^.*$' || expression === '^.*') return MATCH_ALL;
  return new LinearRegex(expression);
}

/** RabbitMQ's words for a refused resource access; the default exchange is named amq.default. */
export function accessRefusedText(type: 'queue' | 'exchange', name: string, vhost: string, user: string): string {
  return `access to ${type} '${resourceName(type, name)}' in vhost '${vhost}' refused for user '${user}'`;
}

/** The name permission expressions are matched against: the default exchange is amq.default. */
export function resourceName(type: 'queue' | 'exchange', name: string): string {
  return type === 'exchange' && name === '' ? 'amq.default' : name;
}

export const FULL_ACCESS = new ResourceAccess(FULL_PERMISSION, FULL_PERMISSION, FULL_PERMISSION);
export const NO_ACCESS = new ResourceAccess('', '', '');

export function hashPassword(password: string, algorithm: string = HASHING_SHA256): string {
  const digest = DIGESTS[algorithm];
  if (digest === undefined) throw brokerError(Errors.PRECONDITION_FAILED, `unknown hashing algorithm '${algorithm}'`);
  const salt = randomBytes(SALT_BYTES);
  return Buffer.concat([salt, createHash(digest).update(salt).update(password, 'utf8').digest()]).toString('base64');
}

function passwordMatches(hash: string, algorithm: string, password: string): boolean {
  const digest = DIGESTS[algorithm];
  if (digest === undefined || hash === '') return false;
  const raw = Buffer.from(hash, 'base64');
  if (raw.length <= SALT_BYTES) return false;
  const salt = raw.subarray(0, SALT_BYTES);
  const expected = raw.subarray(SALT_BYTES);
  const actual = createHash(digest).update(salt).update(password, 'utf8').digest();
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

interface ConfigUser {
  readonly config: UserConfig;
  /** a hash of the configured password, made at startup, so exports carry a working hash */
  readonly hash: string;
  /** SCRAM credentials of the configured password, made at startup (kept in memory only) */
  readonly scram: ScramCredentials;
}

interface ManagedUser {
  readonly name: string;
  readonly hash: string;
  readonly algorithm: string;
  readonly tags: readonly string[];
  readonly scram: Partial<ScramCredentials>;
  /** what authentication hands out; rebuilt when tags or permissions change */
  identity: UserConfig;
}

export interface UserStoreOptions {
  /** accept rabbit_password_hashing_md5 in put() (imports, the management API) */
  readonly allowMd5?: boolean;
}

/** The flag that lets MD5 password hashes in, as the refusal names it. */
export const ALLOW_MD5_FLAG = '--allow-md5-password-hashes';

export class UserStore {
  /** managed users restored with an MD5 hash (told at startup) */
  readonly md5Restored: string[] = [];
  private restoring = false;
  private readonly configUsers = new Map<string, ConfigUser>();
  private readonly managed = new Map<string, ManagedUser>();
  /** permissions of managed users: user → vhost → permission */
  private readonly grants = new Map<string, Map<string, PermissionDefinition>>();
  /** the same permissions compiled: user → vhost → access */
  private readonly compiled = new Map<string, Map<string, ResourceAccess>>();
  /** grows whenever any permission changes, so a cached access check knows to look again */
  generation = 0;

  /** `vhostNames` lists the vhosts that exist now (config users with '*' have all of them) */
  constructor(
    configUsers: readonly UserConfig[],
    private readonly vhostNames: () => Iterable<string>,
    private readonly options: UserStoreOptions = {},
  ) {
    for (const u of configUsers) this.configUsers.set(u.name, { config: u, hash: hashPassword(u.password), scram: scramCredentials(u.password) });
  }

  // ---------------------------------------------------------------- authentication

  /** the user, or undefined when the name/password pair is wrong or the user may not connect from there */
  authenticate(username: string, password: string, fromLoopback: boolean): UserConfig | undefined {
    const fixed = this.configUsers.get(username);
    if (fixed !== undefined) {
      const a = Buffer.from(fixed.config.password);
      const b = Buffer.from(password);
      if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
      if (fixed.config.loopbackOnly && !fromLoopback) return undefined;
      return fixed.config;
    }
    const user = this.managed.get(username);
    if (user === undefined || !passwordMatches(user.hash, user.algorithm, password)) return undefined;
    if (user.identity.loopbackOnly && !fromLoopback) return undefined;
    return user.identity;
  }

  /**
   * A user's SCRAM credential for `mechanism` and who it authenticates as, or undefined when there is no
   * such user, it has no credential for the mechanism, or it may not connect from there. The proof is
   * checked by the caller (protocol/kafka/sasl.ts).
   */
  scramCredential(username: string, mechanism: ScramMechanism, fromLoopback: boolean): { credential: ScramCredential; identity: UserConfig } | undefined {
    const fixed = this.configUsers.get(username);
    const identity = fixed?.config ?? this.managed.get(username)?.identity;
    const credential = fixed?.scram[mechanism] ?? this.managed.get(username)?.scram[mechanism];
    if (identity === undefined || credential === undefined) return undefined;
    if (identity.loopbackOnly && !fromLoopback) return undefined;
    return { credential, identity };
  }

  // ---------------------------------------------------------------- users

  isFromConfig(name: string): boolean {
    return this.configUsers.has(name);
  }

  get(name: string): UserView | undefined {
    const fixed = this.configUsers.get(name);
    if (fixed !== undefined)
      return { name, tags: fixed.config.tags, passwordHash: fixed.hash, hashingAlgorithm: HASHING_SHA256, fromConfig: true, scram: fixed.scram };
    const user = this.managed.get(name);
    if (user === undefined) return undefined;
    return { name, tags: user.tags, passwordHash: user.hash, hashingAlgorithm: user.algorithm, fromConfig: false, scram: user.scram };
  }

  list(): UserView[] {
    const names = [...this.configUsers.keys(), ...this.managed.keys()];
    return names.map((n) => this.get(n)!);
  }

  /** the identity authentication would return for a user (no password check), or undefined */
  identity(name: string): UserConfig | undefined {
    return this.configUsers.get(name)?.config ?? this.managed.get(name)?.identity;
  }

  /** Create or replace a managed user; returns true when it is new. */
  put(name: string, input: UserInput): boolean {
    if (this.configUsers.has(name)) throw brokerError(Errors.PRECONDITION_FAILED, `user '${name}' is defined in the config file`);
    if (name === '' || Buffer.byteLength(name) > MAX_USER_NAME_BYTES)
      throw brokerError(Errors.PRECONDITION_FAILED, `user name must be 1..${MAX_USER_NAME_BYTES} bytes`);
    const existing = this.managed.get(name);
    let hash: string;
    let algorithm = input.hashingAlgorithm ?? HASHING_SHA256;
    // a new password brings new SCRAM credentials; a ready hash only those given with it (none from RabbitMQ)
    let scram: Partial<ScramCredentials> = {};
    if (DIGESTS[algorithm] === undefined) throw brokerError(Errors.PRECONDITION_FAILED, `unknown hashing algorithm '${algorithm}'`);
    if (algorithm === HASHING_MD5 && (input.password !== undefined || input.passwordHash !== undefined) && this.options.allowMd5 !== true && !this.restoring) {
      throw brokerError(
        Errors.PRECONDITION_FAILED,
        `user '${name}': password hashes of ${HASHING_MD5} are refused (MD5 is fast to crack); set a password to store it as ${HASHING_SHA256}, or start the broker with ${ALLOW_MD5_FLAG}`,
      );
    }
    if (input.password !== undefined) {
      hash = hashPassword(input.password, algorithm);
      scram = scramCredentials(input.password);
    } else if (input.passwordHash !== undefined) {
      hash = input.passwordHash;
      scram = input.scram ?? {};
    } else if (existing !== undefined) {
      hash = existing.hash;
      algorithm = existing.algorithm;
      scram = existing.scram;
    } else throw brokerError(Errors.PRECONDITION_FAILED, 'a new user needs a password or a password_hash');
    if (hash !== '' && Buffer.from(hash, 'base64').length <= SALT_BYTES)
      throw brokerError(Errors.PRECONDITION_FAILED, 'password_hash is not a salted hash (base64)');
    const user: ManagedUser = { name, hash, algorithm, tags: Object.freeze([...input.tags]), scram, identity: EMPTY_IDENTITY };
    this.managed.set(name, user);
    this.rebuildIdentity(user);
    return existing === undefined;
  }

  delete(name: string): void {
    if (this.configUsers.has(name)) throw brokerError(Errors.PRECONDITION_FAILED, `user '${name}' is defined in the config file`);
    if (!this.managed.delete(name)) throw brokerError(Errors.NOT_FOUND, `no user '${name}'`);
    this.grants.delete(name);
    this.rebuildAccess(name);
  }

  // ---------------------------------------------------------------- permissions

  /** What `user` may do with the resources of `vhost`: full for config users allowed there. */
  access(user: string, vhost: string): ResourceAccess {
    const fixed = this.configUsers.get(user);
    if (fixed !== undefined) return fixed.config.vhosts.includes('*') || fixed.config.vhosts.includes(vhost) ? FULL_ACCESS : NO_ACCESS;
    return this.compiled.get(user)?.get(vhost) ?? NO_ACCESS;
  }

  /** Every permission: config users' (expanded over the vhosts that exist) and managed users'. */
  permissions(): PermissionDefinition[] {
    const out: PermissionDefinition[] = [];
    const vhosts = [...this.vhostNames()];
    for (const { config } of this.configUsers.values()) {
      for (const vhost of vhosts) {
        if (config.vhosts.includes('*') || config.vhosts.includes(vhost)) {
          out.push({ user: config.name, vhost, configure: FULL_PERMISSION, write: FULL_PERMISSION, read: FULL_PERMISSION });
        }
      }
    }
    for (const byVhost of this.grants.values()) for (const p of byVhost.values()) if (vhosts.includes(p.vhost)) out.push(p);
    return out;
  }

  /** Grant a managed user access to a vhost with RabbitMQ's three expressions; true when new. */
  setPermission(p: PermissionDefinition): boolean {
    if (this.configUsers.has(p.user)) throw brokerError(Errors.PRECONDITION_FAILED, `user '${p.user}' is defined in the config file`);
    const user = this.managed.get(p.user);
    if (user === undefined) throw brokerError(Errors.NOT_FOUND, `no user '${p.user}'`);
    for (const key of ['configure', 'write', 'read'] as const) {
      try {
        new LinearRegex(p[key]);
      } catch (err) {
        throw brokerError(Errors.PRECONDITION_FAILED, `permission '${key}' is not a supported regular expression (${(err as Error).message}): ${p[key]}`);
      }
    }
    let byVhost = this.grants.get(p.user);
    if (byVhost === undefined) this.grants.set(p.user, (byVhost = new Map()));
    const created = !byVhost.has(p.vhost);
    byVhost.set(p.vhost, { user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read });
    this.rebuildIdentity(user);
    this.rebuildAccess(p.user);
    return created;
  }

  clearPermission(user: string, vhost: string): void {
    if (this.configUsers.has(user)) throw brokerError(Errors.PRECONDITION_FAILED, `user '${user}' is defined in the config file`);
    const byVhost = this.grants.get(user);
    if (byVhost === undefined || !byVhost.delete(vhost)) throw brokerError(Errors.NOT_FOUND, `no permissions for user '${user}' in vhost '${vhost}'`);
    this.rebuildIdentity(this.managed.get(user)!);
    this.rebuildAccess(user);
  }

  /** a vhost was deleted: managed users' permissions in it go */
  vhostDeleted(vhost: string): void {
    for (const [name, byVhost] of this.grants) {
      if (byVhost.delete(vhost)) {
        this.rebuildIdentity(this.managed.get(name)!);
        this.rebuildAccess(name);
      }
    }
  }

  // ---------------------------------------------------------------- persistence

  /** managed users and their permissions, for the definitions file */
  managedDefinitions(): { users: UserDefinition[]; permissions: PermissionDefinition[] } {
    const users: UserDefinition[] = [];
    for (const u of this.managed.values()) {
      const scram = scramToDefinition(u.scram);
      users.push({
        name: u.name,
        password_hash: u.hash,
        hashing_algorithm: u.algorithm,
        tags: u.tags,
        ...(Object.keys(scram).length > 0 ? { postbox_scram_credentials: scram } : {}),
      });
    }
    const permissions: PermissionDefinition[] = [];
    for (const byVhost of this.grants.values()) permissions.push(...byVhost.values());
    return { users, permissions };
  }

  /** restore managed users at startup (a name now in the config file stays a config user) */
  restore(users: readonly UserDefinition[], permissions: readonly PermissionDefinition[]): void {
    this.restoring = true;
    try {
      for (const u of users) {
        if (this.configUsers.has(u.name)) continue;
        let scram: Partial<ScramCredentials> = {};
        try {
          scram = scramFromDefinition(u.postbox_scram_credentials);
        } catch {
          // a damaged credential costs only SCRAM logins: PLAIN still works, and setting the password mends it
        }
        this.put(u.name, { passwordHash: u.password_hash, hashingAlgorithm: u.hashing_algorithm, tags: u.tags, scram });
        if (u.hashing_algorithm === HASHING_MD5 && !this.md5Restored.includes(u.name)) this.md5Restored.push(u.name);
      }
    } finally {
      this.restoring = false;
    }
    // one permission that no longer compiles (a regex outside the supported subset) costs only itself
    const refused: string[] = [];
    for (const p of permissions) {
      if (!this.managed.has(p.user)) continue;
      try {
        this.setPermission(p);
      } catch (err) {
        refused.push(`user '${p.user}' vhost '${p.vhost}': ${(err as Error).message}`);
      }
    }
    if (refused.length > 0) throw new Error(`permissions not restored: ${refused.join('; ')}`);
  }

  /** Replaces every managed user and permission with `users` and `permissions` (undoing a change that could not be recorded). */
  resetManaged(users: readonly UserDefinition[], permissions: readonly PermissionDefinition[]): void {
    for (const name of [...this.managed.keys()]) this.delete(name);
    this.restore(users, permissions);
  }

  private rebuildAccess(user: string): void {
    this.generation++;
    const byVhost = this.grants.get(user);
    if (byVhost === undefined) {
      this.compiled.delete(user);
      return;
    }
    const access = new Map<string, ResourceAccess>();
    for (const [vhost, p] of byVhost) access.set(vhost, new ResourceAccess(p.configure, p.write, p.read));
    this.compiled.set(user, access);
  }

  private rebuildIdentity(user: ManagedUser): void {
    const vhosts = [...(this.grants.get(user.name)?.keys() ?? [])];
    user.identity = Object.freeze({
      name: user.name,
      password: '',
      vhosts: Object.freeze(vhosts),
      // RabbitMQ's loopback_users default: a user named guest may only connect from loopback
      loopbackOnly: user.name === 'guest',
      tags: user.tags,
    });
  }
}

const EMPTY_IDENTITY: UserConfig = Object.freeze({ name: '', password: '', vhosts: Object.freeze([]), loopbackOnly: true, tags: Object.freeze([]) });
