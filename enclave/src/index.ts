export { startSigner, type InMemoryKey, type RunningSigner, type SignerOptions } from "./signer.ts";
export type { KeyLoadingStatus, BodyLimits } from "./routes/context.ts";
export type { KeyInfo } from "./keys/registry.ts";
