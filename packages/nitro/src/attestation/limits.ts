// Size bounds for attestation documents, from AWS's specification
// (aws-nitro-enclaves-nsm-api docs/attestation_process.md). A parser checks
// these before it looks further, so hostile input costs little.

/** The payload (the document itself): `bstr .size (1..16384)`. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;
/** The whole COSE_Sign1: the payload plus its envelope (tag, array, headers, a 96-byte signature) with room to spare. */
export const MAX_DOCUMENT_BYTES = MAX_PAYLOAD_BYTES + 128;
/** `module_id` is non-empty text; AWS's are 39 characters (`i-…-enc…`). */
export const MAX_MODULE_ID_BYTES = 256;
/** `cert = bytes .size (1..1024)`, for the signing certificate and every cabundle entry. */
export const MAX_CERTIFICATE_BYTES = 1024;
/** AWS's bundles hold the root and three intermediates; deeper chains are refused. */
export const MAX_CABUNDLE_LENGTH = 8;
/** `pcrs` holds 1 to 32 registers, indexes 0..31. */
export const MAX_PCRS = 32;
/** `pcr = bytes .size (32/48/64)`. */
export const PCR_LENGTHS: ReadonlySet<number> = new Set([32, 48, 64]);
/**
 * `public_key`, `user_data` and `nonce`: `bytes .size (0..1024)` as the CDDL
 * says (section 3.2.2.2 of the same text still says 512 for user_data and
 * nonce, but real documents carry 1024 bytes in each).
 */
export const MAX_USER_FIELD_BYTES = 1024;
