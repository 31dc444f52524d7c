/**
 * The enclave's two doors and its root of trust: AF_VSOCK transports, the
 * Nitro Security Module and attestation documents, each real and simulated
 * behind one interface; and the X.509/DER pieces they are built on. See README.md.
 */
export * from "./attestation/index.ts";
export * from "./nsm/index.ts";
export * from "./transport/index.ts";
export * from "./vsock/index.ts";
export * from "./x509/index.ts";
export { hardenProcess, isDumpable, coreDumpLimit, lockedMemoryKiB } from "./hardening.ts";
// The serde_cbor-compatible CBOR and Nitro's ES384 COSE_Sign1, which an EIF's signature section also uses.
export { decodeCbor, encodeCbor } from "./cbor.ts";
export { encodeCoseSign1, signCoseSign1, verifyCoseSign1 } from "./attestation/cose-sign1.ts";
