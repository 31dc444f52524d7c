// @strongroom/vault: the cryptographic core of the sealed key store —
// Shamir M-of-N over GF(2^8), AES-256-GCM validator key envelopes, master-key
// generation. No storage, KMS or network here.
export {
  ENVELOPE_VERSION,
  MASTER_KEY_BYTES,
  openValidatorKey,
  sealValidatorKey,
  SEALED_VALIDATOR_KEY_BYTES,
  VALIDATOR_PUBLIC_KEY_BYTES,
  VALIDATOR_SECRET_KEY_BYTES,
} from "./envelope.ts";
export { VaultError } from "./errors.ts";
export { generateMasterKey, MAX_NSM_RANDOM_BYTES, MIN_NSM_RANDOM_BYTES } from "./master-key.ts";
export { combineShares, SHAMIR_LIMITS, splitSecret, type Share } from "./shamir.ts";
