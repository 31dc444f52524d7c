import type { AttestationFailure } from "@strongroom/nitro";

/** Why a peer was refused; the attestation document's own failures keep their names. */
export type AtlsFailure =
  /** The handshake presented no certificate. */
  | "no-certificate"
  /** The certificate is not one aTLS can read: DER, key type, signature, a duplicate or critical extension. */
  | "malformed-certificate"
  /** The certificate carries no attestation extension: an ordinary TLS server, not an enclave. */
  | "no-attestation"
  /** The certificate's own validity period does not cover now. */
  | "certificate-not-valid"
  /** The document's user_data does not bind this certificate's key: a document copied from another certificate. */
  | "key-binding"
  /** Trust on first use: the PCRs differ from those pinned on the first connection. */
  | "pin-mismatch"
  /** Trust on first use: the pin file cannot be read or written. */
  | "pin-store"
  /** Fresh attestation: the server did not answer the request with a document. */
  | "fresh-attestation"
  /** Fresh attestation: the document's nonce is not the one sent. */
  | "nonce-mismatch"
  /** Fresh attestation: the document does not bind this TLS session (a document relayed from another session). */
  | "channel-binding"
  /** Fresh attestation: the document comes from another enclave than the certificate's. */
  | "enclave-mismatch"
  | AttestationFailure;

/** A peer that failed aTLS verification; `message` says what failed and what to do. */
export class AtlsVerificationError extends Error {
  override readonly name = "AtlsVerificationError";
  readonly reason: AtlsFailure;

  constructor(reason: AtlsFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** The connection (or its aTLS verification) did not finish within the time allowed. */
export class AtlsTimeoutError extends Error {
  override readonly name = "AtlsTimeoutError";
  readonly code = "ETIMEDOUT";
}
