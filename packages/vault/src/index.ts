// @strongroom/vault: the cryptographic core of the sealed key store —
// Shamir M-of-N over GF(2^8), AES-256-GCM validator key envelopes, master-key
// generation, operator credentials wrapping shares (scrypt passphrases,
// HMAC-SHA1 challenge-response) with attempt limiting, the DynamoDB store
// of sealed keys and signer state, and the Vault state machine that owns the
// master key (init, unseal by attested KMS or operator quorum, seal, rotate).
// KMS is reached through injected functions only (no KMS SDK here).
export {
  ENVELOPE_VERSION,
  MASTER_KEY_BYTES,
  openValidatorKey,
  sealValidatorKey,
  SEALED_VALIDATOR_KEY_BYTES,
  VALIDATOR_PUBLIC_KEY_BYTES,
  VALIDATOR_SECRET_KEY_BYTES,
} from "./envelope.ts";
export { VaultConflictError, VaultError } from "./errors.ts";
export { generateMasterKey, MAX_NSM_RANDOM_BYTES, MIN_NSM_RANDOM_BYTES } from "./master-key.ts";
export { combineShares, SHAMIR_LIMITS, splitSecret, type Share } from "./shamir.ts";
export {
  type AttemptStatus,
  type AttemptsPolicy,
  CredentialAttempts,
  CredentialLockedError,
  DEFAULT_ATTEMPTS_POLICY,
} from "./attempts.ts";
export {
  type CredentialSubmission,
  HMAC_CHALLENGE_BYTES,
  HMAC_SHA1_RESPONSE_BYTES,
  type HmacWrappedShare,
  newHmacChallenge,
  OPERATOR_CREDENTIAL_VERSION,
  type OperatorCredentialInput,
  parseWrappedShare,
  PASSPHRASE_LIMITS,
  type PassphraseWrappedShare,
  SCRYPT_ACCEPTED,
  SCRYPT_PARAMETERS,
  unwrapShare,
  wrapShareForOperator,
  type WrappedShare,
} from "./operator-credentials.ts";
export * from "./store/index.ts";
export {
  type KmsShareFailure,
  type OperatorInit,
  type UnsealProgress,
  Vault,
  type VaultDependencies,
  type VaultInitOptions,
  type VaultKms,
  type VaultLog,
  type VaultRotateOptions,
  type VaultState,
  type VaultStateStore,
  type VaultStatus,
  VaultUnsealError,
} from "./vault.ts";
export {
  keyCheckValue,
  kmsShareContext,
  type KmsShareRecord,
  type OperatorShareRecord,
  parseVaultState,
  VAULT_STATE_FIELD,
  VAULT_STATE_FORMAT,
  VAULT_STATE_LIMITS,
  type VaultStateDocument,
} from "./vault-state.ts";
