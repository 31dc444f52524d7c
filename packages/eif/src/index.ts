/**
 * The enclave image: a deterministic Enclave Image Format (EIF) writer and strict reader, the
 * newc cpio archives its ramdisks are made of, the PCRs it boots with, and its optional signature.
 * See README.md.
 */
export { readCpio, writeCpio, type CpioEntry } from "./cpio.ts";
export {
  EIF_FLAG_ARM64,
  EIF_HEADER_BYTES,
  EIF_MAX_BYTES,
  EIF_MAX_SECTIONS,
  EIF_SECTION_HEADER_BYTES,
  EIF_VERSION,
  readEif,
  SectionType,
  writeEif,
  type EifImage,
  type EifSection,
  type ParsedEif,
} from "./eif.ts";
export { eifPcrs, type EifPcrs } from "./measure.ts";
export { decodeEifMetadata, encodeEifMetadata, MAX_METADATA_BYTES, type EifBuildInfo, type EifIdentityInfo } from "./metadata.ts";
export { MAX_SIGNATURE_SECTION_BYTES, signatureSection, verifySignatureSection } from "./signature.ts";
// Building an image from a checkout (README.md, "Building").
export { BlobsError, DEFAULT_BLOBS_DIR } from "./blobs.ts";
export { buildEif, type BuildEifOptions, type BuildEifResult } from "./build.ts";
export { bundleEnclave, type ProgramFile } from "./bundle.ts";
export { CHECKOUT_ROOT } from "./checkout.ts";
export type { ElfMachine } from "./elf.ts";
export { enclaveKeyPolicy, enclaveStatements, keyAdministrationStatement, keyPolicy, pcrManifest, type ImagePcrs, type KeyPolicyStatement } from "./policy.ts";
export { enclaveRootfs, writeRootfs, type Rootfs, type RootfsOptions } from "./rootfs.ts";
export { sourceDateEpoch } from "./source-date.ts";
