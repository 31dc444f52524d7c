import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { blsPublicKey } from "./bls.ts";
import { KeystoreError, quoted } from "./errors.ts";
import { decodeHex, encodeHex } from "./hex.ts";
import { checkKdfBounds, deriveKey, type KdfParams } from "./kdf.ts";
import { normalizePassword } from "./password.ts";

/** Real keystores are about 1 KiB; anything this big is refused unparsed. */
export const MAX_KEYSTORE_BYTES = 64 * 1024;

/**
 * A parsed, validated EIP-2335 keystore. Plain data (no class), so it can be
 * structured-cloned to a worker thread. Everything in it is public: the
 * secret is only there encrypted.
 */
export interface Keystore {
  version: 4;
  kdf: KdfParams;
  /** crypto.checksum.message: sha256(DK[16:32] ‖ ciphertext). */
  checksum: Uint8Array;
  /** crypto.cipher.params.iv (aes-128-ctr). */
  iv: Uint8Array;
  /** crypto.cipher.message: the encrypted 32-byte BLS secret key. */
  ciphertext: Uint8Array;
  /** 48-byte compressed public key, when the keystore states one. */
  pubkey: Uint8Array | undefined;
  /** EIP-2334 derivation path; may be empty. */
  path: string | undefined;
  uuid: string | undefined;
  description: string | undefined;
}

/** The EIP-2335 JSON form, as written by encryptKeystore. */
export interface KeystoreJson {
  crypto: {
    kdf:
      | { function: "scrypt"; params: { dklen: 32; n: number; r: number; p: number; salt: string }; message: "" }
      | { function: "pbkdf2"; params: { dklen: 32; c: number; prf: "hmac-sha256"; salt: string }; message: "" };
    checksum: { function: "sha256"; params: Record<string, never>; message: string };
    cipher: { function: "aes-128-ctr"; params: { iv: string }; message: string };
  };
  description?: string;
  pubkey: string;
  path: string;
  uuid: string;
  version: 4;
}

export type KdfChoice = { function: "scrypt"; n: number; r: number; p: number } | { function: "pbkdf2"; c: number };

export interface EncryptOptions {
  /** Default: scrypt n=2^18, r=8, p=1, as the EIP and key generators use. */
  kdf?: KdfChoice;
  path?: string;
  description?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Json = Record<string, unknown>;

function object(value: unknown, field: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new KeystoreError(`${field}: expected an object`);
  }
  return value as Json;
}

function integer(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) throw new KeystoreError(`${field}: expected an integer`);
  return value as number;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new KeystoreError(`${field}: expected a string`);
  return value;
}

function requireFunction(section: Json, field: string, expected: string): void {
  if (section.function !== expected) {
    throw new KeystoreError(`${field}: unsupported function ${quoted(section.function)}, expected "${expected}"`);
  }
}

function parseKdf(crypto: Json): KdfParams {
  const kdf = object(crypto.kdf, "crypto.kdf");
  if (kdf.function !== "scrypt" && kdf.function !== "pbkdf2") {
    throw new KeystoreError(`crypto.kdf.function: unsupported kdf ${quoted(kdf.function)}, expected "scrypt" or "pbkdf2"`);
  }
  const params = object(kdf.params, "crypto.kdf.params");
  if (params.dklen !== 32) throw new KeystoreError("crypto.kdf.params.dklen: must be 32");
  const salt = decodeHex(params.salt, "crypto.kdf.params.salt");
  let parsed: KdfParams;
  if (kdf.function === "scrypt") {
    const n = integer(params.n, "crypto.kdf.params.n");
    const r = integer(params.r, "crypto.kdf.params.r");
    const p = integer(params.p, "crypto.kdf.params.p");
    parsed = { function: "scrypt", dklen: 32, n, r, p, salt };
  } else {
    if (params.prf !== "hmac-sha256") {
      throw new KeystoreError(`crypto.kdf.params.prf: unsupported prf ${quoted(params.prf)}, expected "hmac-sha256"`);
    }
    parsed = { function: "pbkdf2", dklen: 32, c: integer(params.c, "crypto.kdf.params.c"), prf: "hmac-sha256", salt };
  }
  checkKdfBounds(parsed, "crypto.kdf.params");
  return parsed;
}

/**
 * Parse and validate an EIP-2335 keystore: size first, then every field,
 * including the KDF bounds, so nothing expensive happens for a bad file.
 */
export function parseKeystore(input: string | Uint8Array): Keystore {
  const size = typeof input === "string" ? (input.length > MAX_KEYSTORE_BYTES ? Infinity : Buffer.byteLength(input)) : input.byteLength;
  if (size > MAX_KEYSTORE_BYTES) throw new KeystoreError(`keystore is larger than ${MAX_KEYSTORE_BYTES} bytes`);
  let root: Json;
  try {
    const text = typeof input === "string" ? input : new TextDecoder("utf-8", { fatal: true }).decode(input);
    root = JSON.parse(text) as Json;
  } catch {
    // V8's message quotes the input; keep it out of logs.
    throw new KeystoreError("keystore is not valid JSON");
  }
  root = object(root, "keystore");
  if (root.version !== 4) throw new KeystoreError("version: unsupported keystore version, expected 4");
  const crypto = object(root.crypto, "crypto");
  const kdf = parseKdf(crypto);

  const checksum = object(crypto.checksum, "crypto.checksum");
  requireFunction(checksum, "crypto.checksum.function", "sha256");
  const cipher = object(crypto.cipher, "crypto.cipher");
  requireFunction(cipher, "crypto.cipher.function", "aes-128-ctr");
  const cipherParams = object(cipher.params, "crypto.cipher.params");

  const uuid = optionalString(root.uuid, "uuid");
  if (uuid !== undefined && !UUID.test(uuid)) throw new KeystoreError("uuid: not a UUID");
  const pubkey = root.pubkey === undefined || root.pubkey === "" ? undefined : decodeHex(root.pubkey, "pubkey", 48);
  return {
    version: 4,
    kdf,
    checksum: decodeHex(checksum.message, "crypto.checksum.message", 32),
    iv: decodeHex(cipherParams.iv, "crypto.cipher.params.iv", 16),
    ciphertext: decodeHex(cipher.message, "crypto.cipher.message", 32),
    pubkey,
    path: optionalString(root.path, "path"),
    uuid,
    description: optionalString(root.description, "description"),
  };
}

function checksumOf(dk: Uint8Array, ciphertext: Uint8Array): Buffer {
  return createHash("sha256").update(dk.subarray(16, 32)).update(ciphertext).digest();
}

/** AES-128-CTR under DK[0:16]; output copied into a fresh array the caller owns. */
function aes128ctr(decrypt: boolean, dk: Uint8Array, iv: Uint8Array, input: Uint8Array): Uint8Array {
  const key = dk.subarray(0, 16);
  const cipher = decrypt ? createDecipheriv("aes-128-ctr", key, iv) : createCipheriv("aes-128-ctr", key, iv);
  const head = cipher.update(input);
  const tail = cipher.final(); // empty: CTR is a stream cipher
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  head.fill(0);
  return out;
}

/**
 * Decrypt a keystore with the raw (not yet normalised) password bytes and
 * return the 32-byte secret key, which the caller owns and zeroes. The key is
 * checked to be a valid BLS secret key matching the keystore's pubkey.
 * Synchronous and deliberately slow (that is the KDF's job): servers call it
 * through KeystoreDecryptPool. The password stays the caller's to zero.
 */
export function decryptKeystore(keystore: Keystore, password: Uint8Array): Uint8Array {
  const normalised = normalizePassword(password);
  let dk: Uint8Array;
  try {
    dk = deriveKey(keystore.kdf, normalised);
  } finally {
    normalised.fill(0);
  }
  let secretKey: Uint8Array;
  try {
    if (!timingSafeEqual(checksumOf(dk, keystore.ciphertext), keystore.checksum)) {
      throw new KeystoreError("checksum mismatch: wrong password");
    }
    secretKey = aes128ctr(true, dk, keystore.iv, keystore.ciphertext);
  } finally {
    dk.fill(0);
  }
  try {
    const publicKey = blsPublicKey(secretKey, "the decrypted secret");
    if (keystore.pubkey !== undefined && !Buffer.from(publicKey).equals(keystore.pubkey)) {
      throw new KeystoreError("pubkey mismatch: the decrypted secret key does not belong to the keystore's pubkey");
    }
    return secretKey;
  } catch (error) {
    secretKey.fill(0);
    throw error;
  }
}

/**
 * Encrypt a BLS secret key into an EIP-2335 keystore (for tests, benchmarks
 * and demo keys). Both inputs stay the caller's to zero.
 */
export function encryptKeystore(secretKey: Uint8Array, password: Uint8Array, options: EncryptOptions = {}): KeystoreJson {
  const choice = options.kdf ?? { function: "scrypt", n: 2 ** 18, r: 8, p: 1 };
  const salt = new Uint8Array(randomBytes(32));
  const kdf: KdfParams =
    choice.function === "scrypt"
      ? { function: "scrypt", dklen: 32, n: choice.n, r: choice.r, p: choice.p, salt }
      : { function: "pbkdf2", dklen: 32, c: choice.c, prf: "hmac-sha256", salt };
  const pubkey = blsPublicKey(secretKey, "the secret key");
  const iv = new Uint8Array(randomBytes(16));
  const normalised = normalizePassword(password);
  let dk: Uint8Array;
  try {
    dk = deriveKey(kdf, normalised);
  } finally {
    normalised.fill(0);
  }
  let ciphertext: Uint8Array;
  let checksum: Buffer;
  try {
    ciphertext = aes128ctr(false, dk, iv, secretKey);
    checksum = checksumOf(dk, ciphertext);
  } finally {
    dk.fill(0);
  }
  const { dklen } = kdf;
  return {
    crypto: {
      kdf:
        kdf.function === "scrypt"
          ? { function: "scrypt", params: { dklen, n: kdf.n, r: kdf.r, p: kdf.p, salt: encodeHex(salt) }, message: "" }
          : { function: "pbkdf2", params: { dklen, c: kdf.c, prf: kdf.prf, salt: encodeHex(salt) }, message: "" },
      checksum: { function: "sha256", params: {}, message: encodeHex(checksum) },
      cipher: { function: "aes-128-ctr", params: { iv: encodeHex(iv) }, message: encodeHex(ciphertext) },
    },
    ...(options.description === undefined ? {} : { description: options.description }),
    pubkey: encodeHex(pubkey),
    path: options.path ?? "",
    uuid: randomUUID(),
    version: 4,
  };
}
