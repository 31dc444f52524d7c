// X.509 and DER: the project's one strict DER reader and writer, the reader
// and builder of its ECDSA P-384 certificates, PEM, and the on-disk store of
// the simulator's CAs. The attestation verifier, the simulated CA and aTLS
// all build on these.
export * from "./der.ts";
export * from "./der-writer.ts";
export * from "./certificate.ts";
export * from "./certificate-builder.ts";
export * from "./pem.ts";
export * from "./stored-ca.ts";
