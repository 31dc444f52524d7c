/**
 * AWS KMS CiphertextForRecipient: the CMS envelope KMS answers an attested
 * enclave with, parsed and opened inside the enclave and sealed by the KMS
 * simulator; and the one-request RSA recipient key. See README.md.
 */
export { KmsEnvelopeError } from "./ber.ts";
export { MAX_ENVELOPE_BYTES, openCiphertextForRecipient, parseCiphertextForRecipient, sealForRecipient, type RecipientEnvelope, type SealOptions } from "./cms.ts";
export { createRecipientKey, type RecipientKey } from "./recipient.ts";
export { createAttestedKms, createPlainKms, KmsClientError, type AttestedKms, type AttestedKmsOptions } from "./client.ts";
