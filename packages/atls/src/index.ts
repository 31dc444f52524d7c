/**
 * Attested TLS: the enclave's server certificate carries an NSM attestation
 * document that binds its key (server side: AtlsIdentity, createAtlsServer,
 * fresh attestation), and clients trust it only after verifying that
 * document against a root and a PCR policy (connectAtls, the undici
 * dispatcher, verifyAtlsCertificate). See README.md.
 */
export { ATLS_USER_DATA_PREFIX, ATTESTATION_EXTENSION_OID, ATTESTATION_PATH, EXPORTER_BYTES, EXPORTER_LABEL, FRESH_USER_DATA_PREFIX, MAX_NONCE_BYTES, MIN_NONCE_BYTES } from "./oid.ts";
export { AtlsTimeoutError, AtlsVerificationError, type AtlsFailure } from "./errors.ts";
export { keyBinding, channelBinding, sessionExporter } from "./binding.ts";
export { buildAtlsCertificate, readAtlsCertificate, MAX_ATLS_CERTIFICATE_BYTES, type AtlsCertificate, type AtlsCertificateFields } from "./certificate.ts";
export { AtlsIdentity, DEFAULT_ROTATE_EVERY_MS, MAX_ROTATE_EVERY_MS, type AtlsIdentityOptions } from "./identity.ts";
export { createAtlsServer, type AtlsServer, type AtlsServerOptions } from "./server.ts";
export { freshAttestation, handleAttestationRequest } from "./fresh-server.ts";
export { parsePcrManifest, readPcrManifest } from "./pcr-manifest.ts";
export { PINNED_PCRS, resetPins } from "./pins.ts";
export { DEFAULT_MAX_AGE_MS, verifyAtlsCertificate, type AtlsVerifyOptions, type PcrPolicy, type PcrSet, type VerifiedPeer } from "./verify.ts";
export { connectAtls, DEFAULT_CONNECT_TIMEOUT_MS, type AtlsConnection, type AtlsConnectOptions, type AtlsTarget } from "./connect.ts";
export { createAtlsDispatcher, type AtlsDispatcherOptions } from "./dispatcher.ts";
