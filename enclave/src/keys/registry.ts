import type { SigningPool } from "../signing/signing-pool.ts";

export interface KeyInfo {
  /** Canonical 0x-prefixed lower-case hex. */
  readonly publicKey: string;
  /** Where the key came from: a file path, "keymanager" for memory-only API imports, "vault" for the sealed store. */
  readonly source: string;
  /** Keys loaded from operator files cannot be deleted through the Key Manager API. */
  readonly readonly: boolean;
  readonly derivationPath: string;
}

/**
 * The set of keys the signer can use. Public information lives here; the
 * secret material lives only inside the signing pool's workers.
 */
export class KeyRegistry {
  private readonly keys = new Map<string, KeyInfo>();
  private readonly pool: SigningPool;

  constructor(pool: SigningPool) {
    this.pool = pool;
  }

  /** Adds a key, taking ownership of (and zeroing) the secret. Returns false for a duplicate. */
  add(info: KeyInfo, secretKey: Uint8Array): boolean {
    if (this.keys.has(info.publicKey)) {
      secretKey.fill(0);
      return false;
    }
    this.keys.set(info.publicKey, info);
    this.pool.addKey(info.publicKey, secretKey);
    return true;
  }

  remove(publicKey: string): boolean {
    if (!this.keys.delete(publicKey)) return false;
    this.pool.removeKey(publicKey);
    return true;
  }

  /** Every key out at once (a seal): the workers drop their copies in one message each. */
  clear(): void {
    this.keys.clear();
    this.pool.clearKeys();
  }

  get(publicKey: string): KeyInfo | undefined {
    return this.keys.get(publicKey);
  }

  list(): KeyInfo[] {
    return [...this.keys.values()];
  }

  get size(): number {
    return this.keys.size;
  }

  sign(publicKey: string, signingRoot: Uint8Array): Promise<Uint8Array> {
    return this.pool.sign(publicKey, signingRoot);
  }
}
