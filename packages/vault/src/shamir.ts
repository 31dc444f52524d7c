import { randomFillSync } from "node:crypto";
import { VaultError } from "./errors.ts";
import { gfDiv, gfMul } from "./gf256.ts";

/**
 * One Shamir share: the evaluations, byte by byte, of the secret's random
 * polynomials at x = index. The index is public (it says which share this
 * is); the value is secret and the holder zeroes it when done.
 */
export interface Share {
  /** The x coordinate, 1..255 (0 would be the secret itself). */
  index: number;
  value: Uint8Array;
}

export const SHAMIR_LIMITS = {
  /** Every index is a distinct non-zero byte. */
  maxShares: 255,
  /** The master key is 32 bytes; 1 KiB leaves room without inviting abuse. */
  maxSecretBytes: 1024,
} as const;

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= SHAMIR_LIMITS.maxShares;
}

/**
 * Split `secret` into `shares` shares, any `threshold` of which rebuild it
 * and fewer of which say nothing about it. Each byte gets its own polynomial
 * of degree threshold − 1 over GF(2^8) whose constant term is the byte and
 * whose other coefficients are uniformly random (zero included: forcing a
 * non-zero top coefficient would bias the distribution, not improve it).
 * Share i (i = 1..shares) is the evaluation at x = i.
 *
 * Threshold 1 is accepted only for a single share (1-of-1, a plain copy of
 * the secret): 1-of-n with n > 1 would just hand out n copies of the secret,
 * which is never what a caller configuring a quorum means.
 */
export function splitSecret(secret: Uint8Array, threshold: number, shares: number): Share[] {
  if (!(secret instanceof Uint8Array) || secret.length < 1 || secret.length > SHAMIR_LIMITS.maxSecretBytes) {
    throw new VaultError(`secret must be 1 to ${SHAMIR_LIMITS.maxSecretBytes} bytes`);
  }
  if (!isCount(shares)) throw new VaultError(`share count must be an integer from 1 to ${SHAMIR_LIMITS.maxShares}`);
  if (!isCount(threshold) || threshold > shares) {
    throw new VaultError(`threshold must be an integer from 1 to the share count (${shares})`);
  }
  if (threshold === 1 && shares > 1) {
    throw new VaultError("threshold 1 with several shares would give every holder the whole secret; use at least 2");
  }

  const length = secret.length;
  const degree = threshold - 1;
  // coefficients[b * degree + k] is the coefficient of x^(k+1) for byte b.
  const coefficients = new Uint8Array(length * degree);
  randomFillSync(coefficients);
  const out: Share[] = [];
  try {
    for (let index = 1; index <= shares; index++) {
      const value = new Uint8Array(length);
      for (let b = 0; b < length; b++) {
        // Horner from the highest coefficient down to the secret byte.
        let acc = 0;
        for (let k = degree - 1; k >= 0; k--) acc = gfMul(acc, index) ^ coefficients[b * degree + k]!;
        value[b] = gfMul(acc, index) ^ secret[b]!;
      }
      out.push({ index, value });
    }
    return out;
  } catch (error) {
    for (const share of out) share.value.fill(0);
    throw error;
  } finally {
    coefficients.fill(0);
  }
}

/**
 * Rebuild the secret from at least `threshold` shares. Every share given is
 * checked (index an integer 1..255, all indices distinct, all values the same
 * length, 1..1024 bytes); then exactly the first `threshold` of them are
 * interpolated and the rest are ignored. Shamir has no integrity of its own:
 * a wrong or corrupted share, or a threshold lower than the one used to
 * split, yields a wrong secret without any error. Callers detect that one
 * level up (the master key must open the sealed store).
 */
export function combineShares(shares: readonly Share[], threshold: number): Uint8Array {
  if (!isCount(threshold)) throw new VaultError(`threshold must be an integer from 1 to ${SHAMIR_LIMITS.maxShares}`);
  if (!Array.isArray(shares)) throw new VaultError("shares must be an array");
  if (shares.length < threshold) throw new VaultError(`need at least ${threshold} share${threshold === 1 ? "" : "s"}, got ${shares.length}`);
  if (shares.length > SHAMIR_LIMITS.maxShares) throw new VaultError(`at most ${SHAMIR_LIMITS.maxShares} shares`);

  const seen = new Uint8Array(256);
  let length = -1;
  for (const [position, share] of shares.entries()) {
    const index: unknown = share?.index;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 1 || index > 255) {
      throw new VaultError(`share ${position}: index must be an integer from 1 to 255`);
    }
    if (seen[index] === 1) throw new VaultError(`share ${position}: index ${index} appears twice`);
    seen[index] = 1;
    const value: unknown = share.value;
    if (!(value instanceof Uint8Array) || value.length < 1 || value.length > SHAMIR_LIMITS.maxSecretBytes) {
      throw new VaultError(`share ${position}: value must be 1 to ${SHAMIR_LIMITS.maxSecretBytes} bytes`);
    }
    if (length === -1) length = value.length;
    else if (value.length !== length) throw new VaultError(`share ${position}: length ${value.length} differs from ${length}`);
  }

  const used = shares.slice(0, threshold);
  // Lagrange basis at x = 0: l_j = Π_{m≠j} x_m / (x_m − x_j); subtraction
  // is XOR in characteristic 2. These depend only on the public indices.
  const basis = new Uint8Array(threshold);
  for (let j = 0; j < threshold; j++) {
    const xj = used[j]!.index;
    let numerator = 1;
    let denominator = 1;
    for (let m = 0; m < threshold; m++) {
      if (m === j) continue;
      const xm = used[m]!.index;
      numerator = gfMul(numerator, xm);
      denominator = gfMul(denominator, xm ^ xj);
    }
    basis[j] = gfDiv(numerator, denominator);
  }

  const secret = new Uint8Array(length);
  for (let b = 0; b < length; b++) {
    let acc = 0;
    for (let j = 0; j < threshold; j++) acc ^= gfMul(used[j]!.value[b]!, basis[j]!);
    secret[b] = acc;
  }
  basis.fill(0);
  return secret;
}
