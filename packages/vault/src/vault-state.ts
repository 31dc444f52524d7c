/**
 * The vault's part of the signer-state document (DynamoDB item
 * "signer-state", field `vault`): share metadata and wrapped shares, nothing
 * secret in clear. It is read back from a store the untrusted parent relays,
 * so `parseVaultState` checks every field's shape and bounds before the vault
 * uses any of it; the contents are authenticated by what opens them (KMS
 * ciphertexts by KMS with their encryption context, operator records by GCM,
 * the combined key by the key-check value).
 */
import { createHmac, randomBytes } from "node:crypto";
import { VaultError } from "./errors.ts";
import { parseWrappedShare, type WrappedShare } from "./operator-credentials.ts";

export const VAULT_STATE_FORMAT = "strongroom-vault-state-v1";
/** nonce ‖ a 32-byte share value ‖ tag. */
export const KMS_SEALED_SHARE_BYTES = 12 + 32 + 16;
/** The field of the signer-state document that the vault owns; other fields are left as they are. */
export const VAULT_STATE_FIELD = "vault";
/** Bounds on what a stored document may list (Shamir allows 255 shares; nobody needs that many). */
export const VAULT_STATE_LIMITS = { maxKmsKeys: 16, maxOperators: 64, maxCredentialsPerOperator: 8, maxKeyIdChars: 2048, maxCiphertextBytes: 6144 } as const;

const KEY_CHECK_LABEL = new TextEncoder().encode("strongroom-key-check");
const KEY_CHECK_BYTES = 32;
const VAULT_ID = /^[0-9a-f]{32}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;
// Printable ASCII without spaces: KMS key ids, ARNs and aliases.
const KEY_ID = /^[\x21-\x7e]+$/;

/**
 * One KMS share: a data key made by an attested GenerateDataKey under
 * `keyId` (its KMS ciphertext blob), and the share sealed under that data key
 * inside the enclave. No plaintext ever went to KMS, so no principal that
 * may only call KMS without an attestation document can make a record whose
 * data key it knows (see the README's key policy).
 */
export interface KmsShareRecord {
  /** The Shamir x coordinate; bound into the encryption context and the share's AAD. */
  readonly index: number;
  readonly keyId: string;
  /** Base64 of the data key's KMS ciphertext blob. */
  readonly ciphertext: string;
  /** Base64 of nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16) of the share value under the data key. */
  readonly sealedShare: string;
}

export interface OperatorShareRecord {
  readonly operatorId: string;
  readonly index: number;
  /** The same share wrapped under each of the operator's credentials. */
  readonly wrapped: readonly WrappedShare[];
}

export interface VaultStateDocument {
  readonly format: typeof VAULT_STATE_FORMAT;
  /** Random, public: names this vault in encryption contexts and logs. */
  readonly vaultId: string;
  /** 1 at init, +1 per rotation. */
  readonly generation: number;
  /** Base64 of HMAC-SHA256(masterKey, "strongroom-key-check"). */
  readonly keyCheck: string;
  readonly createdAt: string;
  readonly rotatedAt?: string;
  readonly kms: { readonly threshold: number; readonly shares: readonly KmsShareRecord[] } | null;
  readonly operators: { readonly threshold: number; readonly shares: readonly OperatorShareRecord[] } | null;
}

export function newVaultId(): string {
  return randomBytes(16).toString("hex");
}

/** HMAC-SHA256(masterKey, "strongroom-key-check"): public, and says nothing about the key beyond "this is it". */
export function keyCheckValue(masterKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", masterKey).update(KEY_CHECK_LABEL).digest());
}

/** The encryption context of KMS share `index`: it binds the ciphertext to its place, purpose and vault. */
export function kmsShareContext(vaultId: string, index: number): Record<string, string> {
  return { "strongroom:share": `kms-${index}`, "strongroom:purpose": "master-key-share", "strongroom:vault": vaultId };
}

export function checkKmsKeyId(keyId: unknown, what: string): asserts keyId is string {
  if (typeof keyId !== "string" || keyId.length > VAULT_STATE_LIMITS.maxKeyIdChars || !KEY_ID.test(keyId)) {
    throw new VaultError(`${what} must be a KMS key id, ARN or alias (1 to ${VAULT_STATE_LIMITS.maxKeyIdChars} printable characters)`);
  }
}

const isInt = (value: unknown, min: number, max: number): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;

function malformed(what: string): VaultError {
  return new VaultError(`signer state malformed: ${what}`);
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw malformed(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function array(value: unknown, what: string, min: number, max: number): unknown[] {
  if (!Array.isArray(value) || value.length < min || value.length > max) throw malformed(`${what} must be a list of ${min} to ${max} entries`);
  return value;
}

export function base64Bytes(value: unknown, what: string, min: number, max: number): Uint8Array {
  if (typeof value !== "string" || value.length % 4 !== 0 || !BASE64.test(value)) throw malformed(`${what} is not base64`);
  const bytes = new Uint8Array(Buffer.from(value, "base64"));
  if (bytes.length < min || bytes.length > max) throw malformed(`${what} must be ${min === max ? `${min}` : `${min} to ${max}`} bytes`);
  return bytes;
}

function threshold(value: unknown, count: number, what: string): number {
  // 1 only for a single share, as splitSecret insists.
  if (!isInt(value, 1, count) || (value === 1 && count > 1)) throw malformed(`${what} threshold must be an integer from ${count > 1 ? 2 : 1} to ${count}`);
  return value;
}

function distinctIndices(indices: number[], what: string): void {
  if (new Set(indices).size !== indices.length) throw malformed(`${what} share indices repeat`);
}

/** Shape check of the vault's document read back from DynamoDB; returns it typed. */
export function parseVaultState(input: unknown): VaultStateDocument {
  const doc = object(input, "vault state");
  if (doc["format"] !== VAULT_STATE_FORMAT) throw malformed(`unknown format (expected ${VAULT_STATE_FORMAT})`);
  const vaultId = doc["vaultId"];
  if (typeof vaultId !== "string" || !VAULT_ID.test(vaultId)) throw malformed("vaultId must be 32 lowercase hex digits");
  const generation = doc["generation"];
  if (!isInt(generation, 1, Number.MAX_SAFE_INTEGER)) throw malformed("generation must be a positive integer");
  base64Bytes(doc["keyCheck"], "keyCheck", KEY_CHECK_BYTES, KEY_CHECK_BYTES);
  const createdAt = doc["createdAt"];
  if (typeof createdAt !== "string" || !ISO.test(createdAt)) throw malformed("createdAt must be an ISO 8601 time");
  const rotatedAt = doc["rotatedAt"];
  if (rotatedAt !== undefined && (typeof rotatedAt !== "string" || !ISO.test(rotatedAt))) throw malformed("rotatedAt must be an ISO 8601 time");

  let kms: VaultStateDocument["kms"] = null;
  if (doc["kms"] !== null) {
    const side = object(doc["kms"], "kms");
    const shares = array(side["shares"], "kms.shares", 1, VAULT_STATE_LIMITS.maxKmsKeys).map((entry, i): KmsShareRecord => {
      const share = object(entry, `kms.shares[${i}]`);
      if (!isInt(share["index"], 1, 255)) throw malformed(`kms.shares[${i}].index must be an integer from 1 to 255`);
      checkKmsKeyId(share["keyId"], `signer state: kms.shares[${i}].keyId`);
      base64Bytes(share["ciphertext"], `kms.shares[${i}].ciphertext`, 1, VAULT_STATE_LIMITS.maxCiphertextBytes);
      base64Bytes(share["sealedShare"], `kms.shares[${i}].sealedShare`, KMS_SEALED_SHARE_BYTES, KMS_SEALED_SHARE_BYTES);
      return { index: share["index"], keyId: share["keyId"], ciphertext: share["ciphertext"] as string, sealedShare: share["sealedShare"] as string };
    });
    distinctIndices(
      shares.map((s) => s.index),
      "kms",
    );
    kms = { threshold: threshold(side["threshold"], shares.length, "kms"), shares };
  }

  let operators: VaultStateDocument["operators"] = null;
  if (doc["operators"] !== null) {
    const side = object(doc["operators"], "operators");
    const shares = array(side["shares"], "operators.shares", 1, VAULT_STATE_LIMITS.maxOperators).map((entry, i): OperatorShareRecord => {
      const share = object(entry, `operators.shares[${i}]`);
      const operatorId = share["operatorId"];
      const index = share["index"];
      if (typeof operatorId !== "string") throw malformed(`operators.shares[${i}].operatorId must be a string`);
      if (!isInt(index, 1, 255)) throw malformed(`operators.shares[${i}].index must be an integer from 1 to 255`);
      const wrapped = array(share["wrapped"], `operators.shares[${i}].wrapped`, 1, VAULT_STATE_LIMITS.maxCredentialsPerOperator).map((record) => parseWrappedShare(record));
      for (const record of wrapped) {
        if (record.operatorId !== operatorId || record.shareIndex !== index) throw malformed(`operators.shares[${i}] holds a record of another operator or index`);
      }
      if (new Set(wrapped.map((w) => w.credentialId)).size !== wrapped.length) throw malformed(`operators.shares[${i}] repeats a credential id`);
      return { operatorId, index, wrapped };
    });
    distinctIndices(
      shares.map((s) => s.index),
      "operator",
    );
    if (new Set(shares.map((s) => s.operatorId)).size !== shares.length) throw malformed("an operator id appears twice");
    operators = { threshold: threshold(side["threshold"], shares.length, "operator"), shares };
  }
  if (kms === null && operators === null) throw malformed("neither KMS nor operator shares");

  return {
    format: VAULT_STATE_FORMAT,
    vaultId,
    generation,
    keyCheck: doc["keyCheck"] as string,
    createdAt,
    ...(rotatedAt === undefined ? {} : { rotatedAt: rotatedAt as string }),
    kms,
    operators,
  };
}

/**
 * The vault's document inside the signer-state document; undefined when the
 * document exists but has no vault part (another component wrote first).
 */
export function vaultPartOf(signerState: unknown): unknown {
  if (typeof signerState !== "object" || signerState === null || Array.isArray(signerState)) throw malformed("the signer-state document is not an object");
  return (signerState as Record<string, unknown>)[VAULT_STATE_FIELD];
}

/** The signer-state document with the vault part replaced and every other field kept. */
export function withVaultPart(signerState: unknown, vault: VaultStateDocument): Record<string, unknown> {
  const base = signerState === undefined ? {} : (signerState as Record<string, unknown>);
  return { ...base, [VAULT_STATE_FIELD]: vault };
}
