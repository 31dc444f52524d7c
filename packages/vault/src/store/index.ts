export {
  DEFAULT_SCAN_SEGMENTS,
  type KeyMetadata,
  type KeyRecord,
  type KeyStatus,
  MAX_SCAN_SEGMENTS,
  MAX_STATE_BYTES,
  type PublicKeyInput,
  SIGNER_STATE_PK,
  type StoredState,
  VaultStore,
  type VaultStoreOptions,
} from "./vault-store.ts";
