import { VaultError } from "./errors.ts";
import { openGcm, sealGcm, SHARE_WRAP_NONCE_BYTES as NONCE_BYTES, SHARE_WRAP_TAG_BYTES as TAG_BYTES } from "./share-wrap.ts";

/**
 * A validator secret key sealed under the master key:
 *
 *   version (1 byte, 0x01) ‖ nonce (12) ‖ ciphertext (32) ‖ GCM tag (16)
 *
 * AES-256-GCM with AAD = "strongroom-validator-key-v1" ‖ public key, so a
 * blob only opens for the public key it was sealed for: swapping two rows of
 * the store, or replaying one under another key's name, fails authentication
 * instead of signing with the wrong key. The prefix separates this use of the
 * master key from any other (share wrapping and the like) and carries the
 * format version; it has a fixed length, so prefix ‖ key is unambiguous.
 *
 * Nonces are 96 random bits per seal. NIST SP 800-38D §8.3 caps one key at
 * 2^32 encryptions with random nonces (keeping the collision chance below
 * 2^-32); one master key seals one blob per validator key (plus re-seals on
 * import), and 2^32 validator keys is far beyond any deployment.
 */
export const ENVELOPE_VERSION = 1;
export const MASTER_KEY_BYTES = 32;
/** BLS12-381 compressed G1 public key, as Ethereum validators use. */
export const VALIDATOR_PUBLIC_KEY_BYTES = 48;
export const VALIDATOR_SECRET_KEY_BYTES = 32;
export const SEALED_VALIDATOR_KEY_BYTES = 1 + NONCE_BYTES + VALIDATOR_SECRET_KEY_BYTES + TAG_BYTES;

const AAD_PREFIX = new TextEncoder().encode("strongroom-validator-key-v1");

function checkBytes(value: unknown, length: number, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new VaultError(`${what} must be ${length} bytes`);
  }
}

function aadFor(publicKey: Uint8Array): Uint8Array {
  const aad = new Uint8Array(AAD_PREFIX.length + publicKey.length);
  aad.set(AAD_PREFIX);
  aad.set(publicKey, AAD_PREFIX.length);
  return aad;
}

/** Seal a validator's 32-byte secret key under the master key, bound to its public key. */
export function sealValidatorKey(masterKey: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array {
  checkBytes(masterKey, MASTER_KEY_BYTES, "master key");
  checkBytes(publicKey, VALIDATOR_PUBLIC_KEY_BYTES, "validator public key");
  checkBytes(secretKey, VALIDATOR_SECRET_KEY_BYTES, "validator secret key");

  const { nonce, ciphertext } = sealGcm(masterKey, aadFor(publicKey), secretKey);
  const blob = new Uint8Array(SEALED_VALIDATOR_KEY_BYTES);
  blob[0] = ENVELOPE_VERSION;
  blob.set(nonce, 1);
  blob.set(ciphertext, 1 + NONCE_BYTES);
  return blob;
}

/**
 * Open a sealed validator key; the caller zeroes the result. Every failure
 * is a VaultError that names the kind of problem only: authentication cannot
 * tell a wrong master key from a wrong public key or an altered blob.
 */
export function openValidatorKey(masterKey: Uint8Array, publicKey: Uint8Array, blob: Uint8Array): Uint8Array {
  checkBytes(masterKey, MASTER_KEY_BYTES, "master key");
  checkBytes(publicKey, VALIDATOR_PUBLIC_KEY_BYTES, "validator public key");
  if (!(blob instanceof Uint8Array) || blob.length === 0) throw new VaultError("sealed validator key must be non-empty bytes");
  if (blob[0] !== ENVELOPE_VERSION) throw new VaultError(`sealed validator key: unknown version ${blob[0]}`);
  checkBytes(blob, SEALED_VALIDATOR_KEY_BYTES, "sealed validator key");

  const secretKey = openGcm(masterKey, aadFor(publicKey), blob.subarray(1, 1 + NONCE_BYTES), blob.subarray(1 + NONCE_BYTES));
  if (secretKey === undefined) throw new VaultError("sealed validator key does not open: wrong master key, wrong public key or altered blob");
  return secretKey;
}
