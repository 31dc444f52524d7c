// Shared material for the attestation tests: the two real AWS documents, a
// way to take them apart and put them back, and a small PKI with its own keys
// for documents whose chain a test wants to shape.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  buildCertificate,
  encodeName,
  keyIdentifier,
  keyUsageExtension,
  subjectKeyIdentifierExtension,
} from "../src/x509/certificate-builder.ts";
import { signCoseSign1 } from "../src/attestation/cose-sign1.ts";
import { encodeAttestationPayload, type AttestationDocument } from "../src/attestation/document.ts";
import { AttestationError, type AttestationFailure } from "../src/attestation/index.ts";
import { KEY_USAGE } from "../src/x509/certificate.ts";
import { type CborValue, decodeCbor, encodeCbor } from "../src/cbor.ts";

const VECTORS = new URL("../../../../shared/vectors/nitro/", import.meta.url);

function vector(name: string): Uint8Array {
  return new Uint8Array(Buffer.from(readFileSync(new URL(name, VECTORS), "utf8"), "base64"));
}

/** The real documents and the instants they were made at (their `timestamp`). */
export const PRODUCTION = { bytes: vector("aws-production-2024-09-07.b64"), at: new Date(1725719859545) } as const;
export const DEBUG = { bytes: vector("aws-debug-2024-09-07.b64"), at: new Date(1725719886508) } as const;
export const AWS_ROOT_PEM = readFileSync(new URL("aws-nitro-enclaves-root-g1.pem", VECTORS), "utf8");

/** Decodes CBOR as it is, without the verifier's checks, to take a document apart. */
export const decodeRaw = (bytes: Uint8Array): CborValue => decodeCbor(bytes, "a test document");

/** A real document's four COSE items, the payload decoded into a Map whose entries a test may change. */
export function takeApart(document: Uint8Array): { protectedHeader: Uint8Array; unprotected: Map<unknown, unknown>; payload: Map<string, unknown>; signature: Uint8Array } {
  const [protectedHeader, unprotected, payload, signature] = decodeRaw(document) as [Uint8Array, Map<unknown, unknown>, Uint8Array, Uint8Array];
  return { protectedHeader, unprotected, payload: decodeRaw(payload) as Map<string, unknown>, signature };
}

/** The document again, with a payload (Map or bytes) and the original signature. */
export function putTogether(document: Uint8Array, payload: Map<string, unknown> | Uint8Array): Uint8Array {
  const { protectedHeader, unprotected, signature } = takeApart(document);
  return encodeCbor([protectedHeader, unprotected, payload instanceof Map ? encodeCbor(payload) : payload, signature]);
}

/** Runs `verify` and expects an AttestationError (and no other kind of exception) of this failure kind. */
export function expectRefusal(verify: () => unknown, failure: AttestationFailure, message?: RegExp): AttestationError {
  let caught: unknown;
  try {
    verify();
  } catch (error) {
    caught = error;
  }
  expect(caught, "the document was accepted").toBeInstanceOf(AttestationError);
  const error = caught as AttestationError;
  expect(error.failure, error.message).toBe(failure);
  if (message !== undefined) expect(error.message).toMatch(message);
  return error;
}

/** A certificate of the test PKI with its private key. */
export interface TestIssuer {
  readonly der: Uint8Array;
  readonly subject: Uint8Array;
  readonly privateKey: KeyObject;
  readonly keyId: Uint8Array;
}

export interface TestCertificateSpec {
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints: a CA (with an optional path length) or, when absent, an end entity. */
  readonly ca?: { readonly pathLength?: number } | false;
  readonly keyUsage: number;
  readonly extraExtensions?: readonly Uint8Array[];
  /** The issuer name written into the certificate, when it should not be the issuer's subject. */
  readonly issuerName?: Uint8Array;
  readonly curve?: "P-384" | "P-256";
}

/** Issues a certificate; without an issuer it signs itself (a root). */
export function issueTestCertificate(spec: TestCertificateSpec, issuer?: TestIssuer): TestIssuer {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: spec.curve ?? "P-384" });
  const keyId = keyIdentifier(publicKey);
  const der = buildCertificate(
    {
      serialNumber: Uint8Array.of(1, 2, 3, 4),
      issuer: spec.issuerName ?? issuer?.subject ?? spec.subject,
      subject: spec.subject,
      notBefore: spec.notBefore,
      notAfter: spec.notAfter,
      publicKey,
      extensions: [
        basicConstraintsExtension(spec.ca !== undefined && spec.ca !== false, spec.ca ? spec.ca.pathLength : undefined),
        keyUsageExtension(spec.keyUsage, true),
        subjectKeyIdentifierExtension(keyId),
        ...(issuer ? [authorityKeyIdentifierExtension(issuer.keyId)] : []),
        ...(spec.extraExtensions ?? []),
      ],
    },
    issuer?.privateKey ?? privateKey,
  );
  return { der, subject: spec.subject, privateKey, keyId };
}

const CA_USAGE = KEY_USAGE.digitalSignature | KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign;

/** Specs of a chain shaped like AWS's (root, three CAs with path lengths 2, 1, 0, a signing certificate), valid around `at`. */
export function testChainSpecs(at: Date): TestCertificateSpec[] {
  const notBefore = new Date(at.getTime() - 3600_000);
  const notAfter = new Date(at.getTime() + 86_400_000);
  const named = (cn: string) => encodeName([["C", "US"], ["O", "strongroom tests"], ["CN", cn]]);
  return [
    { subject: named("test root"), notBefore, notAfter, ca: {}, keyUsage: CA_USAGE },
    { subject: named("test regional"), notBefore, notAfter, ca: { pathLength: 2 }, keyUsage: CA_USAGE },
    { subject: named("test zonal"), notBefore, notAfter, ca: { pathLength: 1 }, keyUsage: CA_USAGE },
    { subject: named("test instance"), notBefore, notAfter, ca: { pathLength: 0 }, keyUsage: KEY_USAGE.keyCertSign },
    { subject: named("test enclave"), notBefore, notAfter, keyUsage: KEY_USAGE.digitalSignature | KEY_USAGE.nonRepudiation },
  ];
}

/** Issues each spec with the one before it (the first signs itself). */
export function issueTestChain(specs: readonly TestCertificateSpec[]): TestIssuer[] {
  const chain: TestIssuer[] = [];
  for (const spec of specs) chain.push(issueTestCertificate(spec, chain[chain.length - 1]));
  return chain;
}

export const testPcrs = (): Map<number, Uint8Array> => new Map(Array.from({ length: 16 }, (_, i) => [i, new Uint8Array(48).fill(i === 0 ? 0x5a : 0)]));

/** A document signed by the chain's last certificate (or `signWith`), its bundle the others, root first. */
export function testDocument(chain: readonly TestIssuer[], at: Date, changes: Partial<AttestationDocument> & { signWith?: KeyObject } = {}): Uint8Array {
  const { signWith, ...fields } = changes;
  const signing = chain[chain.length - 1]!;
  const payload = encodeAttestationPayload({
    moduleId: "i-0123456789abcdef0-enc0123456789abcdef",
    digest: "SHA384",
    timestamp: at,
    timestampMs: at.getTime(),
    pcrs: testPcrs(),
    certificate: signing.der,
    cabundle: chain.slice(0, -1).map((certificate) => certificate.der),
    userData: new TextEncoder().encode("strongroom test"),
    ...fields,
  });
  return signCoseSign1(payload, signWith ?? signing.privateKey);
}
