// Verification of an NSM attestation document against a pinned root.
import { AWS_NITRO_ENCLAVES_ROOT_G1 } from "./aws-root.ts";
import { bytesEqual, toHex } from "../bytes.ts";
import { checkCertificateChain, parseCertificate, verifyChainSignatures } from "./chain.ts";
import { decodeCoseSign1, verifyCoseSign1 } from "./cose-sign1.ts";
import { parseAttestationPayload, type AttestationDocument } from "./document.ts";
import { AttestationError } from "./errors.ts";
import { pemToDer } from "../x509/pem.ts";
import type { Certificate } from "../x509/certificate.ts";

/** PCR values by index; a document matches when each listed PCR is equal (unlisted ones are not checked). */
export type PcrSet = ReadonlyMap<number, Uint8Array>;

export interface VerifyOptions {
  /** The instant at which certificates must be valid and the age is measured; default: the current time. */
  readonly now?: Date;
  /** The trusted root, DER or PEM; default: AWS Nitro Enclaves Root G1. Give a simulator's root only on purpose. */
  readonly root?: Uint8Array | string;
  /** Accept documents from debug-mode enclaves (PCR0 all zero). Never in production. */
  readonly allowDebug?: boolean;
  /** The PCRs the enclave must have: one set, or several of which any one may match. */
  readonly expectedPcrs?: PcrSet | readonly PcrSet[];
  /** The oldest acceptable document, in milliseconds before `now`. */
  readonly maxAge?: number;
}

export interface CertificateSummary {
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface VerifiedAttestation {
  readonly document: AttestationDocument;
  /** PCR0 is all zero: the enclave runs in debug mode (only returned when allowDebug). */
  readonly debug: boolean;
  /** The verified path, root first, signing certificate last. */
  readonly certificates: readonly CertificateSummary[];
  /** When the first certificate of the path expires: the document cannot verify after this. */
  readonly validUntil: Date;
}

const awsRoot = parseCertificate(AWS_NITRO_ENCLAVES_ROOT_G1, "the AWS Nitro Enclaves root");

/**
 * A root certificate as DER, from DER or PEM; throws TypeError when it is not
 * a certificate this verifier can use as a root (P-384, ecdsa-with-SHA384).
 */
export function readRootCertificate(root: Uint8Array | string): Uint8Array {
  return parseRoot(root).der;
}

function parseRoot(root: Uint8Array | string): Certificate {
  try {
    const der = typeof root === "string" ? pemToDer(root) : root;
    return bytesEqual(der, awsRoot.der) ? awsRoot : parseCertificate(der, "the root certificate");
  } catch (error) {
    throw new TypeError(`the root certificate is unusable: ${(error as Error).message}`);
  }
}

/**
 * Verifies a COSE_Sign1 attestation document as the NSM produced it, and
 * returns its content; throws AttestationError with the reason otherwise.
 * Checks, in order: the envelope and payload (types, sizes, key order,
 * canonical encoding); the certificate path to the pinned root (cabundle[0]
 * is the root itself; names, CA constraints, path lengths, key usages,
 * algorithms, validity at `now`); the COSE signature with the signing
 * certificate's key; each issuer's signature; then the policy: debug mode,
 * expected PCRs, maximum age.
 */
export function verifyAttestationDocument(bytes: Uint8Array, options: VerifyOptions = {}): VerifiedAttestation {
  const root = options.root === undefined ? awsRoot : parseRoot(options.root);
  const now = options.now ?? new Date();
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError("options.now must be a valid Date");
  const pcrSets = options.expectedPcrs === undefined ? undefined : Array.isArray(options.expectedPcrs) ? options.expectedPcrs : [options.expectedPcrs as PcrSet];
  if (pcrSets?.length === 0) throw new TypeError("options.expectedPcrs is an empty list, which no document can match");
  if (options.maxAge !== undefined && !(options.maxAge >= 0)) throw new TypeError("options.maxAge must be a non-negative number of milliseconds");

  const message = decodeCoseSign1(bytes);
  const document = parseAttestationPayload(message.payload);
  const path = checkCertificateChain(document.certificate, document.cabundle, root, now);
  if (!verifyCoseSign1(message, path[path.length - 1]!.publicKey)) {
    throw new AttestationError("invalid-signature", "the COSE signature does not verify with the signing certificate's key");
  }
  verifyChainSignatures(path);

  const debug = isDebug(document.pcrs);
  if (debug && options.allowDebug !== true) {
    throw new AttestationError("debug-enclave", "the document comes from a debug-mode enclave (PCR0 is all zero or absent); debug enclaves are not allowed");
  }
  if (pcrSets !== undefined) checkPcrs(document.pcrs, pcrSets);
  if (options.maxAge !== undefined && now.getTime() - document.timestampMs > options.maxAge) {
    throw new AttestationError("too-old", `the document is from ${document.timestamp.toISOString()}, more than ${options.maxAge} ms before ${now.toISOString()}`);
  }
  return {
    document,
    debug,
    certificates: path.map(({ subjectName, notBefore, notAfter }) => ({ subject: subjectName, notBefore, notAfter })),
    validUntil: new Date(Math.min(...path.map((certificate) => certificate.notAfter.getTime()))),
  };
}

/** Nitro zeroes PCR0 (the image measurement) in debug mode. */
function isDebug(pcrs: ReadonlyMap<number, Uint8Array>): boolean {
  const pcr0 = pcrs.get(0);
  return pcr0 === undefined || pcr0.every((byte) => byte === 0);
}

function checkPcrs(pcrs: ReadonlyMap<number, Uint8Array>, sets: readonly PcrSet[]): void {
  const mismatches = sets.map((set) => describeMismatch(pcrs, set));
  if (mismatches.some((mismatch) => mismatch === undefined)) return;
  const reason = sets.length === 1 ? mismatches[0] : `they match none of the ${sets.length} accepted sets (${mismatches.map((m, i) => `set ${i + 1}: ${m}`).join("; ")})`;
  throw new AttestationError("pcr-mismatch", `the PCRs are not the expected ones: ${reason}`);
}

function describeMismatch(pcrs: ReadonlyMap<number, Uint8Array>, expected: PcrSet): string | undefined {
  const differences: string[] = [];
  for (const [index, value] of expected) {
    const actual = pcrs.get(index);
    if (actual === undefined) differences.push(`PCR${index} is absent, expected ${toHex(value)}`);
    else if (!bytesEqual(actual, value)) differences.push(`PCR${index} is ${toHex(actual)}, expected ${toHex(value)}`);
  }
  return differences.length === 0 ? undefined : differences.join(", ");
}
