// Runs a share of the mutation suite in a worker thread: flips each given bit
// of a copy of the input, verifies it, and reports any mutation that was
// accepted or that raised anything but an AttestationError.
import { parentPort, workerData } from "node:worker_threads";
import { checkCertificateChain, verifyChainSignatures } from "../src/attestation/chain.ts";
import { AttestationError, verifyAttestationDocument } from "../src/attestation/index.ts";
import { parseCertificate } from "../src/attestation/chain.ts";

export type MutationJob =
  /** Flip bits of a whole document and verify it (debug allowed, so that only integrity checks refuse). */
  | { readonly kind: "document"; readonly document: Uint8Array; readonly now: number; readonly bits: readonly number[] }
  /** Flip bits of certificates[target] in a path (cabundle then signing certificate) and check the path alone. */
  | { readonly kind: "chain"; readonly certificates: readonly Uint8Array[]; readonly target: number; readonly now: number; readonly bits: readonly number[] };

export interface MutationResult {
  readonly accepted: number[];
  readonly otherErrors: string[];
  readonly failures: Record<string, number>;
}

function flipped(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3]! ^= 0x80 >> (bit & 7);
  return copy;
}

function verifyMutant(job: MutationJob, bit: number): void {
  const now = new Date(job.now);
  if (job.kind === "document") {
    verifyAttestationDocument(flipped(job.document, bit), { now, allowDebug: true });
    return;
  }
  const certificates = job.certificates.map((der, index) => (index === job.target ? flipped(der, bit) : der));
  const root = parseCertificate(job.certificates[0]!, "root");
  verifyChainSignatures(checkCertificateChain(certificates[certificates.length - 1]!, certificates.slice(0, -1), root, now));
}

const job = workerData as MutationJob;
const result: MutationResult = { accepted: [], otherErrors: [], failures: {} };
for (const bit of job.bits) {
  try {
    verifyMutant(job, bit);
    result.accepted.push(bit);
  } catch (error) {
    if (error instanceof AttestationError) result.failures[error.failure] = (result.failures[error.failure] ?? 0) + 1;
    else result.otherErrors.push(`bit ${bit}: ${String(error)}`);
  }
}
parentPort!.postMessage(result);
