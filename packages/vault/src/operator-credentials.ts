import { hkdfSync, randomBytes, scrypt } from "node:crypto";
import { VaultError } from "./errors.ts";
import type { Share } from "./shamir.ts";
import { SHAMIR_LIMITS } from "./shamir.ts";
import { openGcm, sealGcm, SHARE_WRAP_KEY_BYTES, SHARE_WRAP_NONCE_BYTES, SHARE_WRAP_TAG_BYTES, shareWrapAad } from "./share-wrap.ts";

/**
 * Operator credentials (DESIGN.md §7): a Shamir share of the master key,
 * wrapped so that one operator alone can unwrap it inside the enclave by
 * submitting a credential over aTLS. Two kinds:
 *
 * - "passphrase": scrypt (RFC 7914) derives an AES-256 key from the
 *   passphrase and a 16-byte random salt. The wrapped record sits in
 *   DynamoDB, which the parent instance (untrusted) can read, so it is open
 *   to offline guessing; scrypt makes each guess cost 128 MiB and ~0.3-0.6 s.
 * - "hmac-sha1": YubiKey-style challenge-response (the OTP applet's
 *   HMAC-SHA1 slot). At registration the enclave draws a 32-byte challenge
 *   (`newHmacChallenge`) and stores it; the operator's token answers
 *   HMAC-SHA1(slot secret, challenge), 20 bytes; HKDF-SHA256 of that response
 *   is the wrapping key. At unseal the operator submits the response to the
 *   stored challenge again.
 *
 * An operator may register several credentials (a passphrase and a token, or
 * two tokens): each wraps the same share separately under its own
 * credential id. Every failure to unwrap with a well-formed submission is
 * one `VaultError("wrong credential")`: it never says whether the operator,
 * the kind, the passphrase or the response was wrong. Rate limiting of those
 * failures is `CredentialAttempts` (attempts.ts), kept separate.
 */

export const OPERATOR_CREDENTIAL_VERSION = 1;

/**
 * scrypt's cost, as the enclave writes it. EIP-2335 keystores (and
 * go-ethereum's "standard" setting) use N = 2^18, r = 8, p = 1: 256 MiB and
 * about a second. Here N = 2^17 (128·r·N = 128 MiB, ~0.3-0.6 s): half the
 * memory, because a derivation must fit in a fixed-size enclave beside tens
 * of thousands of validator keys, and operators unseal interactively. 128
 * MiB per guess still makes GPU and ASIC guessing expensive; the minimum
 * passphrase length does the rest. p = 1: parallelism would only help an
 * attacker with more cores than the enclave. The 32-byte output is the
 * AES-256 key as is; the 16-byte salt is random per wrap.
 */
export const SCRYPT_PARAMETERS = { logN: 17, r: 8, p: 1, keyBytes: 32, saltBytes: 16 } as const;

/**
 * What `unwrapShare` accepts when reading a record back: the stored record
 * comes from DynamoDB, which the untrusted parent could edit, so the cost
 * read from it is bounded (no multi-GiB allocation, no minute-long
 * derivation). Lowering the cost of a stored record gains nothing: the key
 * it derives differs and the parameters are in the AAD.
 */
export const SCRYPT_ACCEPTED = { minLogN: 14, maxLogN: 18, maxR: 16, maxP: 4, maxMemoryBytes: 256 * 1024 * 1024 } as const;

/** The 32-byte random challenge stored for an HMAC-SHA1 credential, and the token's 20-byte answer. */
export const HMAC_CHALLENGE_BYTES = 32;
export const HMAC_SHA1_RESPONSE_BYTES = 20;

/**
 * Passphrases are bytes (the client reads them from a terminal or file and
 * zeroes them; they are never JavaScript strings here, so no NFKC
 * normalisation happens either: EIP-2335's NFKC step works on strings, and
 * turning the bytes into one would leave copies in the heap that cannot be
 * zeroed. The client must send the same bytes at registration and unseal;
 * the CLI is the place to normalise if it wants to). At least 12 bytes when
 * registering: the wrapped record is offline-attackable, and scrypt only
 * multiplies the cost of guessing a passphrase that has entropy to begin
 * with. At most 1 KiB.
 */
export const PASSPHRASE_LIMITS = { minBytes: 12, maxBytes: 1024 } as const;

/** Operator and credential ids: public names, also part of the AAD. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/;

const AAD_LABEL = "strongroom-operator-share-v1";
/** HKDF info for the HMAC-SHA1 kind; the salt is the stored challenge. */
const HMAC_KDF_INFO = new TextEncoder().encode("strongroom-operator-share-hmac-sha1-v1");

export type OperatorCredentialInput =
  | { readonly kind: "passphrase"; readonly credentialId: string; readonly passphrase: Uint8Array }
  | {
      readonly kind: "hmac-sha1";
      readonly credentialId: string;
      /** From `newHmacChallenge()`, drawn by the enclave for this registration. */
      readonly challenge: Uint8Array;
      /** The token's HMAC-SHA1(slot secret, challenge). */
      readonly response: Uint8Array;
    };

/** What the operator submits at unseal for one wrapped share. The caller zeroes the bytes afterwards. */
export type CredentialSubmission =
  | { readonly kind: "passphrase"; readonly passphrase: Uint8Array }
  | { readonly kind: "hmac-sha1"; readonly response: Uint8Array };

interface WrappedShareCommon {
  readonly version: 1;
  readonly credentialId: string;
  readonly operatorId: string;
  /** The share's x coordinate (public). */
  readonly shareIndex: number;
  /** Hex, 12 bytes. */
  readonly nonce: string;
  /** Hex: AES-256-GCM ciphertext of the share value ‖ 16-byte tag. */
  readonly ciphertext: string;
}

export interface PassphraseWrappedShare extends WrappedShareCommon {
  readonly kind: "passphrase";
  readonly kdf: { readonly name: "scrypt"; readonly logN: number; readonly r: number; readonly p: number; /** hex, 16 bytes */ readonly salt: string };
}

export interface HmacWrappedShare extends WrappedShareCommon {
  readonly kind: "hmac-sha1";
  /**
   * The challenge is stored in the clear. That is by design, as with any
   * YubiKey challenge-response: the slot secret never leaves the token, and
   * the response is what protects the share. It follows that a response to
   * this challenge, once seen (a compromised operator machine, a log), unwraps
   * the share as long as this record exists: rotation re-registers with a new
   * challenge, which retires the old response.
   */
  readonly kdf: { readonly name: "hkdf-sha256"; /** hex, 32 bytes */ readonly challenge: string };
}

/** A share wrapped for one operator credential: JSON-serialisable, nothing secret in clear. */
export type WrappedShare = PassphraseWrappedShare | HmacWrappedShare;

/** A fresh random challenge for registering an HMAC-SHA1 credential. */
export function newHmacChallenge(): Uint8Array {
  return new Uint8Array(randomBytes(HMAC_CHALLENGE_BYTES));
}

const toHex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

function fromHex(value: unknown, length: number | undefined, what: string): Uint8Array {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{2})*$/.test(value) || (length !== undefined && value.length !== 2 * length)) {
    throw new VaultError(`wrapped share malformed: ${what} must be ${length === undefined ? "" : `${length} bytes of `}lowercase hex`);
  }
  return new Uint8Array(Buffer.from(value, "hex"));
}

function checkId(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || !ID_PATTERN.test(value)) {
    throw new VaultError(`${what} must be 1 to 128 characters of A-Z a-z 0-9 . _ @ : + - (starting with a letter or digit)`);
  }
}

function checkShare(share: unknown): asserts share is Share {
  const s = share as Share | undefined;
  if (typeof s?.index !== "number" || !Number.isInteger(s.index) || s.index < 1 || s.index > 255) {
    throw new VaultError("share index must be an integer from 1 to 255");
  }
  if (!(s.value instanceof Uint8Array) || s.value.length < 1 || s.value.length > SHAMIR_LIMITS.maxSecretBytes) {
    throw new VaultError(`share value must be 1 to ${SHAMIR_LIMITS.maxSecretBytes} bytes`);
  }
}

function checkBytes(value: unknown, what: string, min: number, max: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length < min || value.length > max) {
    throw new VaultError(min === max ? `${what} must be ${min} bytes` : `${what} must be ${min} to ${max} bytes`);
  }
}

function passphraseAad(w: { operatorId: string; credentialId: string; shareIndex: number }, logN: number, r: number, p: number, salt: Uint8Array) {
  return shareWrapAad(AAD_LABEL, ["passphrase", w.shareIndex, w.operatorId, w.credentialId, "scrypt", logN, r, p, salt]);
}

function hmacAad(w: { operatorId: string; credentialId: string; shareIndex: number }, challenge: Uint8Array) {
  return shareWrapAad(AAD_LABEL, ["hmac-sha1", w.shareIndex, w.operatorId, w.credentialId, "hkdf-sha256", challenge]);
}

/** scrypt's working memory as OpenSSL counts it (EVP_PBE_scrypt: 128·r·p + 128·r·(N+2)); maxmem is set to exactly this. */
const scryptMemory = (logN: number, r: number, p: number) => 128 * r * (2 ** logN + p + 2);

/**
 * scrypt derivations run one at a time: each takes 128 MiB, and the enclave's
 * memory is fixed, so several operators (or an attacker) submitting at once
 * queue here instead of exhausting it.
 */
let scryptQueue: Promise<unknown> = Promise.resolve();

function scryptKey(passphrase: Uint8Array, salt: Uint8Array, logN: number, r: number, p: number): Promise<Uint8Array> {
  const derive = () =>
    new Promise<Uint8Array>((resolve, reject) => {
      const N = 2 ** logN;
      try {
        scrypt(passphrase, salt, SHARE_WRAP_KEY_BYTES, { N, r, p, maxmem: scryptMemory(logN, r, p) }, (error, key) => {
          if (error) {
            reject(new VaultError("scrypt derivation failed", { cause: error }));
            return;
          }
          const out = new Uint8Array(key);
          key.fill(0);
          resolve(out);
        });
      } catch (error) {
        reject(new VaultError("scrypt derivation failed", { cause: error }));
      }
    });
  const run = scryptQueue.then(derive);
  scryptQueue = run.catch(() => undefined);
  return run;
}

function hmacKey(response: Uint8Array, challenge: Uint8Array): Uint8Array {
  const derived = new Uint8Array(hkdfSync("sha256", response, challenge, HMAC_KDF_INFO, SHARE_WRAP_KEY_BYTES));
  return derived;
}

/**
 * Wrap `share` for `operatorId` under one credential. The caller keeps and
 * zeroes the share and the credential bytes; the result holds no secret.
 */
export async function wrapShareForOperator(share: Share, operatorId: string, credential: OperatorCredentialInput): Promise<WrappedShare> {
  checkShare(share);
  checkId(operatorId, "operator id");
  checkId(credential?.credentialId, "credential id");
  const meta = { operatorId, credentialId: credential.credentialId, shareIndex: share.index };

  if (credential.kind === "passphrase") {
    checkBytes(credential.passphrase, "passphrase", PASSPHRASE_LIMITS.minBytes, PASSPHRASE_LIMITS.maxBytes);
    const { logN, r, p, saltBytes } = SCRYPT_PARAMETERS;
    const salt = new Uint8Array(randomBytes(saltBytes));
    const key = await scryptKey(credential.passphrase, salt, logN, r, p);
    try {
      const { nonce, ciphertext } = sealGcm(key, passphraseAad(meta, logN, r, p, salt), share.value);
      return {
        version: OPERATOR_CREDENTIAL_VERSION,
        kind: "passphrase",
        ...meta,
        kdf: { name: "scrypt", logN, r, p, salt: toHex(salt) },
        nonce: toHex(nonce),
        ciphertext: toHex(ciphertext),
      };
    } finally {
      key.fill(0);
    }
  }
  if (credential.kind === "hmac-sha1") {
    checkBytes(credential.challenge, "HMAC-SHA1 challenge", HMAC_CHALLENGE_BYTES, HMAC_CHALLENGE_BYTES);
    checkBytes(credential.response, "HMAC-SHA1 response", HMAC_SHA1_RESPONSE_BYTES, HMAC_SHA1_RESPONSE_BYTES);
    const key = hmacKey(credential.response, credential.challenge);
    try {
      const { nonce, ciphertext } = sealGcm(key, hmacAad(meta, credential.challenge), share.value);
      return {
        version: OPERATOR_CREDENTIAL_VERSION,
        kind: "hmac-sha1",
        ...meta,
        kdf: { name: "hkdf-sha256", challenge: toHex(credential.challenge) },
        nonce: toHex(nonce),
        ciphertext: toHex(ciphertext),
      };
    } finally {
      key.fill(0);
    }
  }
  throw new VaultError(`unknown credential kind`);
}

const isInt = (value: unknown, min: number, max: number): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;

/**
 * Check a wrapped share read back from storage (untrusted: the parent can
 * edit DynamoDB) and return it typed. Structural problems are a VaultError
 * naming the field; tampering with values is caught by GCM at unwrap.
 */
export function parseWrappedShare(input: unknown): WrappedShare {
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw new VaultError("wrapped share malformed: not an object");
  const w = input as Record<string, unknown>;
  if (w["version"] !== OPERATOR_CREDENTIAL_VERSION) throw new VaultError("wrapped share malformed: unknown version");
  checkId(w["operatorId"], "wrapped share operator id");
  checkId(w["credentialId"], "wrapped share credential id");
  if (!isInt(w["shareIndex"], 1, 255)) throw new VaultError("wrapped share malformed: share index must be an integer from 1 to 255");
  fromHex(w["nonce"], SHARE_WRAP_NONCE_BYTES, "nonce");
  const ciphertext = fromHex(w["ciphertext"], undefined, "ciphertext");
  if (ciphertext.length <= SHARE_WRAP_TAG_BYTES || ciphertext.length > SHARE_WRAP_TAG_BYTES + SHAMIR_LIMITS.maxSecretBytes) {
    throw new VaultError("wrapped share malformed: ciphertext length out of range");
  }
  const kdf = w["kdf"] as Record<string, unknown> | undefined;
  if (typeof kdf !== "object" || kdf === null) throw new VaultError("wrapped share malformed: kdf missing");
  const common = {
    version: OPERATOR_CREDENTIAL_VERSION,
    operatorId: w["operatorId"],
    credentialId: w["credentialId"],
    shareIndex: w["shareIndex"],
    nonce: w["nonce"] as string,
    ciphertext: w["ciphertext"] as string,
  } as const;

  if (w["kind"] === "passphrase") {
    const { logN, r, p } = kdf;
    if (
      kdf["name"] !== "scrypt" ||
      !isInt(logN, SCRYPT_ACCEPTED.minLogN, SCRYPT_ACCEPTED.maxLogN) ||
      !isInt(r, 1, SCRYPT_ACCEPTED.maxR) ||
      !isInt(p, 1, SCRYPT_ACCEPTED.maxP) ||
      scryptMemory(logN, r, p) > SCRYPT_ACCEPTED.maxMemoryBytes
    ) {
      throw new VaultError("wrapped share malformed: scrypt parameters out of the accepted range");
    }
    fromHex(kdf["salt"], SCRYPT_PARAMETERS.saltBytes, "scrypt salt");
    return { ...common, kind: "passphrase", kdf: { name: "scrypt", logN, r, p, salt: kdf["salt"] as string } };
  }
  if (w["kind"] === "hmac-sha1") {
    if (kdf["name"] !== "hkdf-sha256") throw new VaultError("wrapped share malformed: kdf must be hkdf-sha256");
    fromHex(kdf["challenge"], HMAC_CHALLENGE_BYTES, "challenge");
    return { ...common, kind: "hmac-sha1", kdf: { name: "hkdf-sha256", challenge: kdf["challenge"] as string } };
  }
  throw new VaultError("wrapped share malformed: unknown kind");
}

const WRONG = "wrong credential";

/**
 * Unwrap a share with the credential `operatorId` submitted (the operator id
 * is the one the aTLS session authenticated, not the one in the record; a
 * record of another operator does not open). Returns a fresh share the
 * caller zeroes. A malformed record or submission (not bytes, over-long) is
 * a VaultError saying so; every other failure is exactly
 * `VaultError("wrong credential")`.
 */
export async function unwrapShare(wrapped: WrappedShare, operatorId: string, submission: CredentialSubmission): Promise<Share> {
  const w = parseWrappedShare(wrapped);
  checkId(operatorId, "operator id");
  const kind: unknown = submission?.kind;
  if (kind === "passphrase") {
    checkBytes((submission as { passphrase?: unknown }).passphrase, "passphrase", 0, PASSPHRASE_LIMITS.maxBytes);
  } else if (kind === "hmac-sha1") {
    checkBytes((submission as { response?: unknown }).response, "HMAC-SHA1 response", HMAC_SHA1_RESPONSE_BYTES, HMAC_SHA1_RESPONSE_BYTES);
  } else {
    throw new VaultError("credential submission malformed: unknown kind");
  }
  // Public facts first, all with the same answer.
  if (w.operatorId !== operatorId || w.kind !== kind) throw new VaultError(WRONG);

  const meta = { operatorId, credentialId: w.credentialId, shareIndex: w.shareIndex };
  const nonce = fromHex(w.nonce, SHARE_WRAP_NONCE_BYTES, "nonce");
  const ciphertext = fromHex(w.ciphertext, undefined, "ciphertext");
  let key: Uint8Array;
  let aad: Uint8Array;
  if (w.kind === "passphrase" && submission.kind === "passphrase") {
    const salt = fromHex(w.kdf.salt, SCRYPT_PARAMETERS.saltBytes, "scrypt salt");
    key = await scryptKey(submission.passphrase, salt, w.kdf.logN, w.kdf.r, w.kdf.p);
    aad = passphraseAad(meta, w.kdf.logN, w.kdf.r, w.kdf.p, salt);
  } else if (w.kind === "hmac-sha1" && submission.kind === "hmac-sha1") {
    const challenge = fromHex(w.kdf.challenge, HMAC_CHALLENGE_BYTES, "challenge");
    key = hmacKey(submission.response, challenge);
    aad = hmacAad(meta, challenge);
  } else {
    throw new VaultError(WRONG);
  }
  let value: Uint8Array | undefined;
  try {
    value = openGcm(key, aad, nonce, ciphertext);
  } finally {
    key.fill(0);
  }
  if (value === undefined) throw new VaultError(WRONG);
  return { index: w.shareIndex, value };
}
