export { AttestationError, type AttestationFailure } from "./errors.ts";
export { type AttestationDocument } from "./document.ts";
export {
  readRootCertificate,
  verifyAttestationDocument,
  type CertificateSummary,
  type PcrSet,
  type VerifiedAttestation,
  type VerifyOptions,
} from "./verify.ts";
export { AWS_NITRO_ENCLAVES_ROOT_G1, AWS_NITRO_ENCLAVES_ROOT_G1_PEM, AWS_NITRO_ENCLAVES_ROOT_G1_SHA256 } from "./aws-root.ts";
export { MAX_DOCUMENT_BYTES, MAX_PCRS, PCR_LENGTHS } from "./limits.ts";
export { loadOrCreateSimulatedCa, issueAttestationDocument, type SimulatedCa, type SimulatedDocumentFields } from "./sim-ca.ts";
