// The aTLS certificate: self-signed, for a fresh ECDSA P-384 key, carrying
// the raw COSE_Sign1 attestation document as the extnValue of a non-critical
// extension (ATTESTATION_EXTENSION_OID). The document vouches for the key
// through its user_data; the certificate only carries it.
import { randomBytes, verify, type KeyObject } from "node:crypto";
import {
  basicConstraintsExtension,
  buildCertificate,
  DerError,
  encodeExtension,
  encodeName,
  KEY_USAGE,
  keyUsageExtension,
  MAX_DOCUMENT_BYTES,
  readCertificate,
  type Certificate,
} from "@strongroom/nitro";
import { AtlsVerificationError } from "./errors.ts";
import { ATTESTATION_EXTENSION_OID } from "./oid.ts";

const NAME = encodeName([["CN", "strongroom aTLS"]]);
/** The document plus everything else a certificate holds (names, key, signature), with room to spare; larger is refused unread. */
export const MAX_ATLS_CERTIFICATE_BYTES = MAX_DOCUMENT_BYTES + 8 * 1024;

export interface AtlsCertificateFields {
  readonly publicKey: KeyObject;
  /** Signs the certificate: the private half of `publicKey`. */
  readonly privateKey: KeyObject;
  /** The NSM's COSE_Sign1 document whose user_data binds `publicKey`. */
  readonly document: Uint8Array;
  /** An encoded subjectAltName extension, or none. */
  readonly subjectAltName?: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** The DER certificate: CN=strongroom aTLS, a random serial, an end-entity key for signatures, the names, the document. */
export function buildAtlsCertificate(fields: AtlsCertificateFields): Uint8Array {
  return buildCertificate(
    {
      serialNumber: randomBytes(16),
      issuer: NAME,
      subject: NAME,
      notBefore: fields.notBefore,
      notAfter: fields.notAfter,
      publicKey: fields.publicKey,
      extensions: [
        basicConstraintsExtension(false),
        keyUsageExtension(KEY_USAGE.digitalSignature, true),
        ...(fields.subjectAltName === undefined ? [] : [fields.subjectAltName]),
        encodeExtension(ATTESTATION_EXTENSION_OID, false, fields.document),
      ],
    },
    fields.privateKey,
  );
}

export interface AtlsCertificate {
  readonly certificate: Certificate;
  /** The attestation document, unverified. */
  readonly document: Uint8Array;
}

const NOT_ATLS = "the server is not a strongroom aTLS endpoint (or something between you and it answers in its place); check the address";

/**
 * Reads a peer certificate and takes out its document; throws
 * AtlsVerificationError unless it is a well-formed, self-signed aTLS
 * certificate with exactly one, non-critical, attestation extension.
 */
export function readAtlsCertificate(der: Uint8Array): AtlsCertificate {
  if (der.length > MAX_ATLS_CERTIFICATE_BYTES) {
    throw new AtlsVerificationError("malformed-certificate", `the server's certificate is ${der.length} bytes, more than an aTLS certificate's ${MAX_ATLS_CERTIFICATE_BYTES}; ${NOT_ATLS}`);
  }
  let certificate: Certificate;
  try {
    certificate = readCertificate(der);
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
    throw new AtlsVerificationError("malformed-certificate", `the server's certificate is not an aTLS certificate (${error.message}); ${NOT_ATLS}`);
  }
  // The reader refuses a repeated extension, so there is at most one.
  const extension = certificate.extensions.find(({ oid }) => oid === ATTESTATION_EXTENSION_OID);
  if (extension === undefined) {
    throw new AtlsVerificationError("no-attestation", `the server's certificate (${certificate.subjectName}) carries no attestation document (extension ${ATTESTATION_EXTENSION_OID}); ${NOT_ATLS}`);
  }
  if (extension.critical) throw new AtlsVerificationError("malformed-certificate", `the attestation extension of the server's certificate is marked critical, which aTLS never does; ${NOT_ATLS}`);
  const [unknown] = certificate.unknownCriticalExtensions;
  if (unknown !== undefined) throw new AtlsVerificationError("malformed-certificate", `the server's certificate has a critical extension aTLS does not know (${unknown}); ${NOT_ATLS}`);
  if (!verify("sha384", certificate.tbs, { key: certificate.publicKey, dsaEncoding: "der" }, certificate.signature)) {
    throw new AtlsVerificationError("malformed-certificate", `the server's certificate is not signed by its own key, as an aTLS certificate is; ${NOT_ATLS}`);
  }
  return { certificate, document: extension.value };
}
