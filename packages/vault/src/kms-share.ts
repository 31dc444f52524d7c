/**
 * A KMS share of the master key: the Shamir share value sealed with
 * AES-256-GCM under a data key that an attested GenerateDataKey made for it.
 * The AAD binds the sealed share to its vault, index and KMS key, so a record
 * moved to another place in the state, or given another key's blob, fails to
 * open. Only the enclave ever holds the data key in clear.
 */
import { VaultError } from "./errors.ts";
import type { Share } from "./shamir.ts";
import { openGcm, sealGcm, shareWrapAad, SHARE_WRAP_NONCE_BYTES } from "./share-wrap.ts";
import { base64Bytes, KMS_SEALED_SHARE_BYTES, type KmsShareRecord } from "./vault-state.ts";

const AAD_LABEL = "strongroom-kms-share-v1";
const SHARE_BYTES = 32;

const aadFor = (vaultId: string, index: number, keyId: string) => shareWrapAad(AAD_LABEL, [vaultId, index, keyId]);

function checkDataKey(dataKey: unknown): asserts dataKey is Uint8Array {
  if (!(dataKey instanceof Uint8Array) || dataKey.length !== 32) throw new VaultError("KMS returned a data key of the wrong length");
}

/** The record of `share` under `dataKey` (whose KMS blob is `ciphertext`, base64). */
export function sealKmsShare(dataKey: Uint8Array, vaultId: string, keyId: string, share: Share, ciphertext: string): KmsShareRecord {
  checkDataKey(dataKey);
  if (share.value.length !== SHARE_BYTES) throw new VaultError(`a master-key share is ${SHARE_BYTES} bytes`);
  const { nonce, ciphertext: sealed } = sealGcm(dataKey, aadFor(vaultId, share.index, keyId), share.value);
  const bytes = Buffer.concat([nonce, sealed]);
  return { index: share.index, keyId, ciphertext, sealedShare: bytes.toString("base64") };
}

/** The share value of `record`, opened with its data key; a VaultError when it does not authenticate. The caller zeroes it. */
export function openKmsShare(dataKey: Uint8Array, vaultId: string, record: KmsShareRecord): Uint8Array {
  checkDataKey(dataKey);
  const bytes = base64Bytes(record.sealedShare, `kms-${record.index} sealedShare`, KMS_SEALED_SHARE_BYTES, KMS_SEALED_SHARE_BYTES);
  const value = openGcm(dataKey, aadFor(vaultId, record.index, record.keyId), bytes.subarray(0, SHARE_WRAP_NONCE_BYTES), bytes.subarray(SHARE_WRAP_NONCE_BYTES));
  if (value === undefined) throw new VaultError(`kms-${record.index}: the sealed share does not open with its data key (the record was altered or moved)`);
  return value;
}
