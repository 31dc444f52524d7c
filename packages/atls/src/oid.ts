// The names aTLS puts on the wire. Each is part of the protocol between a
// strongroom enclave and its clients: changing one breaks every client.

/**
 * The certificate extension that carries the enclave's attestation document.
 * A UUID-based OID (ITU-T X.667: 2.25.<the UUID as one decimal integer>) needs
 * no registration; this one was drawn at random once, for this purpose, and
 * never changes:
 *
 *   UUID d197c5b9-4d7f-4033-95d0-9cb31724f5fd
 *   =    278596698260572343445148533171723499005
 */
export const ATTESTATION_EXTENSION_OID = "2.25.278596698260572343445148533171723499005";

/** The certificate's document: user_data = this prefix ‖ SHA-384(DER SubjectPublicKeyInfo of the TLS key). */
export const ATLS_USER_DATA_PREFIX = "strongroom-atls-v1";

/** A fresh document: user_data = this prefix ‖ the TLS session's exporter value (EXPORTER_LABEL). */
export const FRESH_USER_DATA_PREFIX = "strongroom-atls-fresh-v1";

/** RFC 5705/8446 §7.5 exporter label for the fresh document's channel binding: 48 bytes, no context. */
export const EXPORTER_LABEL = "EXPORTER-strongroom-attestation";
export const EXPORTER_BYTES = 48;

/** Where an aTLS server answers POST {"nonce":"0x…"} with a fresh, channel-bound document. */
export const ATTESTATION_PATH = "/api/v1/strongroom/attestation";

/** A fresh-attestation nonce is 8 to 64 bytes; clients send 32 random ones. */
export const MIN_NONCE_BYTES = 8;
export const MAX_NONCE_BYTES = 64;
