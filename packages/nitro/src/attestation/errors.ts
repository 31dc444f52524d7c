import { CborError, type CborValue, decodeCbor } from "../cbor.ts";

/** Why a document was refused, for callers that act on the kind of failure (aTLS, the CLI). */
export type AttestationFailure =
  /** Not a well-formed Nitro document: CBOR, COSE, field types, sizes, order, DER of a certificate. */
  | "malformed"
  /** The bundle does not start with the pinned root. */
  | "untrusted-root"
  /** The chain breaks: names, CA constraints, key usage, algorithms, an issuer's signature. */
  | "invalid-chain"
  /** A certificate is not valid yet at the verification instant. */
  | "not-yet-valid"
  /** A certificate has expired at the verification instant. */
  | "expired"
  /** The COSE signature does not verify with the signing certificate's key. */
  | "invalid-signature"
  /** PCR0 is all zero (or absent): a debug-mode enclave, and debug was not allowed. */
  | "debug-enclave"
  /** The PCRs differ from every expected set. */
  | "pcr-mismatch"
  /** The document is older than the allowed maximum age. */
  | "too-old";

/** A refused attestation document; `message` says precisely why. */
export class AttestationError extends Error {
  override readonly name = "AttestationError";
  readonly failure: AttestationFailure;

  constructor(failure: AttestationFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

/** Shorthand for the most common failure. */
export function malformed(message: string): AttestationError {
  return new AttestationError("malformed", message);
}

/** Decodes one CBOR item (leniently: callers rebuild what they read and compare); bytes that are not CBOR make a malformed document. */
export function decodeCborOrMalformed(bytes: Uint8Array, what: string): CborValue {
  try {
    return decodeCbor(bytes, what);
  } catch (error) {
    if (error instanceof CborError) throw malformed(error.message);
    throw error;
  }
}
