// @strongroom/keystore: EIP-2335 keystores, Web3Signer key sources, interop keys.
export { KeystoreDecryptPool } from "./decrypt-pool.ts";
export {
  decryptKeystore,
  encryptKeystore,
  MAX_KEYSTORE_BYTES,
  parseKeystore,
  type EncryptOptions,
  type KdfChoice,
  type Keystore,
  type KeystoreJson,
} from "./eip2335.ts";
export { KeystoreError } from "./errors.ts";
export { interopSecretKey } from "./interop.ts";
export type { KdfParams, Pbkdf2Params, ScryptParams } from "./kdf.ts";
export { parseKeyConfigFile, type KeyConfig, type KeyConfigDocument } from "./key-config.ts";
export {
  loadKeys,
  type KeyLoad,
  type KeyLoadFailure,
  type KeyLoadHandlers,
  type KeyLoadOptions,
  type KeyLoadProgress,
  type KeySources,
  type LoadedKey,
} from "./loader.ts";
export { blsPublicKey } from "./bls.ts";
export { normalizePassword } from "./password.ts";
