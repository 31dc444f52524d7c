import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { closeSync, fchmodSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { AuthConfigError } from "./errors.ts";
import { allowEverything, isPolicyName, parsePolicy, UNAUTHENTICATED_POLICY, type Policy } from "./policy.ts";
import { generateToken, readAuthorization } from "./token.ts";

export const STATE_FORMAT = "strongroom-auth-state";
export const STATE_VERSION = 1;
export const MIN_SERVER_SECRET_BYTES = 32;
const MAX_STATE_BYTES = 64 * 1024 * 1024;
const SECRET_CHECK_INPUT = "strongroom auth state secret check v1";
export const BOOTSTRAP_POLICY = "admin";
export const BOOTSTRAP_TOKEN_NAME = "bootstrap-admin";

/** What listTokens shows of a token: never its secret nor its HMAC. */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  readonly policies: readonly string[];
  readonly createdAt: Date;
  readonly expiresAt?: Date;
}

export interface CreatedToken {
  readonly id: string;
  /** The plaintext token's ASCII bytes. It exists nowhere else: show it once, never log it, then zero it. */
  readonly token: Buffer;
}

/** Why credentials were refused, as counted in metrics. */
export type InvalidCredentials = "malformed" | "unknown" | "expired" | "policy_gone";

export type Authentication =
  | { readonly kind: "ok"; readonly tokenId: string; readonly policies: readonly Policy[] }
  /** No credentials, and an `unauthenticated` policy is configured: evaluate with it. */
  | { readonly kind: "anonymous"; readonly policies: readonly Policy[] }
  /** No credentials and no `unauthenticated` policy: refuse (401). */
  | { readonly kind: "missing" }
  /** Credentials that are malformed, unknown, or expired (401). Reasons never quote the credentials. */
  | { readonly kind: "invalid"; readonly code: InvalidCredentials; readonly reason: string };

interface TokenRecord extends TokenInfo {
  readonly hmac: Buffer;
  readonly hmacHex: string;
}

export interface StoreOptions {
  /** The clock for createdAt and expiry checks at creation (tests). */
  readonly now?: () => Date;
  /**
   * The rules for requests without credentials (the `unauthenticated`
   * policy): a list of rules or `{ rules }`. Configuration only: never
   * stored, never managed through the API, so removing it from the
   * configuration turns it off.
   */
  readonly unauthenticated?: unknown;
  /**
   * The SHA-256 of an administrator token chosen by the operator, from the
   * enclave's measured configuration: in an enclave there is no terminal to
   * show a bootstrap token on, and nothing the parent relays may carry one.
   * A token of 256 random bits needs no slower hash. Like the
   * unauthenticated policy it is configuration, never stored.
   */
  readonly administratorSha256?: Uint8Array;
}

/** The id under which the configured administrator appears (it cannot be revoked through the API). */
export const CONFIGURED_ADMINISTRATOR_ID = "tok_configured_admin";

const TOKEN_ID = /^tok_[0-9a-f]{16}$/;
const HMAC_HEX = /^[0-9a-f]{64}$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

function checkTokenName(name: unknown, where: string): string {
  if (typeof name !== "string" || name.length === 0 || name.length > 128 || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new AuthConfigError(`${where}: a token name is 1 to 128 characters without control characters`);
  }
  return name;
}

function parseDate(value: unknown, where: string): Date {
  if (typeof value !== "string" || !ISO_DATE.test(value) || Number.isNaN(Date.parse(value))) {
    throw new AuthConfigError(`${where}: not an ISO-8601 UTC timestamp`);
  }
  return new Date(value);
}

/** A stored policy: any name but `unauthenticated`, which only the configuration sets. */
function parseStoredPolicy(json: unknown, where: string): Policy {
  const policy = parsePolicy(json, where);
  if (policy.name === UNAUTHENTICATED_POLICY) {
    throw new AuthConfigError(`${where}: the "${UNAUTHENTICATED_POLICY}" policy is set only by configuration (--auth-unauthenticated-policy), never stored`);
  }
  return policy;
}

function parseUnauthenticated(json: unknown): Policy {
  const rules = typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>)["rules"] : json;
  return parsePolicy({ name: UNAUTHENTICATED_POLICY, rules }, "the unauthenticated policy");
}

/** Writes data to path so that readers see the old file or the new one, never a part: temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", mode);
  try {
    fchmodSync(fd, mode);
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(temp);
    } catch {
      // renamed or never written
    }
    throw error;
  }
  let dirFd: number | undefined;
  try {
    dirFd = openSync(dir, "r");
    fsyncSync(dirFd);
  } catch {
    // Not every platform can fsync a directory; the rename is still atomic.
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
}

/**
 * Tokens and policies, kept in memory and persisted to a state file that
 * holds only HMAC-SHA256(server secret, token) of each token. All changes are
 * synchronous and written before they return (management is rare; the
 * signing hot path — authenticate — never touches the disk).
 */
export class TokenStore {
  readonly #path: string;
  readonly #key: KeyObject;
  readonly #secretCheck: string;
  readonly #now: () => Date;
  readonly #policies = new Map<string, Policy>();
  readonly #byHmac = new Map<string, TokenRecord>();
  readonly #byId = new Map<string, TokenRecord>();
  readonly #anonymous: readonly Policy[] | undefined;
  readonly #administrator: { readonly sha256: Buffer; readonly policies: readonly Policy[] } | undefined;
  #bootstrapped = false;

  private constructor(path: string, key: KeyObject, options: StoreOptions) {
    this.#path = path;
    this.#key = key;
    this.#now = options.now ?? (() => new Date());
    this.#anonymous = options.unauthenticated === undefined ? undefined : [parseUnauthenticated(options.unauthenticated)];
    if (options.administratorSha256 !== undefined && options.administratorSha256.length !== 32) throw new AuthConfigError("the administrator token's SHA-256 must be 32 bytes");
    this.#administrator = options.administratorSha256 && { sha256: Buffer.from(options.administratorSha256), policies: [allowEverything(BOOTSTRAP_POLICY)] };
    this.#secretCheck = createHmac("sha256", key).update(SECRET_CHECK_INPUT).digest("hex");
  }

  /**
   * Loads the state file, or creates an empty one (mode 0600) when there is
   * none. The server secret (at least 32 bytes) is copied into a KeyObject;
   * the caller keeps and zeroes its own copy. Throws AuthConfigError naming
   * the problem when the file is unusable.
   */
  static open(statePath: string, serverSecret: Uint8Array, options: StoreOptions = {}): TokenStore {
    if (!(serverSecret instanceof Uint8Array) || serverSecret.length < MIN_SERVER_SECRET_BYTES) {
      throw new AuthConfigError(`the server secret must be at least ${MIN_SERVER_SECRET_BYTES} bytes`);
    }
    const store = new TokenStore(statePath, createSecretKey(serverSecret), options);
    let stat;
    try {
      stat = lstatSync(statePath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (stat === undefined) {
      store.#persist();
      return store;
    }
    const where = `auth state file ${statePath}`;
    if (!stat.isFile()) throw new AuthConfigError(`${where}: not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new AuthConfigError(`${where}: readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8)}); it must be 0600`);
    }
    if (stat.size > MAX_STATE_BYTES) throw new AuthConfigError(`${where}: larger than ${MAX_STATE_BYTES} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(statePath, "utf8"));
    } catch (error) {
      throw new AuthConfigError(`${where}: not valid JSON (${(error as Error).message})`);
    }
    store.#load(json, where);
    return store;
  }

  #load(json: unknown, where: string): void {
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new AuthConfigError(`${where}: not a JSON object`);
    const state = json as Record<string, unknown>;
    if (state["format"] !== STATE_FORMAT) throw new AuthConfigError(`${where}: format is not "${STATE_FORMAT}"`);
    if (state["version"] !== STATE_VERSION) throw new AuthConfigError(`${where}: version ${String(state["version"]).slice(0, 20)} is not supported (expected ${STATE_VERSION})`);
    const check = state["secretCheck"];
    if (typeof check !== "string" || !HMAC_HEX.test(check)) throw new AuthConfigError(`${where}: secretCheck is missing or not 64 hex digits`);
    if (!timingSafeEqual(Buffer.from(check, "hex"), Buffer.from(this.#secretCheck, "hex"))) {
      throw new AuthConfigError(`${where}: written with a different server secret; no token in it would be accepted`);
    }
    if (typeof state["bootstrapped"] !== "boolean") throw new AuthConfigError(`${where}: bootstrapped must be true or false`);
    this.#bootstrapped = state["bootstrapped"];

    const policies = state["policies"];
    if (!Array.isArray(policies)) throw new AuthConfigError(`${where}: policies must be a list`);
    policies.forEach((raw, i) => {
      const policy = parseStoredPolicy(raw, `${where}: policies[${i}]`);
      if (this.#policies.has(policy.name)) throw new AuthConfigError(`${where}: policies[${i}]: a second policy named "${policy.name}"`);
      this.#policies.set(policy.name, policy);
    });

    const tokens = state["tokens"];
    if (!Array.isArray(tokens)) throw new AuthConfigError(`${where}: tokens must be a list`);
    tokens.forEach((raw, i) => {
      const at = `${where}: tokens[${i}]`;
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new AuthConfigError(`${at}: not an object`);
      const t = raw as Record<string, unknown>;
      for (const field of Object.keys(t)) {
        if (!["id", "name", "hmac", "policies", "createdAt", "expiresAt"].includes(field)) {
          throw new AuthConfigError(`${at}: unknown field ${JSON.stringify(field.slice(0, 40))}`);
        }
      }
      const id = t["id"];
      if (typeof id !== "string" || !TOKEN_ID.test(id)) throw new AuthConfigError(`${at}.id: not a token id (tok_ and 16 hex digits)`);
      if (this.#byId.has(id)) throw new AuthConfigError(`${at}.id: a second token with id ${id}`);
      const hmac = t["hmac"];
      if (typeof hmac !== "string" || !HMAC_HEX.test(hmac)) throw new AuthConfigError(`${at}.hmac: not 64 lower-case hex digits`);
      if (this.#byHmac.has(hmac)) throw new AuthConfigError(`${at}.hmac: the same as that of token ${this.#byHmac.get(hmac)!.id}`);
      const names = this.#checkPolicyNames(t["policies"], `${at}.policies`);
      const record: TokenRecord = {
        id,
        name: checkTokenName(t["name"], `${at}.name`),
        policies: names,
        createdAt: parseDate(t["createdAt"], `${at}.createdAt`),
        ...(t["expiresAt"] === undefined ? {} : { expiresAt: parseDate(t["expiresAt"], `${at}.expiresAt`) }),
        hmac: Buffer.from(hmac, "hex"),
        hmacHex: hmac,
      };
      this.#byId.set(id, record);
      this.#byHmac.set(hmac, record);
    });
    for (const field of Object.keys(state)) {
      if (!["format", "version", "secretCheck", "bootstrapped", "policies", "tokens"].includes(field)) {
        throw new AuthConfigError(`${where}: unknown field ${JSON.stringify(field.slice(0, 40))}`);
      }
    }
  }

  #checkPolicyNames(value: unknown, where: string): readonly string[] {
    if (!Array.isArray(value) || value.length === 0) throw new AuthConfigError(`${where}: a token needs a non-empty list of policy names`);
    for (const name of value) {
      if (!isPolicyName(name)) throw new AuthConfigError(`${where}: ${JSON.stringify(String(name).slice(0, 80))} is not a policy name`);
      if (!this.#policies.has(name)) throw new AuthConfigError(`${where}: no policy named "${name}"`);
    }
    return Object.freeze([...new Set(value as string[])]);
  }

  #mac(token: Uint8Array): Buffer {
    return createHmac("sha256", this.#key).update(token).digest();
  }

  #persist(): void {
    const state = {
      format: STATE_FORMAT,
      version: STATE_VERSION,
      secretCheck: this.#secretCheck,
      bootstrapped: this.#bootstrapped,
      policies: [...this.#policies.values()],
      tokens: [...this.#byId.values()].map((t) => ({
        id: t.id,
        name: t.name,
        hmac: t.hmacHex,
        policies: t.policies,
        createdAt: t.createdAt.toISOString(),
        ...(t.expiresAt === undefined ? {} : { expiresAt: t.expiresAt.toISOString() }),
      })),
    };
    writeFileAtomic(this.#path, `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Applies a change in memory, persists it, and undoes the change if persisting fails. */
  #change(apply: () => void, undo: () => void): void {
    apply();
    try {
      this.#persist();
    } catch (error) {
      undo();
      throw error;
    }
  }

  /**
   * Creates a token carrying the named policies (which must exist), with an
   * optional expiry in the future. The plaintext is returned here and only here.
   */
  createToken(name: string, policies: readonly string[], expiresAt?: Date): CreatedToken {
    const { record, token } = this.#mint(name, this.#checkPolicyNames(policies, "token policies"), expiresAt);
    try {
      this.#change(
        () => this.#insert(record),
        () => this.#remove(record),
      );
    } catch (error) {
      token.fill(0);
      throw error;
    }
    return { id: record.id, token };
  }

  /** A new token and its record, not yet stored. */
  #mint(name: string, policies: readonly string[], expiresAt: Date | undefined): { record: TokenRecord; token: Buffer } {
    checkTokenName(name, "token name");
    const createdAt = new Date(this.#now().getTime());
    if (expiresAt !== undefined) {
      if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()) || expiresAt.getUTCFullYear() > 9999) {
        throw new AuthConfigError("token expiry: not a valid date");
      }
      if (expiresAt.getTime() <= createdAt.getTime()) throw new AuthConfigError("token expiry: already past");
    }
    const token = generateToken();
    const hmac = this.#mac(token);
    let id: string;
    do id = `tok_${randomBytes(8).toString("hex")}`;
    while (this.#byId.has(id));
    const record: TokenRecord = {
      id,
      name,
      policies,
      createdAt,
      ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt.getTime()) }),
      hmac,
      hmacHex: hmac.toString("hex"),
    };
    return { record, token };
  }

  #insert(record: TokenRecord): void {
    this.#byId.set(record.id, record);
    this.#byHmac.set(record.hmacHex, record);
  }

  #remove(record: TokenRecord): void {
    this.#byId.delete(record.id);
    this.#byHmac.delete(record.hmacHex);
  }

  listTokens(): TokenInfo[] {
    return [...this.#byId.values()].map((t) => ({
      id: t.id,
      name: t.name,
      policies: [...t.policies],
      createdAt: new Date(t.createdAt.getTime()),
      ...(t.expiresAt === undefined ? {} : { expiresAt: new Date(t.expiresAt.getTime()) }),
    }));
  }

  /**
   * Revokes a token at once: it is refused from this call on, even if
   * persisting then fails (the error is thrown, the revocation stays).
   * Returns false when there is no such token.
   */
  revokeToken(id: string): boolean {
    const record = this.#byId.get(id);
    if (record === undefined) return false;
    this.#remove(record);
    this.#persist();
    return true;
  }

  /** Adds or replaces a policy (validated first). Tokens using it see the change at once. */
  putPolicy(json: unknown): Policy {
    const policy = parseStoredPolicy(json, "policy");
    const previous = this.#policies.get(policy.name);
    this.#change(
      () => this.#policies.set(policy.name, policy),
      () => (previous === undefined ? this.#policies.delete(policy.name) : this.#policies.set(policy.name, previous)),
    );
    return policy;
  }

  /**
   * Deletes a policy no token uses; returns false when there is none of that
   * name. A policy in use is refused (AuthConfigError naming the tokens), so
   * no token ever silently loses or changes its grants.
   */
  deletePolicy(name: string): boolean {
    const policy = this.#policies.get(name);
    if (policy === undefined) return false;
    const users = [...this.#byId.values()].filter((t) => t.policies.includes(name)).map((t) => t.id);
    if (users.length > 0) {
      throw new AuthConfigError(`policy "${name}" is used by token${users.length === 1 ? "" : "s"} ${users.join(", ")}; revoke them first`);
    }
    this.#change(
      () => this.#policies.delete(name),
      () => this.#policies.set(name, policy),
    );
    return true;
  }

  listPolicies(): Policy[] {
    return [...this.#policies.values()];
  }

  getPolicy(name: string): Policy | undefined {
    return this.#policies.get(name);
  }

  /**
   * On a state that has never been bootstrapped and holds no tokens and no
   * policies, creates the `admin` policy (everything, `manage` included) and
   * a token carrying it, and returns the token's plaintext: print it to the
   * operator's terminal once, never log it. Otherwise returns undefined — a
   * state emptied later (all tokens revoked) is not bootstrapped again.
   */
  bootstrapIfEmpty(): CreatedToken | undefined {
    if (this.#bootstrapped || this.#byId.size > 0 || this.#policies.size > 0) return undefined;
    const admin = allowEverything(BOOTSTRAP_POLICY);
    const { record, token } = this.#mint(BOOTSTRAP_TOKEN_NAME, [admin.name], undefined);
    // One write: the policy, the token and the flag land together or not at all.
    this.#change(
      () => {
        this.#policies.set(admin.name, admin);
        this.#insert(record);
        this.#bootstrapped = true;
      },
      () => {
        this.#policies.delete(admin.name);
        this.#remove(record);
        this.#bootstrapped = false;
      },
    );
    return { id: record.id, token };
  }

  /**
   * Authenticates the Authorization header of a request. Cheap: one HMAC,
   * one Map lookup by HMAC hex (not secret), one constant-time comparison.
   * Missing credentials yield the `unauthenticated` policy when it exists;
   * wrong credentials never fall back to it.
   */
  authenticate(authorizationHeader: string | undefined, now: Date = new Date()): Authentication {
    const parsed = readAuthorization(authorizationHeader);
    if (parsed.kind === "missing") return this.#anonymous === undefined ? { kind: "missing" } : { kind: "anonymous", policies: this.#anonymous };
    if (parsed.kind === "malformed") return { kind: "invalid", code: "malformed", reason: parsed.reason };
    const mac = this.#mac(parsed.token);
    const administrator = this.#administrator !== undefined && timingSafeEqual(createHash("sha256").update(parsed.token).digest(), this.#administrator.sha256);
    parsed.token.fill(0);
    if (administrator) return { kind: "ok", tokenId: CONFIGURED_ADMINISTRATOR_ID, policies: this.#administrator!.policies };
    const record = this.#byHmac.get(mac.toString("hex"));
    if (record === undefined || !timingSafeEqual(record.hmac, mac)) return { kind: "invalid", code: "unknown", reason: "unknown token" };
    return this.#current(record, now);
  }

  /**
   * Authenticates again a token that authenticate() accepted earlier on the
   * same connection, by its id: it may have been revoked, expired or lost a
   * policy since, and its policies may have changed.
   */
  reauthenticate(tokenId: string, now: Date = new Date()): Authentication {
    if (tokenId === CONFIGURED_ADMINISTRATOR_ID && this.#administrator !== undefined) return { kind: "ok", tokenId, policies: this.#administrator.policies };
    const record = this.#byId.get(tokenId);
    return record === undefined ? { kind: "invalid", code: "unknown", reason: "unknown token" } : this.#current(record, now);
  }

  #current(record: TokenRecord, now: Date): Authentication {
    if (record.expiresAt !== undefined && now.getTime() >= record.expiresAt.getTime()) return { kind: "invalid", code: "expired", reason: "token expired" };
    const policies: Policy[] = [];
    for (const name of record.policies) {
      const policy = this.#policies.get(name);
      if (policy === undefined) return { kind: "invalid", code: "policy_gone", reason: `the token's policy "${name}" no longer exists` };
      policies.push(policy);
    }
    return { kind: "ok", tokenId: record.id, policies };
  }
}
