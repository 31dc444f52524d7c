/**
 * The vault state machine (DESIGN.md §7): the enclave's one owner of the
 * master key.
 *
 *   uninitialized ──init──▶ unsealed ◀──unsealWithKms / operator quorum── sealed
 *                              │  ▲                                          ▲
 *                              │  └──(rotation done)── awaiting_rotation     │
 *                              └──rotate──▶ awaiting_rotation                │
 *                              └──────────────seal───────────────────────────┘
 *
 * The master key is split twice, independently: M-of-N across KMS keys
 * (automatic unseal through attested KMS Decrypt) and M-of-N across
 * operators (each operator's share wrapped under each of their
 * credentials). Either quorum alone rebuilds the key; a key-check value in
 * the state (HMAC-SHA256(masterKey, "strongroom-key-check")) tells a right
 * combination from a wrong one before any validator key is touched.
 *
 * The signer-state document is read through `VaultStore` and is untrusted
 * (the parent relays DynamoDB): it is shape-checked, and everything in it is
 * authenticated by what opens it.
 */
import { hkdfSync, timingSafeEqual } from "node:crypto";
import { CredentialAttempts } from "./attempts.ts";
import { openValidatorKey, sealValidatorKey } from "./envelope.ts";
import { VaultError } from "./errors.ts";
import { openKmsShare, sealKmsShare } from "./kms-share.ts";
import { generateMasterKey } from "./master-key.ts";
import { type CredentialSubmission, type OperatorCredentialInput, unwrapShare, wrapShareForOperator } from "./operator-credentials.ts";
import { combineShares, type Share, splitSecret } from "./shamir.ts";
import type { StoredState, VaultStore } from "./store/index.ts";
import {
  base64Bytes,
  checkKmsKeyId,
  keyCheckValue,
  kmsShareContext,
  type KmsShareRecord,
  newVaultId,
  type OperatorShareRecord,
  parseVaultState,
  VAULT_STATE_FORMAT,
  VAULT_STATE_LIMITS,
  type VaultStateDocument,
  vaultPartOf,
  withVaultPart,
} from "./vault-state.ts";

export type VaultState = "uninitialized" | "sealed" | "unsealed" | "awaiting_rotation";

/**
 * The part of @strongroom/kms's `AttestedKms` the vault uses, declared here
 * so that the vault does not depend on the KMS package (nor on the AWS KMS
 * SDK) at run time. `AttestedKms` satisfies it as it is. Both calls carry a
 * Recipient (an attestation document): the vault never sends KMS a
 * plaintext, so a key policy can allow these two calls only from the
 * enclave's image and nothing else at all (no Encrypt).
 */
export interface VaultKms {
  /** Attested Decrypt, used at unseal to open each share's data key. */
  decrypt(ciphertext: Uint8Array, encryptionContext?: Record<string, string>, keyId?: string): Promise<Uint8Array>;
  /** Attested GenerateDataKey, used at init and rotation: one data key per share. */
  generateDataKey(keyId: string, encryptionContext?: Record<string, string>): Promise<{ plaintext: Uint8Array; ciphertext: Uint8Array }>;
}

/** pino's Logger fits this; fields never hold secrets. */
export interface VaultLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** A store with the two calls the vault makes; `VaultStore` is one. */
export type VaultStateStore = Pick<VaultStore, "readState" | "writeState">;

export interface VaultDependencies {
  readonly store: VaultStateStore;
  /** Needed to init or rotate with KMS keys and to unseal by KMS; operators alone need none. */
  readonly kms?: VaultKms;
  /** NSM GetRandom (32..1024 bytes); the vault zeroes what it gets. */
  readonly nsmRandom: () => Promise<Uint8Array>;
  /** Default: `new CredentialAttempts()` with the vault's clock. */
  readonly attempts?: CredentialAttempts;
  /** Clock for the state's timestamps (and the default attempts). */
  readonly now?: () => Date;
  readonly log?: VaultLog;
  /**
   * Called with each secret buffer the vault keeps beyond one call (the
   * master key, recovered operator shares) when it starts keeping it: lets
   * tests check that `seal()` zeroes them. The caller must not keep or copy
   * them in production.
   */
  readonly observeSecret?: (secret: Uint8Array, what: "master-key" | "operator-share") => void;
}

export interface OperatorInit {
  readonly id: string;
  readonly credentials: readonly OperatorCredentialInput[];
}

export interface VaultInitOptions {
  readonly kmsKeys: readonly string[];
  readonly kmsThreshold: number;
  readonly operators: readonly OperatorInit[];
  readonly operatorThreshold: number;
}

/**
 * Rotation: each side given is re-split (new shares of the same master key);
 * a side not given keeps its records. `kmsKeys: []` or `operators: []`
 * removes that side (one must remain). Changing the operator threshold needs
 * the operators' credentials, so `operatorThreshold` comes with `operators`.
 */
export interface VaultRotateOptions {
  readonly kmsKeys?: readonly string[];
  readonly kmsThreshold?: number;
  readonly operators?: readonly OperatorInit[];
  readonly operatorThreshold?: number;
}

export interface UnsealProgress {
  readonly received: number;
  readonly threshold: number;
  readonly state: VaultState;
}

export interface VaultStatus {
  readonly state: VaultState;
  readonly vaultId?: string;
  readonly generation?: number;
  readonly kms: { readonly threshold: number; readonly keys: readonly string[] };
  readonly operators: { readonly threshold: number; readonly ids: readonly string[]; readonly received: number };
  /** Why the vault is not unsealed (the last unseal's failures, a seal on command…). */
  readonly reason?: string;
}

export interface KmsShareFailure {
  readonly index: number;
  readonly keyId: string;
  /** The error's name and message (KMS's own words: ARNs, "is disabled"); never key material. */
  readonly error: string;
}

/** A KMS unseal that did not reach its threshold; the message says which keys failed and why. */
export class VaultUnsealError extends VaultError {
  override name = "VaultUnsealError";
  readonly recovered: number;
  readonly threshold: number;
  readonly failures: readonly KmsShareFailure[];
  constructor(message: string, recovered: number, threshold: number, failures: readonly KmsShareFailure[]) {
    super(message);
    this.recovered = recovered;
    this.threshold = threshold;
    this.failures = failures;
  }
}

const WRONG = "wrong credential";
const MAX_ERROR_TEXT = 300;

function describeError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const flat = text.replace(/\s+/g, " ");
  return flat.length > MAX_ERROR_TEXT ? `${flat.slice(0, MAX_ERROR_TEXT)}…` : flat;
}

/** A caller-supplied id, for messages: bounded and quoted. */
function quote(id: string): string {
  return JSON.stringify(id.length > 128 ? `${id.slice(0, 128)}…` : id);
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** The thresholds splitSecret accepts, checked before any key is made. */
function checkThreshold(threshold: unknown, count: number, what: string): asserts threshold is number {
  if (typeof threshold !== "number" || !Number.isInteger(threshold) || threshold < 1 || threshold > count || (threshold === 1 && count > 1)) {
    throw new VaultError(
      count > 1 ? `${what} threshold must be an integer from 2 to ${count}` : `${what} threshold must be 1 (one ${what === "KMS" ? "KMS key" : "operator"})`,
    );
  }
}

function checkKmsKeys(keys: unknown): asserts keys is readonly string[] {
  if (!Array.isArray(keys) || keys.length > VAULT_STATE_LIMITS.maxKmsKeys) throw new VaultError(`kmsKeys must be a list of at most ${VAULT_STATE_LIMITS.maxKmsKeys} KMS key ids`);
  for (const [i, key] of keys.entries()) checkKmsKeyId(key, `kmsKeys[${i}]`);
  if (new Set(keys).size !== keys.length) throw new VaultError("kmsKeys repeats a key: each share needs a different KMS key");
}

function checkOperators(operators: unknown): asserts operators is readonly OperatorInit[] {
  if (!Array.isArray(operators) || operators.length > VAULT_STATE_LIMITS.maxOperators) throw new VaultError(`operators must be a list of at most ${VAULT_STATE_LIMITS.maxOperators}`);
  const ids = new Set<string>();
  for (const [i, operator] of (operators as unknown[]).entries()) {
    const o = operator as Partial<OperatorInit> | undefined;
    if (typeof o?.id !== "string") throw new VaultError(`operators[${i}].id must be a string`);
    if (ids.has(o.id)) throw new VaultError(`operator ${quote(o.id)} appears twice`);
    ids.add(o.id);
    const credentials: unknown = o.credentials;
    if (!Array.isArray(credentials) || credentials.length < 1 || credentials.length > VAULT_STATE_LIMITS.maxCredentialsPerOperator) {
      throw new VaultError(`operator ${quote(o.id)} needs 1 to ${VAULT_STATE_LIMITS.maxCredentialsPerOperator} credentials`);
    }
    const credentialIds = credentials.map((c: { credentialId?: unknown } | undefined) => c?.credentialId);
    if (new Set(credentialIds).size !== credentialIds.length) throw new VaultError(`operator ${quote(o.id)} repeats a credential id`);
  }
}

export class Vault {
  readonly #store: VaultStateStore;
  readonly #kms: VaultKms | undefined;
  readonly #nsmRandom: () => Promise<Uint8Array>;
  readonly #attempts: CredentialAttempts;
  readonly #now: () => Date;
  readonly #log: VaultLog | undefined;
  readonly #observe: VaultDependencies["observeSecret"];

  #state: VaultState = "uninitialized";
  /** The vault's document as last read or written; undefined while uninitialized. */
  #doc: VaultStateDocument | undefined;
  /** The whole signer-state document and its version (other fields are kept on write). */
  #signerState: unknown;
  #version: number | undefined;
  #masterKey: Uint8Array | undefined;
  /** Operator shares recovered towards the quorum, by operator id. */
  readonly #received = new Map<string, Share>();
  /** Bumped by every seal: an operation that awaited across one drops what it got. */
  #epoch = 0;
  #reason: string | undefined;
  #busy: "init" | "unseal" | undefined;
  #refreshing: Promise<void> | undefined;
  readonly #sealListeners = new Set<() => void>();
  readonly #unsealListeners = new Set<() => void>();

  private constructor(deps: VaultDependencies) {
    if (typeof deps?.store?.readState !== "function" || typeof deps.store.writeState !== "function") throw new VaultError("vault: a store is required");
    if (typeof deps.nsmRandom !== "function") throw new VaultError("vault: nsmRandom is required");
    this.#store = deps.store;
    this.#kms = deps.kms;
    this.#nsmRandom = deps.nsmRandom;
    this.#now = deps.now ?? (() => new Date());
    const now = this.#now;
    this.#attempts = deps.attempts ?? new CredentialAttempts({ now: () => now().getTime() });
    this.#log = deps.log;
    this.#observe = deps.observeSecret;
  }

  /**
   * A vault loaded from the store: `uninitialized` when the signer state
   * holds no vault document, `sealed` otherwise. A malformed document is a
   * VaultError (the enclave fails closed).
   */
  static async open(deps: VaultDependencies): Promise<Vault> {
    const vault = new Vault(deps);
    await vault.#refresh();
    if (vault.#state === "sealed") vault.#reason = "not unsealed since start";
    return vault;
  }

  get state(): VaultState {
    return this.#state;
  }

  /** True while validator keys may be opened and used (unsealed or awaiting rotation). */
  get unsealed(): boolean {
    return this.#state === "unsealed" || this.#state === "awaiting_rotation";
  }

  /** `listener` runs (synchronously) at every seal, after the master key is wiped; returns an unsubscribe function. */
  onSeal(listener: () => void): () => void {
    this.#sealListeners.add(listener);
    return () => this.#sealListeners.delete(listener);
  }

  /** `listener` runs (synchronously) at every unseal (init included), once the master key is in; returns an unsubscribe function. */
  onUnseal(listener: () => void): () => void {
    this.#unsealListeners.add(listener);
    return () => this.#unsealListeners.delete(listener);
  }

  /**
   * A 32-byte key for one purpose of the signer (HKDF-SHA256 of the master
   * key, salted with the vault id), so that what is kept beside the vault
   * (the auth state) can be authenticated by every instance that unseals it
   * and by nobody else. Refused unless unsealed; the caller zeroes it.
   */
  deriveKey(purpose: string): Buffer {
    if (typeof purpose !== "string" || purpose.length === 0) throw new VaultError("deriveKey needs a purpose");
    const masterKey = this.#requireMasterKey();
    return Buffer.from(hkdfSync("sha256", masterKey, this.#doc!.vaultId, `strongroom ${purpose}`, 32));
  }

  status(): VaultStatus {
    const doc = this.#doc;
    return {
      state: this.#state,
      ...(doc === undefined ? {} : { vaultId: doc.vaultId, generation: doc.generation }),
      kms: { threshold: doc?.kms?.threshold ?? 0, keys: doc?.kms?.shares.map((s) => s.keyId) ?? [] },
      operators: { threshold: doc?.operators?.threshold ?? 0, ids: doc?.operators?.shares.map((s) => s.operatorId) ?? [], received: this.#received.size },
      ...(this.#reason === undefined || this.unsealed ? {} : { reason: this.#reason }),
    };
  }

  /**
   * The public side of an operator's credentials (ids, kinds, and for
   * HMAC-SHA1 the stored challenge the token must answer), so that the
   * operator's client knows what to submit. Empty for an unknown operator.
   */
  async credentialsOf(operatorId: string): Promise<{ credentialId: string; kind: "passphrase" | "hmac-sha1"; challenge?: Uint8Array }[]> {
    // While sealed, read the stored state first: another instance may have rotated.
    if (!this.unsealed && this.#received.size === 0) await this.#refresh();
    const record = this.#doc?.operators?.shares.find((s) => s.operatorId === operatorId);
    return (record?.wrapped ?? []).map((w) =>
      w.kind === "hmac-sha1"
        ? { credentialId: w.credentialId, kind: w.kind, challenge: new Uint8Array(Buffer.from(w.kdf.challenge, "hex")) }
        : { credentialId: w.credentialId, kind: w.kind },
    );
  }

  // ---- init ----

  async init(options: VaultInitOptions): Promise<void> {
    if (this.#state !== "uninitialized") throw new VaultError(`the vault is already initialised (${this.#state})`);
    if (this.#busy !== undefined) throw new VaultError(`an ${this.#busy} is already in progress`);
    const { kmsKeys, kmsThreshold, operators, operatorThreshold } = options ?? ({} as VaultInitOptions);
    checkKmsKeys(kmsKeys);
    checkOperators(operators);
    if (kmsKeys.length === 0 && operators.length === 0) throw new VaultError("init needs KMS keys, operators or both");
    if (kmsKeys.length > 0) {
      checkThreshold(kmsThreshold, kmsKeys.length, "KMS");
      if (this.#kms === undefined) throw new VaultError("init with KMS keys needs the KMS dependency");
    }
    if (operators.length > 0) checkThreshold(operatorThreshold, operators.length, "operator");

    this.#busy = "init";
    const epoch = this.#epoch;
    let masterKey: Uint8Array | undefined;
    try {
      // Another instance may have initialised the store since this one read it.
      await this.#refresh();
      if (this.#state !== "uninitialized") throw new VaultError(`the vault is already initialised (${this.#state})`);
      const random = await this.#nsmRandom();
      try {
        masterKey = generateMasterKey(random);
      } finally {
        if (random instanceof Uint8Array) random.fill(0);
      }
      const vaultId = newVaultId();
      const kms = kmsKeys.length > 0 ? await this.#splitForKms(masterKey, vaultId, kmsKeys, kmsThreshold) : null;
      const ops = operators.length > 0 ? await this.#splitForOperators(masterKey, operators, operatorThreshold) : null;
      if (this.#epoch !== epoch) throw new VaultError("the vault was sealed while init ran; nothing was written");
      const check = keyCheckValue(masterKey);
      const doc: VaultStateDocument = {
        format: VAULT_STATE_FORMAT,
        vaultId,
        generation: 1,
        keyCheck: base64(check),
        createdAt: this.#now().toISOString(),
        kms,
        operators: ops,
      };
      const signerState = withVaultPart(this.#signerState, doc);
      const version = await this.#store.writeState(signerState, this.#version);
      this.#doc = doc;
      this.#signerState = signerState;
      this.#version = version;
      this.#log?.info({ vaultId, kms: kmsKeys.length, kmsThreshold: kms?.threshold, operators: operators.length, operatorThreshold: ops?.threshold }, "vault initialised");
      if (this.#epoch !== epoch) {
        // Written, but a seal came in meanwhile: it wins.
        this.#state = "sealed";
        this.#reason = "sealed on command during init";
        return;
      }
      this.#becomeUnsealed(masterKey);
      masterKey = undefined;
    } finally {
      masterKey?.fill(0);
      this.#busy = undefined;
    }
  }

  // ---- unseal by KMS ----

  /**
   * Decrypt the KMS shares (attested Decrypt, all in parallel), stop at the
   * threshold, combine, check against the key-check value. A vault that is
   * already unsealed stays so (no error). Failing, the vault stays sealed and
   * `status().reason` says why.
   */
  async unsealWithKms(): Promise<void> {
    if (this.unsealed) return;
    if (this.#busy !== undefined) throw new VaultError(`an ${this.#busy} is already in progress`);
    this.#busy = "unseal";
    const epoch = this.#epoch;
    try {
      await this.#refresh();
      if (this.#state === "uninitialized") throw new VaultError("the vault is not initialised");
      if (this.unsealed) return;
      const doc = this.#doc!;
      if (doc.kms === null) throw new VaultError(`no KMS shares are configured; operators unseal this vault (${this.#operatorQuorum(doc)})`);
      if (this.#kms === undefined) throw new VaultError("unsealing by KMS needs the KMS dependency");

      const { threshold, shares: records } = doc.kms;
      const { recovered, failures } = await this.#decryptKmsShares(doc.vaultId, records, threshold, this.#kms);
      let candidate: Uint8Array;
      try {
        if (recovered.length < threshold) {
          const failed = failures.map((f) => `kms-${f.index} (${f.keyId}): ${f.error}`).join("; ");
          const message =
            `KMS unseal failed: recovered ${recovered.length} of the ${threshold} shares needed from ${records.length} KMS keys; ` +
            `failed: ${failed}; the vault stays sealed — ${doc.operators === null ? "no operator shares are configured" : `operators can unseal it instead (${this.#operatorQuorum(doc)})`}`;
          this.#reason = message;
          this.#log?.warn({ vaultId: doc.vaultId, recovered: recovered.length, threshold, failures }, "KMS unseal failed");
          throw new VaultUnsealError(message, recovered.length, threshold, failures);
        }
        candidate = combineShares(recovered, threshold);
      } finally {
        for (const share of recovered) share.value.fill(0);
      }
      this.#requireMasterKeyOf(candidate, doc, "KMS", "the signer state may have been altered");
      if (this.unsealed) {
        candidate.fill(0);
        return;
      }
      if (this.#epoch !== epoch || this.#doc !== doc) {
        candidate.fill(0);
        throw new VaultError("the vault was sealed (or its state reloaded) while the KMS unseal ran; try again");
      }
      this.#becomeUnsealed(candidate);
      this.#log?.info({ vaultId: doc.vaultId, via: "kms" }, "vault unsealed");
    } finally {
      this.#busy = undefined;
    }
  }

  /** All shares in parallel; resolves once `threshold` have opened or every one has settled. Late plaintexts are zeroed. */
  #decryptKmsShares(
    vaultId: string,
    records: readonly KmsShareRecord[],
    threshold: number,
    kms: VaultKms,
  ): Promise<{ recovered: Share[]; failures: KmsShareFailure[] }> {
    return new Promise((resolve) => {
      const recovered: Share[] = [];
      const failures: KmsShareFailure[] = [];
      let pending = records.length;
      let done = false;
      const finish = () => {
        done = true;
        resolve({ recovered, failures });
      };
      for (const record of records) {
        const attempt = async (): Promise<Uint8Array> => {
          const ciphertext = base64Bytes(record.ciphertext, `kms-${record.index} ciphertext`, 1, VAULT_STATE_LIMITS.maxCiphertextBytes);
          const dataKey = await kms.decrypt(ciphertext, kmsShareContext(vaultId, record.index), record.keyId);
          try {
            return openKmsShare(dataKey, vaultId, record);
          } finally {
            if (dataKey instanceof Uint8Array) dataKey.fill(0);
          }
        };
        attempt().then(
          (value) => {
            if (done) {
              value.fill(0);
              return;
            }
            recovered.push({ index: record.index, value });
            if (recovered.length === threshold) finish();
          },
          (error: unknown) => {
            if (!done) failures.push({ index: record.index, keyId: record.keyId, error: describeError(error) });
          },
        ).finally(() => {
          pending -= 1;
          if (pending === 0 && !done) finish();
        });
      }
      if (records.length === 0) finish();
    });
  }

  // ---- unseal by operators ----

  /**
   * One operator's credential towards the quorum. `operatorId` is the
   * operator the aTLS session authenticated. Every wrong credential counts
   * in `CredentialAttempts` (and can lock the operator out). The caller
   * zeroes the submission's bytes. `credentialId` picks one of the
   * operator's credentials; without it, each of the submitted kind is tried.
   */
  async submitOperatorCredential(operatorId: string, submission: CredentialSubmission, options: { credentialId?: string } = {}): Promise<UnsealProgress> {
    if (this.unsealed) throw new VaultError("the vault is already unsealed");
    if (this.#received.size === 0) await this.#refresh();
    if (this.#state === "uninitialized") throw new VaultError("the vault is not initialised");
    if (this.unsealed) throw new VaultError("the vault is already unsealed");
    const doc = this.#doc!;
    if (doc.operators === null) throw new VaultError("no operator shares are configured for this vault; it unseals by KMS");
    const threshold = doc.operators.threshold;
    if (typeof operatorId !== "string") throw new VaultError("operator id must be a string");
    const record = doc.operators.shares.find((s) => s.operatorId === operatorId);
    if (record === undefined) throw new VaultError(`${quote(operatorId)} is not an operator of this vault`);
    if (this.#received.has(operatorId)) throw new VaultError(`operator ${quote(operatorId)} has already submitted a credential towards this unseal`);
    const kind: unknown = submission?.kind;
    const candidates = record.wrapped.filter((w) => w.kind === kind && (options.credentialId === undefined || w.credentialId === options.credentialId));
    const epoch = this.#epoch;

    const share = await this.#attempts.attempt(operatorId, async () => {
      for (const wrapped of candidates) {
        try {
          return await unwrapShare(wrapped, operatorId, submission);
        } catch (error) {
          if (!(error instanceof VaultError && error.message === WRONG)) throw error;
        }
      }
      throw new VaultError(WRONG);
    });

    if (this.unsealed) {
      share.value.fill(0);
      return { received: threshold, threshold, state: this.#state };
    }
    if (this.#epoch !== epoch || this.#doc !== doc) {
      share.value.fill(0);
      throw new VaultError("the vault was sealed (or its state reloaded) while the credential was checked; submit it again");
    }
    this.#received.set(operatorId, share);
    this.#observe?.(share.value, "operator-share");
    this.#log?.info({ vaultId: doc.vaultId, operatorId, received: this.#received.size, threshold }, "operator share received");
    if (this.#received.size < threshold) return { received: this.#received.size, threshold, state: this.#state };

    const shares = [...this.#received.values()];
    let candidate: Uint8Array;
    try {
      candidate = combineShares(shares, threshold);
    } finally {
      this.#wipeReceived();
    }
    this.#requireMasterKeyOf(candidate, doc, "operator", "the shares received were discarded");
    this.#becomeUnsealed(candidate);
    this.#log?.info({ vaultId: doc.vaultId, via: "operators" }, "vault unsealed");
    return { received: threshold, threshold, state: this.#state };
  }

  // ---- seal ----

  /**
   * Wipe the master key and every recovered operator share at once; the
   * vault is sealed (an uninitialised one stays uninitialised). Listeners
   * run afterwards, so the signer can wipe validator keys too.
   */
  seal(reason = "sealed on command"): void {
    this.#epoch += 1;
    this.#masterKey?.fill(0);
    this.#masterKey = undefined;
    this.#wipeReceived();
    if (this.#state !== "uninitialized") {
      this.#state = "sealed";
      this.#reason = reason;
    }
    this.#log?.info({ vaultId: this.#doc?.vaultId }, "vault sealed");
    this.#notify(this.#sealListeners, "seal");
  }

  // ---- rotation ----

  /**
   * New shares of the same master key for each side given, written with the
   * version check; the old records stop working (the stored state no longer
   * holds them). Only while unsealed; the vault keeps signing meanwhile
   * (`awaiting_rotation`). A stored state that another writer rotated since
   * this vault read it is refused: seal and unseal to reload, then rotate.
   */
  async rotate(options: VaultRotateOptions): Promise<void> {
    if (this.#state === "awaiting_rotation") throw new VaultError("a rotation is already in progress");
    if (this.#state !== "unsealed") throw new VaultError(`rotation needs an unsealed vault (it is ${this.#state})`);
    const current = this.#doc!;
    const { kmsKeys, kmsThreshold, operators, operatorThreshold } = options ?? {};
    const kmsChange = kmsKeys !== undefined || kmsThreshold !== undefined;
    const operatorsChange = operators !== undefined;
    if (operatorThreshold !== undefined && operators === undefined) {
      throw new VaultError("changing the operator threshold re-splits the operator shares: give the operators and their credentials too");
    }
    if (!kmsChange && !operatorsChange) throw new VaultError("rotate: nothing to rotate (give kmsKeys/kmsThreshold and/or operators)");

    const newKmsKeys = kmsKeys ?? current.kms?.shares.map((s) => s.keyId) ?? [];
    let newKmsThreshold = 0;
    if (kmsChange) {
      checkKmsKeys(newKmsKeys);
      if (newKmsKeys.length > 0) {
        newKmsThreshold = kmsThreshold ?? current.kms?.threshold ?? 0;
        checkThreshold(newKmsThreshold, newKmsKeys.length, "KMS");
        if (this.#kms === undefined) throw new VaultError("rotation with KMS keys needs the KMS dependency");
      } else if (kmsThreshold !== undefined) {
        throw new VaultError("kmsThreshold without KMS keys");
      }
    }
    let newOperatorThreshold = 0;
    if (operatorsChange) {
      checkOperators(operators);
      if (operators.length > 0) {
        newOperatorThreshold = operatorThreshold ?? current.operators?.threshold ?? 0;
        checkThreshold(newOperatorThreshold, operators.length, "operator");
      } else if (operatorThreshold !== undefined) {
        throw new VaultError("operatorThreshold without operators");
      }
    }
    const keepsKms = kmsChange ? newKmsKeys.length > 0 : current.kms !== null;
    const keepsOperators = operatorsChange ? operators.length > 0 : current.operators !== null;
    if (!keepsKms && !keepsOperators) throw new VaultError("rotation would leave neither KMS nor operator shares");

    this.#state = "awaiting_rotation";
    const epoch = this.#epoch;
    const masterKey = this.#masterKey!;
    try {
      const stored = await this.#store.readState();
      const part = stored === undefined ? undefined : vaultPartOf(stored.state);
      const latest = part === undefined ? undefined : parseVaultState(part);
      if (latest === undefined || latest.vaultId !== current.vaultId || latest.generation !== current.generation || latest.keyCheck !== current.keyCheck) {
        const found = latest === undefined ? "no vault state" : `vault ${latest.vaultId} generation ${latest.generation}`;
        throw new VaultError(
          `the signer state was changed by another writer (found ${found}; this vault holds generation ${current.generation}): seal and unseal to reload it, then rotate again`,
        );
      }
      if (this.#epoch !== epoch) throw new VaultError("the vault was sealed during rotation; nothing was written");
      // Splitting is synchronous: the master key is read before any seal can wipe it.
      const kms = !kmsChange ? latest.kms : newKmsKeys.length > 0 ? await this.#splitForKms(masterKey, current.vaultId, newKmsKeys, newKmsThreshold) : null;
      if (this.#epoch !== epoch) throw new VaultError("the vault was sealed during rotation; nothing was written");
      const ops = !operatorsChange ? latest.operators : operators.length > 0 ? await this.#splitForOperators(masterKey, operators, newOperatorThreshold) : null;
      if (this.#epoch !== epoch) throw new VaultError("the vault was sealed during rotation; nothing was written");
      const doc: VaultStateDocument = { ...latest, generation: latest.generation + 1, rotatedAt: this.#now().toISOString(), kms, operators: ops };
      const signerState = withVaultPart((stored as StoredState).state, doc);
      const version = await this.#store.writeState(signerState, (stored as StoredState).version);
      this.#doc = doc;
      this.#signerState = signerState;
      this.#version = version;
      this.#log?.info(
        { vaultId: doc.vaultId, generation: doc.generation, kms: kms?.shares.length ?? 0, kmsThreshold: kms?.threshold, operators: ops?.shares.length ?? 0, operatorThreshold: ops?.threshold },
        "vault shares rotated",
      );
    } finally {
      if (this.#state === "awaiting_rotation") this.#state = "unsealed";
    }
  }

  // ---- validator keys ----

  /** Seal a validator secret key under the master key (see `sealValidatorKey`); refused unless unsealed. */
  sealKey(publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array {
    return sealValidatorKey(this.#requireMasterKey(), publicKey, secretKey);
  }

  /** Open a sealed validator key (see `openValidatorKey`); refused unless unsealed. The caller zeroes the result. */
  openKey(publicKey: Uint8Array, sealed: Uint8Array): Uint8Array {
    return openValidatorKey(this.#requireMasterKey(), publicKey, sealed);
  }

  // ---- internals ----

  #requireMasterKey(): Uint8Array {
    if (!this.unsealed || this.#masterKey === undefined) throw new VaultError(`the vault is ${this.#state}`);
    return this.#masterKey;
  }

  #becomeUnsealed(masterKey: Uint8Array): void {
    this.#wipeReceived();
    this.#masterKey?.fill(0);
    this.#masterKey = masterKey;
    this.#observe?.(masterKey, "master-key");
    this.#state = "unsealed";
    this.#reason = undefined;
    this.#notify(this.#unsealListeners, "unseal");
  }

  #notify(listeners: ReadonlySet<() => void>, event: "seal" | "unseal"): void {
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        this.#log?.warn({ error: describeError(error) }, `an ${event} listener failed`);
      }
    }
  }

  #wipeReceived(): void {
    for (const share of this.#received.values()) share.value.fill(0);
    this.#received.clear();
  }

  /** A combined key whose key-check value is not the vault's is wiped and refused, the reason kept for status. */
  #requireMasterKeyOf(candidate: Uint8Array, doc: VaultStateDocument, via: "KMS" | "operator", consequence: string): void {
    if (timingSafeEqual(base64Bytes(doc.keyCheck, "keyCheck", 32, 32), keyCheckValue(candidate))) return;
    candidate.fill(0);
    const message = `${via} unseal failed: the ${via} shares do not combine to this vault's master key (key-check value differs); ${consequence}`;
    this.#reason = message;
    this.#log?.warn({ vaultId: doc.vaultId }, `${via} unseal: key-check value mismatch`);
    throw new VaultError(message);
  }

  #operatorQuorum(doc: VaultStateDocument): string {
    return doc.operators === null ? "none" : `${doc.operators.threshold} of ${doc.operators.shares.length} operators: ${doc.operators.shares.map((s) => s.operatorId).join(", ")}`;
  }

  /** Re-read the signer state while not unsealed (concurrent callers share one read). */
  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const stored = await this.#store.readState();
        if (this.unsealed) return;
        const part = stored === undefined ? undefined : vaultPartOf(stored.state);
        if (part === undefined) {
          this.#wipeReceived();
          this.#doc = undefined;
          this.#state = "uninitialized";
        } else {
          const doc = parseVaultState(part);
          const previous = this.#doc;
          if (previous === undefined || JSON.stringify(previous) !== JSON.stringify(doc)) {
            // Shares received under another document may not combine with its shares.
            this.#wipeReceived();
            this.#doc = doc;
          }
          this.#state = "sealed";
        }
        this.#signerState = stored?.state;
        this.#version = stored?.version;
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  async #splitForKms(masterKey: Uint8Array, vaultId: string, keyIds: readonly string[], threshold: number): Promise<NonNullable<VaultStateDocument["kms"]>> {
    const kms = this.#kms!;
    const shares = splitSecret(masterKey, threshold, keyIds.length);
    try {
      const results = await Promise.allSettled(
        shares.map(async (share, i): Promise<KmsShareRecord> => {
          const { plaintext: dataKey, ciphertext } = await kms.generateDataKey(keyIds[i]!, kmsShareContext(vaultId, share.index));
          try {
            if (!(ciphertext instanceof Uint8Array) || ciphertext.length < 1 || ciphertext.length > VAULT_STATE_LIMITS.maxCiphertextBytes) {
              throw new VaultError("KMS returned no usable data-key ciphertext");
            }
            return sealKmsShare(dataKey, vaultId, keyIds[i]!, share, base64(ciphertext));
          } finally {
            dataKey.fill(0);
          }
        }),
      );
      const records: KmsShareRecord[] = [];
      const failures: string[] = [];
      for (const [i, result] of results.entries()) {
        if (result.status === "rejected") failures.push(`kms-${shares[i]!.index} (${keyIds[i]}): ${describeError(result.reason)}`);
        else records.push(result.value);
      }
      if (failures.length > 0) throw new VaultError(`KMS GenerateDataKey for the master-key shares failed; nothing was written: ${failures.join("; ")}`);
      return { threshold, shares: records };
    } finally {
      for (const share of shares) share.value.fill(0);
    }
  }

  async #splitForOperators(masterKey: Uint8Array, operators: readonly OperatorInit[], threshold: number): Promise<NonNullable<VaultStateDocument["operators"]>> {
    const shares = splitSecret(masterKey, threshold, operators.length);
    try {
      const records: OperatorShareRecord[] = [];
      for (const [i, operator] of operators.entries()) {
        const share = shares[i]!;
        const wrapped = [];
        // One at a time: passphrase derivations queue for memory anyway.
        for (const credential of operator.credentials) wrapped.push(await wrapShareForOperator(share, operator.id, credential));
        records.push({ operatorId: operator.id, index: share.index, wrapped });
      }
      return { threshold, shares: records };
    } finally {
      for (const share of shares) share.value.fill(0);
    }
  }
}
