// The PCRs an enclave booted from an EIF reports, as nitro-cli computes them from the sections
// (aws-nitro-enclaves-image-format src/utils/eif_reader.rs and get_pcrs in src/utils/mod.rs):
// PCR0 over kernel ‖ cmdline ‖ every ramdisk, PCR1 over kernel ‖ cmdline ‖ the first ramdisk,
// PCR2 over the other ramdisks, PCR8 over the DER of the signing certificate, each as
// SHA-384(48 zero bytes ‖ SHA-384(bytes)). Metadata and the signature section are not measured,
// nor are the EIF and section headers. The arithmetic is @strongroom/nitro's, shared with the
// NSM simulator.
import { measureImage, measureSigningCertificate } from "@strongroom/nitro";
import type { EifImage } from "./eif.ts";
import { verifySignatureSection } from "./signature.ts";

/** Lowercase hex, 96 characters each. PCR8 only for a signed image. */
export interface EifPcrs {
  readonly PCR0: string;
  readonly PCR1: string;
  readonly PCR2: string;
  readonly PCR8?: string;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/** The image's PCRs; a signature section must verify against its PCR0 (else this throws). */
export function eifPcrs(image: EifImage): EifPcrs {
  const { pcr0, pcr1, pcr2 } = measureImage(image);
  const pcrs = { PCR0: hex(pcr0), PCR1: hex(pcr1), PCR2: hex(pcr2) };
  if (image.signature === undefined) return pcrs;
  return { ...pcrs, PCR8: hex(measureSigningCertificate(verifySignatureSection(image.signature, pcr0))) };
}
