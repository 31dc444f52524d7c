// The certificate path from the pinned root through the document's cabundle
// to its signing certificate (RFC 5280 §6, as AWS's attestation_process.md
// applies it). `checkCertificateChain` does every check but the issuers'
// signatures, which `verifyChainSignatures` does: the cheap checks, and the
// one COSE signature, can then run before the four chain signatures.
import { verify } from "node:crypto";
import { bytesEqual } from "../bytes.ts";
import { KEY_USAGE, readCertificate, type Certificate } from "../x509/certificate.ts";
import { DerError } from "../x509/der.ts";
import { AttestationError, malformed } from "./errors.ts";

/** Parses a DER certificate of a document or root; every failure is a malformed-document AttestationError naming `what`. */
export function parseCertificate(der: Uint8Array, what: string): Certificate {
  try {
    return readCertificate(der);
  } catch (error) {
    if (error instanceof DerError) throw malformed(`${what} is not a valid certificate: ${error.message}`);
    throw error;
  }
}

/** The path root first, signing certificate last. */
type CertificatePath = readonly Certificate[];

export function checkCertificateChain(certificate: Uint8Array, cabundle: readonly Uint8Array[], root: Certificate, now: Date): CertificatePath {
  if (cabundle[0] === undefined || !bytesEqual(cabundle[0], root.der)) {
    throw new AttestationError("untrusted-root", `cabundle[0] is not the pinned root certificate (${root.subjectName})`);
  }
  const path = [
    root,
    ...cabundle.slice(1).map((der, index) => parseCertificate(der, `cabundle[${index + 1}]`)),
    parseCertificate(certificate, "the signing certificate"),
  ];
  for (const certificate of path) checkValidity(certificate, now);
  const leafIndex = path.length - 1;
  for (let index = 1; index < path.length; index++) {
    const issuer = path[index - 1]!;
    const subject = path[index]!;
    const which = index === leafIndex ? "the signing certificate" : `cabundle[${index}]`;
    if (!bytesEqual(subject.issuer, issuer.subject)) {
      throw new AttestationError("invalid-chain", `${which} (${subject.subjectName}) is not issued by the certificate before it (${issuer.subjectName})`);
    }
    if (index < leafIndex && bytesEqual(subject.issuer, subject.subject)) {
      throw new AttestationError("invalid-chain", `${which} (${subject.subjectName}) is self-issued; only the root may be`);
    }
    // The CAs below this issuer on the path, not counting the signing certificate.
    checkIssuer(issuer, leafIndex - index);
  }
  checkSigningCertificate(path[leafIndex]!);
  for (const certificate of path) {
    const [oid] = certificate.unknownCriticalExtensions;
    if (oid !== undefined) throw new AttestationError("invalid-chain", `${certificate.subjectName} has a critical extension this verifier does not know (${oid})`);
  }
  return path;
}

/** Each issuer's ECDSA P-384/SHA-384 signature over the next certificate's to-be-signed bytes. */
export function verifyChainSignatures(path: CertificatePath): void {
  for (let index = 1; index < path.length; index++) {
    const issuer = path[index - 1]!;
    const subject = path[index]!;
    if (!verify("sha384", subject.tbs, { key: issuer.publicKey, dsaEncoding: "der" }, subject.signature)) {
      throw new AttestationError("invalid-chain", `the signature on ${subject.subjectName} does not verify with the key of ${issuer.subjectName}`);
    }
  }
}

function checkValidity(certificate: Certificate, now: Date): void {
  if (now < certificate.notBefore) {
    throw new AttestationError("not-yet-valid", `${certificate.subjectName} is not valid before ${certificate.notBefore.toISOString()} (verifying at ${now.toISOString()})`);
  }
  if (now > certificate.notAfter) {
    throw new AttestationError("expired", `${certificate.subjectName} expired at ${certificate.notAfter.toISOString()} (verifying at ${now.toISOString()})`);
  }
}

function checkIssuer(issuer: Certificate, casBelow: number): void {
  const { basicConstraints, keyUsage = 0 } = issuer;
  if (basicConstraints?.ca !== true) throw new AttestationError("invalid-chain", `${issuer.subjectName} issues a certificate but is not a CA (basicConstraints cA)`);
  if ((keyUsage & KEY_USAGE.keyCertSign) === 0) throw new AttestationError("invalid-chain", `${issuer.subjectName} issues a certificate but its key usage lacks keyCertSign`);
  if (basicConstraints.pathLength !== undefined && casBelow > basicConstraints.pathLength) {
    throw new AttestationError("invalid-chain", `${issuer.subjectName} allows ${basicConstraints.pathLength} CA certificates below it; the path has ${casBelow}`);
  }
}

function checkSigningCertificate(leaf: Certificate): void {
  if (leaf.basicConstraints?.ca === true) throw new AttestationError("invalid-chain", `the signing certificate (${leaf.subjectName}) is a CA`);
  if (((leaf.keyUsage ?? 0) & KEY_USAGE.digitalSignature) === 0) {
    throw new AttestationError("invalid-chain", `the signing certificate (${leaf.subjectName}) lacks the digitalSignature key usage`);
  }
}
