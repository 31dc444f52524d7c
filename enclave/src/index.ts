export { defaultAdmissionLimits, startSigner, type InMemoryKey, type RunningSigner, type SignerOptions, type SlashingProtectionOptions } from "./signer.ts";
export type { KeyLoadingStatus, BodyLimits } from "./routes/context.ts";
export type { KeyInfo } from "./keys/registry.ts";
export { canonicalPublicKey, publicKeyBytes } from "./keys/public-key.ts";
export type { AdmissionLimits } from "./pipeline/admission.ts";
export { DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from "./api.ts";
export { TokenStore, AuthConfigError, SCOPES, MIN_SERVER_SECRET_BYTES, writeFileAtomic, type CreatedToken, type Scope } from "./auth/index.ts";
