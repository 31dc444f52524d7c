// Tokens and policies kept beside the vault (DESIGN.md §7), so that every
// signer instance unsealing the same vault serves the same tokens.
//
// They live in the signer-state table as their own item ("auth-state"), with
// its own version for optimistic concurrency. The parent relays and could
// rewrite that item, so the document is authenticated: an HMAC-SHA256 under
// a key derived from the master key binds the vault id, the item's version
// and the exact bytes of the body. A parent cannot add a token hash, change a
// policy, or move a document between vaults; what it can still do is serve
// an older authenticated version (or none), which an instance refuses once it
// has seen a newer one. The HMAC of each token is keyed by another key
// derived from the master key, the same in every instance.
//
// While the vault is sealed the store is detached: no token works, only the
// configured administrator (configuration, not state). Each unseal attaches
// it again; while unsealed it re-reads the item every few seconds, so tokens
// made or revoked on another instance take effect here within that time.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { VaultConflictError, type Vault, type VaultStore } from "@strongroom/vault";
import type { AuthStateBackend, AuthStateDocument, TokenStore } from "../auth/index.ts";

export const AUTH_STATE_ITEM = "auth-state";
const MAC_CONTEXT = "strongroom auth-state v1";
const DEFAULT_REFRESH_MS = 5_000;

/** The authenticated envelope stored in the item: the body as exact JSON text, and its HMAC. */
interface SealedAuthState {
  readonly body: string;
  readonly mac: string;
}

/** A stored auth state that fails authentication: altered, replayed, or from another vault. */
export class AuthStateTamperedError extends Error {
  override name = "AuthStateTamperedError";
}

/** One vault unseal's view of the auth-state item: verifies what it reads, authenticates what it writes. */
class VaultAuthBackend implements AuthStateBackend {
  readonly #store: VaultStore;
  readonly #macKey: Buffer;
  readonly #vaultId: string;
  /** The version last read or written (what a write must find). */
  #version: number | undefined;
  /** The highest version authenticated so far: an older one is a replay. */
  #highest = 0;

  constructor(store: VaultStore, macKey: Buffer, vaultId: string) {
    this.#store = store;
    this.#macKey = macKey;
    this.#vaultId = vaultId;
  }

  async load(): Promise<unknown> {
    const stored = await this.#store.readState(AUTH_STATE_ITEM);
    if (stored === undefined) {
      if (this.#highest > 0) throw new AuthStateTamperedError(`the auth state (version ${this.#highest} seen) is gone from the state table; it was deleted by someone other than this signer`);
      this.#version = undefined;
      return undefined;
    }
    const sealed = stored.state as Partial<SealedAuthState> | null;
    if (typeof sealed !== "object" || sealed === null || typeof sealed.body !== "string" || typeof sealed.mac !== "string" || !/^[0-9a-f]{64}$/.test(sealed.mac)) {
      throw new AuthStateTamperedError("the stored auth state is not {body, mac}");
    }
    if (!timingSafeEqual(this.#mac(stored.version, sealed.body), Buffer.from(sealed.mac, "hex"))) {
      throw new AuthStateTamperedError(`the stored auth state (version ${stored.version}) fails its authentication check: it was altered, or written for another vault`);
    }
    if (stored.version < this.#highest) {
      throw new AuthStateTamperedError(`the stored auth state went back from version ${this.#highest} to ${stored.version}: an older copy was put back`);
    }
    this.#highest = stored.version;
    this.#version = stored.version;
    return JSON.parse(sealed.body) as unknown;
  }

  async save(document: AuthStateDocument): Promise<boolean> {
    const body = JSON.stringify(document);
    const version = (this.#version ?? 0) + 1;
    const sealed: SealedAuthState = { body, mac: this.#mac(version, body).toString("hex") };
    try {
      await this.#store.writeState(sealed, this.#version, AUTH_STATE_ITEM);
    } catch (error) {
      if (error instanceof VaultConflictError) return false;
      throw error;
    }
    this.#version = version;
    this.#highest = version;
    return true;
  }

  wipe(): void {
    this.#macKey.fill(0);
  }

  #mac(version: number, body: string): Buffer {
    const versionBytes = Buffer.alloc(8);
    versionBytes.writeBigUInt64BE(BigInt(version));
    return createHmac("sha256", this.#macKey).update(`${MAC_CONTEXT}\0${this.#vaultId}\0`).update(versionBytes).update(body, "utf8").digest();
  }
}

export interface SharedAuthOptions {
  readonly vault: Vault;
  readonly store: VaultStore;
  readonly tokens: TokenStore;
  readonly log: Logger;
  /** How often an unsealed instance re-reads the item; default 5 s. */
  readonly refreshMs?: number;
}

/** Keeps `tokens` attached to the vault's auth state while the vault is unsealed; returns a stop function. */
export function shareAuthThroughVault(options: SharedAuthOptions): () => void {
  const { vault, store, tokens, log } = options;
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  let backend: VaultAuthBackend | undefined;
  let timer: NodeJS.Timeout | undefined;

  const detach = (reason: string) => {
    clearInterval(timer);
    timer = undefined;
    backend?.wipe();
    backend = undefined;
    tokens.detach(reason);
  };

  const attach = () => {
    detach("the vault is being unsealed");
    const tokenSecret = vault.deriveKey("auth token hmac");
    const current = new VaultAuthBackend(store, vault.deriveKey("auth state mac"), vault.status().vaultId!);
    backend = current;
    tokens
      .attach(tokenSecret, current, `the auth state in table ${store.stateTable}`)
      .then(
        () => {
          if (backend !== current) return;
          log.info({ tokens: tokens.listTokens().length, policies: tokens.listPolicies().length }, "tokens and policies loaded from the vault's state table");
          timer = setInterval(() => {
            tokens.reload().catch((error: unknown) => log.error({ reason: (error as Error).message }, "re-reading the shared auth state failed; the tokens and policies in memory stay"));
          }, refreshMs);
          timer.unref();
        },
        (error: unknown) => {
          if (backend !== current) return;
          const reason = `the stored tokens and policies were refused (${(error as Error).message}); only the configured administrator is accepted`;
          log.error({ reason: (error as Error).message }, "the shared auth state was refused; only the configured administrator is accepted until it is repaired");
          detach(reason);
        },
      )
      .finally(() => tokenSecret.fill(0));
  };

  const stopUnseal = vault.onUnseal(attach);
  const stopSeal = vault.onSeal(() => detach("the vault is sealed"));
  if (vault.unsealed) attach();
  return () => {
    stopUnseal();
    stopSeal();
    detach("the signer is stopping");
  };
}
