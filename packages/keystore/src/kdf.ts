import { pbkdf2Sync, scryptSync } from "node:crypto";
import { KeystoreError } from "./errors.ts";

/** EIP-2335 KDFs as this package accepts them; dklen is always 32. */
export interface ScryptParams {
  function: "scrypt";
  dklen: 32;
  n: number;
  r: number;
  p: number;
  salt: Uint8Array;
}
export interface Pbkdf2Params {
  function: "pbkdf2";
  dklen: 32;
  c: number;
  prf: "hmac-sha256";
  salt: Uint8Array;
}
export type KdfParams = ScryptParams | Pbkdf2Params;

// Bounds refuse keystores built to exhaust the signer before any work is
// done. They leave room far above what key generators write (scrypt
// n=2^18 r=8 p=1: 256 MiB and ~1 s; pbkdf2 c=2^18).
export const KDF_LIMITS = {
  scryptMaxN: 2 ** 20,
  scryptMaxR: 32,
  scryptMaxP: 16,
  /** 128·n·r bytes of scrypt working memory, per derivation (per thread). */
  scryptMaxMemory: 512 * 1024 * 1024,
  /** n·r·p: total scrypt work, 8x the usual 2^18·8·1. */
  scryptMaxWork: 2 ** 24,
  pbkdf2MaxC: 2 ** 24,
  maxSaltBytes: 1024,
} as const;

function check(ok: boolean, field: string, what: string): void {
  if (!ok) throw new KeystoreError(`${field}: ${what}`);
}

/** Refuse out-of-bounds parameters; `field` names them in the message. */
export function checkKdfBounds(kdf: KdfParams, field: string): void {
  check(kdf.salt.length <= KDF_LIMITS.maxSaltBytes, `${field}.salt`, `at most ${KDF_LIMITS.maxSaltBytes} bytes`);
  if (kdf.function === "pbkdf2") {
    check(Number.isSafeInteger(kdf.c) && kdf.c >= 1 && kdf.c <= KDF_LIMITS.pbkdf2MaxC, `${field}.c`, `must be an integer from 1 to 2^24`);
    return;
  }
  const { n, r, p } = kdf;
  check(Number.isSafeInteger(n) && n >= 2 && n <= KDF_LIMITS.scryptMaxN && (n & (n - 1)) === 0, `${field}.n`, "must be a power of two from 2 to 2^20");
  check(Number.isSafeInteger(r) && r >= 1 && r <= KDF_LIMITS.scryptMaxR, `${field}.r`, `must be an integer from 1 to ${KDF_LIMITS.scryptMaxR}`);
  check(Number.isSafeInteger(p) && p >= 1 && p <= KDF_LIMITS.scryptMaxP, `${field}.p`, `must be an integer from 1 to ${KDF_LIMITS.scryptMaxP}`);
  check(128 * n * r <= KDF_LIMITS.scryptMaxMemory, field, "scrypt n·r needs more than 512 MiB of memory");
  check(n * r * p <= KDF_LIMITS.scryptMaxWork, field, "scrypt n·r·p exceeds 2^24");
}

/**
 * Derive the 32-byte EIP-2335 decryption key from a normalised password.
 * The caller zeroes the result. Bounds are checked again here because a
 * Keystore may also arrive by structured clone, not only from parseKeystore.
 */
export function deriveKey(kdf: KdfParams, password: Uint8Array): Uint8Array {
  checkKdfBounds(kdf, "kdf");
  if (kdf.function === "pbkdf2") return pbkdf2Sync(password, kdf.salt, kdf.c, kdf.dklen, "sha256");
  const { n: N, r, p } = kdf;
  // OpenSSL refuses when p·128·r + 128·r·(N+2) exceeds maxmem (Node's default
  // is 32 MiB, too little for n=2^18 r=8), so allow exactly what these
  // already-bounded parameters need.
  const maxmem = 128 * r * (N + 2 + p);
  return scryptSync(password, kdf.salt, kdf.dklen, { N, r, p, maxmem });
}
