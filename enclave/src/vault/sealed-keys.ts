// The sealed key store as the signer sees it (DESIGN.md §7): the vault (the
// master key and its ceremonies) and the DynamoDB table of validator keys
// sealed under it, joined to the in-memory key registry. After every unseal
// the active keys are read with a parallel scan and opened one by one, each
// usable as soon as it is in; a seal takes every key out of memory at once.
// A key whose stored envelope does not open stays out, with its reason kept
// and logged; the others load.
import { publicKeyBytes } from "../keys/public-key.ts";
import type { KeyRegistry } from "../keys/registry.ts";
import type { Logger } from "pino";
import type { TokenStore } from "../auth/index.ts";
import { shareAuthThroughVault } from "./shared-auth.ts";
import { VaultError, type CredentialSubmission, type KeyMetadata, type Vault, type VaultInitOptions, type VaultRotateOptions, type VaultStatus, type VaultStore, type UnsealProgress } from "@strongroom/vault";

export const VAULT_KEY_SOURCE = "vault";
/** Between automatic KMS unseal attempts after a failure: from 2 s, doubling, up to 60 s. */
const RETRY_FIRST_MS = 2_000;
const RETRY_MAX_MS = 60_000;

export interface SealedKeysOptions {
  readonly vault: Vault;
  readonly store: VaultStore;
  readonly keys: KeyRegistry;
  readonly log: Logger;
  /** Parallel scan segments for loading; default the store's. */
  readonly loadSegments?: number;
  /** The signer's tokens and policies, kept in the vault's state table and usable only while it is unsealed. */
  readonly tokens?: TokenStore;
}

export interface SealedKeysStatus extends VaultStatus {
  readonly keys: { readonly loaded: number; readonly loading: boolean; readonly failed: readonly { publicKey: string; reason: string }[] };
  /** Whether the tokens and policies kept beside the vault are in use, and why not. */
  readonly tokens?: { readonly available: boolean; readonly reason?: string };
}

export interface StoredKey extends KeyMetadata {
  readonly loaded: boolean;
  readonly failure?: string;
}

const hex = (publicKey: Uint8Array | string) => (typeof publicKey === "string" ? `0x${publicKey}` : `0x${Buffer.from(publicKey).toString("hex")}`);

export class SealedKeys {
  readonly vault: Vault;
  readonly #store: VaultStore;
  readonly #keys: KeyRegistry;
  readonly #log: Logger;
  readonly #segments: number | undefined;
  /** Why a stored key is not loaded (its envelope did not open), by 0x public key. */
  readonly #failed = new Map<string, string>();
  #loading: Promise<void> | undefined;
  /** Automatic KMS unseal keeps trying after a failure until a seal on command or an unseal. */
  #retry: NodeJS.Timeout | undefined;
  #retryMs = RETRY_FIRST_MS;
  #kmsUnseal: Promise<void> | undefined;
  /** A seal on command stops automatic unsealing until someone unseals. */
  #sealedOnCommand = false;
  #closed = false;
  readonly #tokens: TokenStore | undefined;
  readonly #stopSharingAuth: (() => void) | undefined;

  constructor(options: SealedKeysOptions) {
    this.vault = options.vault;
    this.#store = options.store;
    this.#keys = options.keys;
    this.#log = options.log;
    this.#segments = options.loadSegments;
    this.#tokens = options.tokens;
    this.#stopSharingAuth = options.tokens && shareAuthThroughVault({ vault: this.vault, store: this.#store, tokens: options.tokens, log: this.#log });
    this.vault.onSeal(() => {
      // Every validator key, also memory-only imports: a sealed signer holds no key at all.
      this.#keys.clear();
      this.#failed.clear();
    });
  }

  /** At boot: unseal by attested KMS when the vault has KMS shares, retrying with backoff while KMS refuses. */
  autoUnseal(): void {
    if (this.#closed || this.vault.unsealed || this.vault.state === "uninitialized") return;
    if (this.vault.status().kms.keys.length === 0) return;
    this.unsealWithKms().then(
      () => (this.#retryMs = RETRY_FIRST_MS),
      (error: unknown) => {
        if (this.#closed || this.vault.unsealed || this.#sealedOnCommand) return;
        this.#log.warn({ reason: (error as Error).message, retryInSeconds: this.#retryMs / 1000 }, "automatic unseal by KMS failed; retrying");
        this.#retry = setTimeout(() => this.autoUnseal(), this.#retryMs);
        this.#retry.unref();
        this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
      },
    );
  }

  get unsealed(): boolean {
    return this.vault.unsealed;
  }

  /** Counts for /healthcheck and the sign route's "not loaded yet". */
  progress(): { loaded: number; failed: number; loading: boolean } {
    return { loaded: this.#loadedCount(), failed: this.#failed.size, loading: this.#loading !== undefined };
  }

  #loadedCount(): number {
    let count = 0;
    for (const key of this.#keys.list()) if (key.source === VAULT_KEY_SOURCE) count++;
    return count;
  }

  status(): SealedKeysStatus {
    const tokens = this.#tokens?.availability();
    return {
      ...this.vault.status(),
      keys: { loaded: this.#loadedCount(), loading: this.#loading !== undefined, failed: [...this.#failed].map(([publicKey, reason]) => ({ publicKey, reason })) },
      ...(tokens !== undefined && { tokens: tokens.attached ? { available: true } : { available: false, reason: tokens.reason } }),
    };
  }

  async init(options: VaultInitOptions): Promise<void> {
    await this.vault.init(options);
    this.#sealedOnCommand = false;
  }

  /** One KMS unseal at a time: a request while the automatic one runs waits for it, then tries itself if still sealed. */
  async unsealWithKms(): Promise<void> {
    while (this.#kmsUnseal !== undefined) await this.#kmsUnseal.catch(() => {});
    if (this.vault.unsealed) return;
    this.#kmsUnseal = this.vault.unsealWithKms().finally(() => (this.#kmsUnseal = undefined));
    await this.#kmsUnseal;
    this.#unsealed();
  }

  async submitOperatorCredential(operatorId: string, submission: CredentialSubmission, options: { credentialId?: string }): Promise<UnsealProgress> {
    const progress = await this.vault.submitOperatorCredential(operatorId, submission, options);
    if (this.vault.unsealed) this.#unsealed();
    return progress;
  }

  seal(): void {
    this.#sealedOnCommand = true;
    this.#stopRetry();
    this.vault.seal();
  }

  rotate(options: VaultRotateOptions): Promise<void> {
    return this.vault.rotate(options);
  }

  /** Resolves when the load that the last unseal started has finished. */
  whenLoaded(): Promise<void> {
    return this.#loading ?? Promise.resolve();
  }

  // ---- the key table ----

  /**
   * Seals `secretKey` into the store as active, then loads it (taking over
   * and zeroing the secret, also on failure). False when the key was already
   * loaded; a VaultError when the store holds it already or is unreachable.
   */
  async persistAndLoad(publicKey: string, secretKey: Uint8Array): Promise<boolean> {
    try {
      const sealed = this.vault.sealKey(publicKeyBytes(publicKey), secretKey);
      await this.#store.putKey(publicKey, sealed);
    } catch (error) {
      secretKey.fill(0);
      throw error;
    }
    if (!this.vault.unsealed) {
      // Sealed while the write ran: stored, but no key may be in memory now.
      secretKey.fill(0);
      return false;
    }
    return this.#keys.add({ publicKey, source: VAULT_KEY_SOURCE, readonly: false, derivationPath: "" }, secretKey);
  }

  async list(): Promise<StoredKey[]> {
    this.#requireUnsealed();
    const stored = await this.#store.listKeys();
    return stored.map((key) => {
      const publicKey = hex(key.publicKeyHex);
      const failure = this.#failed.get(publicKey);
      return { ...key, loaded: this.#keys.get(publicKey)?.source === VAULT_KEY_SOURCE, ...(failure !== undefined && { failure }) };
    });
  }

  /** Marks a stored key active and loads it; false when the store has no such key. */
  async activate(publicKey: string): Promise<boolean> {
    this.#requireUnsealed();
    const record = await this.#store.getKey(publicKey);
    if (record === undefined) return false;
    if (record.status !== "active") await this.#store.setStatus(publicKey, "active");
    if (this.#keys.get(publicKey) === undefined) this.#open(record.publicKey, record.sealed);
    return true;
  }

  /** Marks a stored key inactive and takes it out of memory; false when the store has no such key. */
  async deactivate(publicKey: string): Promise<boolean> {
    this.#requireUnsealed();
    if ((await this.#store.getKey(publicKey)) === undefined) return false;
    await this.#store.setStatus(publicKey, "inactive");
    this.#unload(publicKey);
    return true;
  }

  /** Deletes a stored key for good and takes it out of memory; false when the store has no such key. */
  async delete(publicKey: string): Promise<boolean> {
    this.#requireUnsealed();
    const deleted = await this.#store.deleteKey(publicKey);
    this.#unload(publicKey);
    return deleted;
  }

  close(): void {
    this.#closed = true;
    this.#stopRetry();
    this.#stopSharingAuth?.();
  }

  // ---- internals ----

  #requireUnsealed(): void {
    if (!this.vault.unsealed) throw new VaultError(`the vault is ${this.vault.state}`);
  }

  #stopRetry(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#retryMs = RETRY_FIRST_MS;
  }

  #unload(publicKey: string): void {
    if (this.#keys.get(publicKey)?.source === VAULT_KEY_SOURCE) this.#keys.remove(publicKey);
    this.#failed.delete(publicKey);
  }

  #unsealed(): void {
    this.#stopRetry();
    this.#sealedOnCommand = false;
    if (this.#loading !== undefined) return;
    const started = performance.now();
    this.#loading = this.#store
      .loadActive((publicKey, sealed) => this.#open(publicKey, sealed), {
        ...(this.#segments !== undefined && { segments: this.#segments }),
        onMalformed: (publicKeyHex, reason) => this.#fail(hex(publicKeyHex), reason),
      })
      .then(
        (count) => this.#log.info({ keys: count, loaded: this.#loadedCount(), failed: this.#failed.size, ms: Math.round(performance.now() - started) }, "sealed keys loaded"),
        (error: unknown) => this.#log.error({ reason: (error as Error).message }, "loading the sealed keys failed; keys loaded so far stay; seal and unseal to try again"),
      )
      .finally(() => (this.#loading = undefined));
  }

  /** Opens one stored envelope into the registry; a failure keeps only this key out. */
  #open(publicKey: Uint8Array, sealed: Uint8Array): void {
    const publicKeyHex = hex(publicKey);
    if (!this.vault.unsealed) return;
    let secretKey: Uint8Array;
    try {
      secretKey = this.vault.openKey(publicKey, sealed);
    } catch (error) {
      this.#fail(publicKeyHex, `its sealed envelope does not open under this vault's master key (${(error as Error).message}); it was altered or sealed by another vault`);
      return;
    }
    this.#failed.delete(publicKeyHex);
    this.#keys.add({ publicKey: publicKeyHex, source: VAULT_KEY_SOURCE, readonly: false, derivationPath: "" }, secretKey);
  }

  #fail(publicKey: string, reason: string): void {
    this.#failed.set(publicKey, reason);
    this.#log.warn({ publicKey, reason }, "a sealed key stays out of the signer");
  }
}
