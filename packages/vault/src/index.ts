// @strongroom/vault: the cryptographic core of the sealed key store —
// Shamir M-of-N over GF(2^8), AES-256-GCM validator key envelopes, master-key
// generation, operator credentials wrapping shares (scrypt passphrases,
// HMAC-SHA1 challenge-response) with attempt limiting, and the DynamoDB store
// of sealed keys and signer state. No KMS here.
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
