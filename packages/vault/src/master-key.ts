import { hkdfSync, randomFillSync } from "node:crypto";
import { VaultError } from "./errors.ts";
import { MASTER_KEY_BYTES } from "./envelope.ts";

/** At least 256 bits from the Nitro Security Module's GetRandom. */
export const MIN_NSM_RANDOM_BYTES = 32;
/** A bound on the input, not on its quality: NSM returns a few hundred bytes. */
export const MAX_NSM_RANDOM_BYTES = 1024;
const OS_RANDOM_BYTES = 32;
const INFO = new TextEncoder().encode("strongroom-master-key-v1");

/**
 * A fresh 256-bit master key from two independent sources: the NSM's
 * hardware randomness (passed in, as only the enclave can ask for it) and
 * the OS RNG (drawn here). Their concatenation is the input keying material
 * of HKDF-SHA256 (RFC 5869; empty salt, fixed info label): HKDF-Extract is a
 * randomness extractor, so the key is uniform as long as either part has 256
 * bits of entropy unknown to an attacker. A broken or backdoored NSM alone,
 * or a weak early-boot OS pool alone, does not weaken the key.
 *
 * The caller zeroes `nsmRandom` and, when done, the key; the OS bytes and the
 * concatenation made here are zeroed before returning. (Node copies the IKM
 * into OpenSSL for the derivation; that copy is out of our reach.)
 */
export function generateMasterKey(nsmRandom: Uint8Array): Uint8Array {
  if (!(nsmRandom instanceof Uint8Array) || nsmRandom.length < MIN_NSM_RANDOM_BYTES || nsmRandom.length > MAX_NSM_RANDOM_BYTES) {
    throw new VaultError(`NSM randomness must be ${MIN_NSM_RANDOM_BYTES} to ${MAX_NSM_RANDOM_BYTES} bytes`);
  }
  const ikm = new Uint8Array(nsmRandom.length + OS_RANDOM_BYTES);
  try {
    ikm.set(nsmRandom);
    randomFillSync(ikm, nsmRandom.length, OS_RANDOM_BYTES);
    return new Uint8Array(hkdfSync("sha256", ikm, new Uint8Array(0), INFO, MASTER_KEY_BYTES));
  } finally {
    ikm.fill(0);
  }
}
