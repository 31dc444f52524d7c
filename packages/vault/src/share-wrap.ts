import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { VaultError } from "./errors.ts";

/**
 * AES-256-GCM as the vault uses it everywhere: around a Shamir share value
 * (under a key derived from an operator credential, or a KMS data key) and
 * around a validator key (under the master key), with associated data that
 * binds the ciphertext to everything public about it (see `shareWrapAad`). The key is fresh for
 * every wrap (fresh salt or challenge), so a random 96-bit nonce is far from
 * any reuse bound; it is random anyway, not fixed, so a caller reusing a
 * derived key by mistake does not reuse a nonce too.
 */
export const SHARE_WRAP_KEY_BYTES = 32;
export const SHARE_WRAP_NONCE_BYTES = 12;
export const SHARE_WRAP_TAG_BYTES = 16;

const encoder = new TextEncoder();

/**
 * The associated data of a wrapped share: a fixed, versioned domain label,
 * then length-prefixed fields (u16 big-endian length ‖ bytes), so no two
 * different field lists encode to the same bytes. Everything public in the
 * stored record goes in: moving the ciphertext to another share index,
 * operator or credential id, or altering its KDF parameters, salt or
 * challenge, makes authentication fail.
 */
export function shareWrapAad(label: string, fields: readonly (string | Uint8Array | number)[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(label)];
  for (const field of fields) {
    if (typeof field === "number") {
      if (!Number.isInteger(field) || field < 0 || field > 0xffffffff) throw new VaultError("share wrap: numeric field out of range");
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, field);
      parts.push(bytes);
    } else {
      const bytes = typeof field === "string" ? encoder.encode(field) : field;
      if (bytes.length > 0xffff) throw new VaultError("share wrap: field too long");
      const length = new Uint8Array(2);
      new DataView(length.buffer).setUint16(0, bytes.length);
      parts.push(length, bytes);
    }
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const aad = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    aad.set(part, offset);
    offset += part.length;
  }
  return aad;
}

/** Encrypt `value` under a 32-byte key; returns the nonce and ciphertext ‖ tag (neither secret). */
export function sealGcm(key: Uint8Array, aad: Uint8Array, value: Uint8Array): { nonce: Uint8Array; ciphertext: Uint8Array } {
  if (key.length !== SHARE_WRAP_KEY_BYTES) throw new VaultError(`an AES-256-GCM key must be ${SHARE_WRAP_KEY_BYTES} bytes`);
  const nonce = new Uint8Array(randomBytes(SHARE_WRAP_NONCE_BYTES));
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: SHARE_WRAP_TAG_BYTES });
  cipher.setAAD(aad);
  const first = cipher.update(value);
  const last = cipher.final();
  const tag = cipher.getAuthTag();
  const ciphertext = new Uint8Array(first.length + last.length + tag.length);
  ciphertext.set(first);
  ciphertext.set(last, first.length);
  ciphertext.set(tag, first.length + last.length);
  return { nonce, ciphertext };
}

/**
 * Decrypt, or return undefined when authentication fails (each caller turns
 * that into its own refusal). Plaintext that
 * GCM hands out before the tag check is zeroed unless the check passes.
 */
export function openGcm(key: Uint8Array, aad: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  if (key.length !== SHARE_WRAP_KEY_BYTES || nonce.length !== SHARE_WRAP_NONCE_BYTES || ciphertext.length <= SHARE_WRAP_TAG_BYTES) {
    return undefined;
  }
  const body = ciphertext.subarray(0, ciphertext.length - SHARE_WRAP_TAG_BYTES);
  const tag = ciphertext.subarray(ciphertext.length - SHARE_WRAP_TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: SHARE_WRAP_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const first = decipher.update(body);
  let last: Buffer;
  try {
    last = decipher.final();
  } catch {
    first.fill(0);
    return undefined;
  }
  const value = new Uint8Array(first.length + last.length);
  value.set(first);
  value.set(last, first.length);
  first.fill(0);
  last.fill(0);
  return value;
}
