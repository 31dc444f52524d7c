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
export type InvalidCredentials = "malformed" | "unknown" | "expired" | "policy_gone" | "unavailable";

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

/** The persisted form of the tokens and policies (the state file's JSON, or the body of the shared state). */
export interface AuthStateDocument {
  readonly format: typeof STATE_FORMAT;
  readonly version: typeof STATE_VERSION;
  readonly secretCheck: string;
  readonly bootstrapped: boolean;
  readonly policies: readonly Policy[];
  readonly tokens: readonly { id: string; name: string; hmac: string; policies: readonly string[]; createdAt: string; expiresAt?: string }[];
}

/**
 * Where a store keeps its state. `save` writes a document in place of the
 * one last loaded or saved, and answers false when another writer changed
 * it since; the store then loads the current one and applies its change
 * again. A backend with one writer (a file, memory) always answers true.
 */
export interface AuthStateBackend {
  /** The stored document (any JSON; the store checks it), or undefined when there is none yet. */
  load(): Promise<unknown>;
  save(document: AuthStateDocument): Promise<boolean>;
}

/** The tokens and policies cannot be used now (sealed with the vault): requests with tokens get 401, management 503. */
export class AuthUnavailableError extends Error {
  override name = "AuthUnavailableError";
}

/** The state file as a backend: written atomically, one writer. */
function fileBackend(path: string): AuthStateBackend {
  return {
    load: () => Promise.resolve(readStateFile(path)),
    save: (document) => {
      writeStateFile(path, document);
      return Promise.resolve(true);
    },
  };
}

function writeStateFile(path: string, document: AuthStateDocument): void {
  writeFileAtomic(path, `${JSON.stringify(document, null, 2)}\n`);
}

/** Memory only: an enclave without a vault has nowhere to keep tokens; they last until it stops. */
const MEMORY_BACKEND: AuthStateBackend = { load: () => Promise.resolve(undefined), save: () => Promise.resolve(true) };

/** The state file's JSON, or undefined when there is no file. Throws AuthConfigError when it is unusable. */
function readStateFile(statePath: string): unknown {
  let stat;
  try {
    stat = lstatSync(statePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const where = `auth state file ${statePath}`;
  if (!stat.isFile()) throw new AuthConfigError(`${where}: not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    throw new AuthConfigError(`${where}: readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8)}); it must be 0600`);
  }
  if (stat.size > MAX_STATE_BYTES) throw new AuthConfigError(`${where}: larger than ${MAX_STATE_BYTES} bytes`);
  try {
    return JSON.parse(readFileSync(statePath, "utf8"));
  } catch (error) {
    throw new AuthConfigError(`${where}: not valid JSON (${(error as Error).message})`);
  }
}

/** Tokens and policies in memory, indexed for authentication. */
interface AuthState {
  bootstrapped: boolean;
  readonly policies: Map<string, Policy>;
  readonly byHmac: Map<string, TokenRecord>;
  readonly byId: Map<string, TokenRecord>;
}

const emptyState = (): AuthState => ({ bootstrapped: false, policies: new Map(), byHmac: new Map(), byId: new Map() });

/** What a store needs to hold tokens: the HMAC key and where the state lives. */
interface Attachment {
  readonly key: KeyObject;
  readonly secretCheck: string;
  readonly backend: AuthStateBackend;
  readonly where: string;
}

/**
 * Tokens and policies, kept in memory and persisted through a backend (a
 * state file, memory, or the vault's shared state) that holds only
 * HMAC-SHA256(server secret, token) of each token. Changes are written
 * before they return, one at a time (management is rare; the signing hot
 * path — authenticate — never waits on storage).
 *
 * A store may be detached: it has no server secret and no tokens, and only
 * the configured administrator and the unauthenticated policy work. An
 * enclave's store is detached while its vault is sealed.
 */
export class TokenStore {
  readonly #now: () => Date;
  readonly #anonymous: readonly Policy[] | undefined;
  readonly #administrator: { readonly sha256: Buffer; readonly policies: readonly Policy[] } | undefined;
  #attachment: Attachment | undefined;
  #detachedBecause: string;
  #state: AuthState = emptyState();
  /** Changes and reloads run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: StoreOptions, detachedBecause: string) {
    this.#now = options.now ?? (() => new Date());
    this.#anonymous = options.unauthenticated === undefined ? undefined : [parseUnauthenticated(options.unauthenticated)];
    if (options.administratorSha256 !== undefined && options.administratorSha256.length !== 32) throw new AuthConfigError("the administrator token's SHA-256 must be 32 bytes");
    this.#administrator = options.administratorSha256 && { sha256: Buffer.from(options.administratorSha256), policies: [allowEverything(BOOTSTRAP_POLICY)] };
    this.#detachedBecause = detachedBecause;
  }

  /**
   * Loads the state file, or creates an empty one (mode 0600) when there is
   * none. The server secret (at least 32 bytes) is copied into a KeyObject;
   * the caller keeps and zeroes its own copy. Throws AuthConfigError naming
   * the problem when the file is unusable.
   */
  static open(statePath: string, serverSecret: Uint8Array, options: StoreOptions = {}): TokenStore {
    const store = new TokenStore(options, "");
    const attachment = attachmentOf(serverSecret, fileBackend(statePath), `auth state file ${statePath}`);
    const json = readStateFile(statePath);
    if (json === undefined) writeStateFile(statePath, documentOf(emptyState(), attachment.secretCheck));
    else store.#state = parseState(json, attachment);
    store.#attachment = attachment;
    return store;
  }

  /** A store kept in memory only (an enclave without a vault): tokens last until the process stops. */
  static inMemory(serverSecret: Uint8Array, options: StoreOptions = {}): TokenStore {
    const store = new TokenStore(options, "");
    store.#attachment = attachmentOf(serverSecret, MEMORY_BACKEND, "the in-memory auth state");
    return store;
  }

  /** A detached store (see the class comment), for example until a vault is unsealed. */
  static detached(reason: string, options: StoreOptions = {}): TokenStore {
    return new TokenStore(options, reason);
  }

  /**
   * Attaches a detached store to a backend: loads the stored tokens and
   * policies (or starts empty when there are none) under `serverSecret`.
   * The store stays detached if loading fails (the error is thrown).
   */
  attach(serverSecret: Uint8Array, backend: AuthStateBackend, where: string): Promise<void> {
    const attachment = attachmentOf(serverSecret, backend, where);
    return this.#serially(async () => {
      this.#state = await loadState(attachment);
      this.#attachment = attachment;
    });
  }

  /** Forgets every token and policy and the server secret at once; only configuration keeps working. */
  detach(reason: string): void {
    this.#attachment = undefined;
    this.#detachedBecause = reason;
    this.#state = emptyState();
  }

  /** Whether tokens can be used now, and why not. */
  availability(): { readonly attached: true } | { readonly attached: false; readonly reason: string } {
    return this.#attachment === undefined ? { attached: false, reason: this.#detachedBecause } : { attached: true };
  }

  /**
   * Loads the stored state again (another instance may have changed it).
   * When the backend refuses what it finds, the state in memory stays and
   * the error is thrown.
   */
  reload(): Promise<void> {
    return this.#serially(async () => {
      const attachment = this.#attachment;
      if (attachment === undefined) return;
      const state = await loadState(attachment);
      if (this.#attachment === attachment) this.#state = state;
    });
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #attached(): Attachment {
    if (this.#attachment === undefined) throw new AuthUnavailableError(`tokens and policies are not available: ${this.#detachedBecause}`);
    return this.#attachment;
  }

  /**
   * Applies a change to a copy of the state, saves it, and only then makes
   * it current. When another writer got there first, the change is applied
   * again to what it wrote (the change re-checks everything it depends on).
   */
  #commit<T>(change: (state: AuthState) => T): Promise<T> {
    return this.#serially(async () => {
      for (let attempt = 1; ; attempt++) {
        const attachment = this.#attached();
        const next = copyState(this.#state);
        const result = change(next);
        if (await attachment.backend.save(documentOf(next, attachment.secretCheck))) {
          if (this.#attachment === attachment) this.#state = next;
          return result;
        }
        if (attempt === MAX_SAVE_ATTEMPTS) throw new Error(`${attachment.where} kept changing under this change (${attempt} attempts); try again`);
        const state = await loadState(attachment);
        if (this.#attachment === attachment) this.#state = state;
      }
    });
  }

  /**
   * Creates a token carrying the named policies (which must exist), with an
   * optional expiry in the future. The plaintext is returned here and only here.
   */
  async createToken(name: string, policies: readonly string[], expiresAt?: Date): Promise<CreatedToken> {
    const key = this.#attached().key;
    const { record, token } = this.#mint(key, name, checkPolicyNames(this.#state, policies, "token policies"), expiresAt);
    try {
      await this.#commit((state) => {
        checkPolicyNames(state, policies, "token policies");
        if (state.byId.has(record.id)) throw new Error("token id collision; try again");
        insert(state, record);
      });
    } catch (error) {
      token.fill(0);
      throw error;
    }
    return { id: record.id, token };
  }

  /** A new token and its record, not yet stored; `policies` are names the caller checked. */
  #mint(key: KeyObject, name: string, policies: readonly string[], expiresAt: Date | undefined): { record: TokenRecord; token: Buffer } {
    checkTokenName(name, "token name");
    const createdAt = new Date(this.#now().getTime());
    if (expiresAt !== undefined) {
      if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()) || expiresAt.getUTCFullYear() > 9999) {
        throw new AuthConfigError("token expiry: not a valid date");
      }
      if (expiresAt.getTime() <= createdAt.getTime()) throw new AuthConfigError("token expiry: already past");
    }
    const token = generateToken();
    const hmac = mac(key, token);
    const record: TokenRecord = {
      id: `tok_${randomBytes(8).toString("hex")}`,
      name,
      policies,
      createdAt,
      ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt.getTime()) }),
      hmac,
      hmacHex: hmac.toString("hex"),
    };
    return { record, token };
  }

  listTokens(): TokenInfo[] {
    this.#attached();
    return [...this.#state.byId.values()].map((t) => ({
      id: t.id,
      name: t.name,
      policies: [...t.policies],
      createdAt: new Date(t.createdAt.getTime()),
      ...(t.expiresAt === undefined ? {} : { expiresAt: new Date(t.expiresAt.getTime()) }),
    }));
  }

  /**
   * Revokes a token at once: it is refused from this call on, even if
   * saving then fails (the error is thrown, the revocation stays in memory
   * until the state is loaded again). Returns false when there is no such token.
   */
  async revokeToken(id: string): Promise<boolean> {
    this.#attached();
    const record = this.#state.byId.get(id);
    if (record !== undefined) remove(this.#state, record);
    try {
      return await this.#commit((state) => {
        const stored = state.byId.get(id);
        if (stored === undefined) return record !== undefined;
        remove(state, stored);
        return true;
      });
    } catch (error) {
      if (record !== undefined) remove(this.#state, record);
      throw error;
    }
  }

  /** Adds or replaces a policy (validated first). Tokens using it see the change at once. */
  async putPolicy(json: unknown): Promise<Policy> {
    this.#attached();
    const policy = parseStoredPolicy(json, "policy");
    await this.#commit((state) => state.policies.set(policy.name, policy));
    return policy;
  }

  /**
   * Deletes a policy no token uses; returns false when there is none of that
   * name. A policy in use is refused (AuthConfigError naming the tokens), so
   * no token ever silently loses or changes its grants.
   */
  deletePolicy(name: string): Promise<boolean> {
    this.#attached();
    return this.#commit((state) => {
      if (!state.policies.has(name)) return false;
      const users = [...state.byId.values()].filter((t) => t.policies.includes(name)).map((t) => t.id);
      if (users.length > 0) {
        throw new AuthConfigError(`policy "${name}" is used by token${users.length === 1 ? "" : "s"} ${users.join(", ")}; revoke them first`);
      }
      state.policies.delete(name);
      return true;
    });
  }

  listPolicies(): Policy[] {
    this.#attached();
    return [...this.#state.policies.values()];
  }

  getPolicy(name: string): Policy | undefined {
    this.#attached();
    return this.#state.policies.get(name);
  }

  /**
   * On a state that has never been bootstrapped and holds no tokens and no
   * policies, creates the `admin` policy (everything, `manage` included) and
   * a token carrying it, and returns the token's plaintext: print it to the
   * operator's terminal once, never log it. Otherwise returns undefined — a
   * state emptied later (all tokens revoked) is not bootstrapped again.
   */
  async bootstrapIfEmpty(): Promise<CreatedToken | undefined> {
    const key = this.#attached().key;
    const fresh = (state: AuthState) => !state.bootstrapped && state.byId.size === 0 && state.policies.size === 0;
    if (!fresh(this.#state)) return undefined;
    const admin = allowEverything(BOOTSTRAP_POLICY);
    const { record, token } = this.#mint(key, BOOTSTRAP_TOKEN_NAME, [admin.name], undefined);
    // One write: the policy, the token and the flag land together or not at all.
    const created = await this.#commit((state) => {
      if (!fresh(state)) return false;
      state.policies.set(admin.name, admin);
      insert(state, record);
      state.bootstrapped = true;
      return true;
    }).catch((error: unknown) => {
      token.fill(0);
      throw error;
    });
    if (created) return { id: record.id, token };
    token.fill(0);
    return undefined;
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
    const administrator = this.#administrator !== undefined && timingSafeEqual(createHash("sha256").update(parsed.token).digest(), this.#administrator.sha256);
    const attachment = this.#attachment;
    const hmac = attachment === undefined ? undefined : mac(attachment.key, parsed.token);
    parsed.token.fill(0);
    if (administrator) return { kind: "ok", tokenId: CONFIGURED_ADMINISTRATOR_ID, policies: this.#administrator!.policies };
    if (hmac === undefined) return this.#unavailable();
    const record = this.#state.byHmac.get(hmac.toString("hex"));
    if (record === undefined || !timingSafeEqual(record.hmac, hmac)) return { kind: "invalid", code: "unknown", reason: "unknown token" };
    return this.#current(record, now);
  }

  /**
   * Authenticates again a token that authenticate() accepted earlier on the
   * same connection, by its id: it may have been revoked, expired or lost a
   * policy since, and its policies may have changed.
   */
  reauthenticate(tokenId: string, now: Date = new Date()): Authentication {
    if (tokenId === CONFIGURED_ADMINISTRATOR_ID && this.#administrator !== undefined) return { kind: "ok", tokenId, policies: this.#administrator.policies };
    if (this.#attachment === undefined) return this.#unavailable();
    const record = this.#state.byId.get(tokenId);
    return record === undefined ? { kind: "invalid", code: "unknown", reason: "unknown token" } : this.#current(record, now);
  }

  #unavailable(): Authentication {
    return { kind: "invalid", code: "unavailable", reason: `tokens cannot be checked now (${this.#detachedBecause})` };
  }

  #current(record: TokenRecord, now: Date): Authentication {
    if (record.expiresAt !== undefined && now.getTime() >= record.expiresAt.getTime()) return { kind: "invalid", code: "expired", reason: "token expired" };
    const policies: Policy[] = [];
    for (const name of record.policies) {
      const policy = this.#state.policies.get(name);
      if (policy === undefined) return { kind: "invalid", code: "policy_gone", reason: `the token's policy "${name}" no longer exists` };
      policies.push(policy);
    }
    return { kind: "ok", tokenId: record.id, policies };
  }
}

const MAX_SAVE_ATTEMPTS = 5;

function attachmentOf(serverSecret: Uint8Array, backend: AuthStateBackend, where: string): Attachment {
  if (!(serverSecret instanceof Uint8Array) || serverSecret.length < MIN_SERVER_SECRET_BYTES) {
    throw new AuthConfigError(`the server secret must be at least ${MIN_SERVER_SECRET_BYTES} bytes`);
  }
  const key = createSecretKey(serverSecret);
  return { key, secretCheck: createHmac("sha256", key).update(SECRET_CHECK_INPUT).digest("hex"), backend, where };
}

/** The stored state, checked; empty when there is none yet. */
async function loadState(attachment: Attachment): Promise<AuthState> {
  const json = await attachment.backend.load();
  return json === undefined ? emptyState() : parseState(json, attachment);
}

function mac(key: KeyObject, token: Uint8Array): Buffer {
  return createHmac("sha256", key).update(token).digest();
}

function insert(state: AuthState, record: TokenRecord): void {
  state.byId.set(record.id, record);
  state.byHmac.set(record.hmacHex, record);
}

function remove(state: AuthState, record: TokenRecord): void {
  state.byId.delete(record.id);
  state.byHmac.delete(record.hmacHex);
}

function copyState(state: AuthState): AuthState {
  return { bootstrapped: state.bootstrapped, policies: new Map(state.policies), byHmac: new Map(state.byHmac), byId: new Map(state.byId) };
}

function checkPolicyNames(state: AuthState, value: unknown, where: string): readonly string[] {
  if (!Array.isArray(value) || value.length === 0) throw new AuthConfigError(`${where}: a token needs a non-empty list of policy names`);
  for (const name of value) {
    if (!isPolicyName(name)) throw new AuthConfigError(`${where}: ${JSON.stringify(String(name).slice(0, 80))} is not a policy name`);
    if (!state.policies.has(name)) throw new AuthConfigError(`${where}: no policy named "${name}"`);
  }
  return Object.freeze([...new Set(value as string[])]);
}

function documentOf(state: AuthState, secretCheck: string): AuthStateDocument {
  return {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    secretCheck,
    bootstrapped: state.bootstrapped,
    policies: [...state.policies.values()],
    tokens: [...state.byId.values()].map((t) => ({
      id: t.id,
      name: t.name,
      hmac: t.hmacHex,
      policies: t.policies,
      createdAt: t.createdAt.toISOString(),
      ...(t.expiresAt === undefined ? {} : { expiresAt: t.expiresAt.toISOString() }),
    })),
  };
}

/** Checks a stored document field by field (naming the field at fault) and indexes it. */
function parseState(json: unknown, attachment: Attachment): AuthState {
  const where = attachment.where;
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new AuthConfigError(`${where}: not a JSON object`);
  const document = json as Record<string, unknown>;
  for (const field of Object.keys(document)) {
    if (!["format", "version", "secretCheck", "bootstrapped", "policies", "tokens"].includes(field)) {
      throw new AuthConfigError(`${where}: unknown field ${JSON.stringify(field.slice(0, 40))}`);
    }
  }
  if (document["format"] !== STATE_FORMAT) throw new AuthConfigError(`${where}: format is not "${STATE_FORMAT}"`);
  if (document["version"] !== STATE_VERSION) throw new AuthConfigError(`${where}: version ${String(document["version"]).slice(0, 20)} is not supported (expected ${STATE_VERSION})`);
  const check = document["secretCheck"];
  if (typeof check !== "string" || !HMAC_HEX.test(check)) throw new AuthConfigError(`${where}: secretCheck is missing or not 64 hex digits`);
  if (!timingSafeEqual(Buffer.from(check, "hex"), Buffer.from(attachment.secretCheck, "hex"))) {
    throw new AuthConfigError(`${where}: written with a different server secret; no token in it would be accepted`);
  }
  if (typeof document["bootstrapped"] !== "boolean") throw new AuthConfigError(`${where}: bootstrapped must be true or false`);
  const state = emptyState();
  state.bootstrapped = document["bootstrapped"];

  const policies = document["policies"];
  if (!Array.isArray(policies)) throw new AuthConfigError(`${where}: policies must be a list`);
  policies.forEach((raw, i) => {
    const policy = parseStoredPolicy(raw, `${where}: policies[${i}]`);
    if (state.policies.has(policy.name)) throw new AuthConfigError(`${where}: policies[${i}]: a second policy named "${policy.name}"`);
    state.policies.set(policy.name, policy);
  });

  const tokens = document["tokens"];
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
    if (state.byId.has(id)) throw new AuthConfigError(`${at}.id: a second token with id ${id}`);
    const hmac = t["hmac"];
    if (typeof hmac !== "string" || !HMAC_HEX.test(hmac)) throw new AuthConfigError(`${at}.hmac: not 64 lower-case hex digits`);
    if (state.byHmac.has(hmac)) throw new AuthConfigError(`${at}.hmac: the same as that of token ${state.byHmac.get(hmac)!.id}`);
    insert(state, {
      id,
      name: checkTokenName(t["name"], `${at}.name`),
      policies: checkPolicyNames(state, t["policies"], `${at}.policies`),
      createdAt: parseDate(t["createdAt"], `${at}.createdAt`),
      ...(t["expiresAt"] === undefined ? {} : { expiresAt: parseDate(t["expiresAt"], `${at}.expiresAt`) }),
      hmac: Buffer.from(hmac, "hex"),
      hmacHex: hmac,
    });
  });
  return state;
}
