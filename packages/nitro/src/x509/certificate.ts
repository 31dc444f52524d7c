// Reads X.509 certificates of the one shape this project meets (RFC 5280):
// version 3 with extensions, ECDSA P-384 keys, ecdsa-with-SHA384 signatures —
// Nitro's attestation chain and strongroom's own aTLS certificates. The parts
// their checks need are decoded; the rest of the to-be-signed bytes is covered
// by a signature (or, for a pinned root, by byte comparison).
import { createPublicKey, type KeyObject } from "node:crypto";
import { bytesEqual } from "../bytes.ts";
import { contextTag, DerError, expectTag, present, readBitString, readBoolean, readChildren, readDer, readOid, readSmallInteger, readTime, TAG, type DerElement } from "./der.ts";

export const OID = {
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  crlDistributionPoints: "2.5.29.31",
  subjectAltName: "2.5.29.17",
  extKeyUsage: "2.5.29.37",
  /** id-kp-serverAuth (RFC 5280 §4.2.1.12), a KeyPurposeId of extKeyUsage. */
  serverAuth: "1.3.6.1.5.5.7.3.1",
  countryName: "2.5.4.6",
  stateOrProvinceName: "2.5.4.8",
  localityName: "2.5.4.7",
  organizationName: "2.5.4.10",
  organizationalUnitName: "2.5.4.11",
  commonName: "2.5.4.3",
} as const;

/** AlgorithmIdentifier { ecdsa-with-SHA384 } with absent parameters (RFC 5758 §3.2): the only signature algorithm accepted. */
export const ECDSA_WITH_SHA384_ALGORITHM: Uint8Array = Uint8Array.of(0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03);

/** The content of `[0] EXPLICIT Version`: INTEGER 2 (v3). */
const V3: Uint8Array = Uint8Array.of(TAG.integer, 1, 2);

/** KeyUsage named bits (RFC 5280 §4.2.1.3) as flags of `Certificate.keyUsage`. */
export const KEY_USAGE = { digitalSignature: 1 << 0, nonRepudiation: 1 << 1, keyCertSign: 1 << 5, cRLSign: 1 << 6 } as const;

/** Extensions this verifier understands; any other marked critical makes a certificate unusable (RFC 5280 §4.2). */
const UNDERSTOOD_EXTENSIONS: ReadonlySet<string> = new Set([OID.basicConstraints, OID.keyUsage, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier, OID.crlDistributionPoints]);

const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  [OID.countryName]: "C",
  [OID.stateOrProvinceName]: "ST",
  [OID.localityName]: "L",
  [OID.organizationName]: "O",
  [OID.organizationalUnitName]: "OU",
  [OID.commonName]: "CN",
};

export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** The content of extnValue (the OCTET STRING's bytes). */
  readonly value: Uint8Array;
}

export interface Certificate {
  readonly der: Uint8Array;
  /** The to-be-signed bytes the issuer's signature covers. */
  readonly tbs: Uint8Array;
  /** The issuer's ECDSA signature, DER (ECDSA-Sig-Value). */
  readonly signature: Uint8Array;
  /** DER of the issuer and subject names, compared byte for byte along the chain. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** The subject for messages, e.g. `C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves`. */
  readonly subjectName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** An EC P-384 public key. */
  readonly publicKey: KeyObject;
  /** DER of the SubjectPublicKeyInfo exactly as the certificate carries it (what a key binding hashes). */
  readonly spki: Uint8Array;
  /** Every extension in order; each OID appears once. */
  readonly extensions: readonly CertificateExtension[];
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLength?: number };
  /** KEY_USAGE flags; absent when the certificate has no KeyUsage extension. */
  readonly keyUsage?: number;
  /** OIDs of critical extensions this verifier does not understand. */
  readonly unknownCriticalExtensions: readonly string[];
}

/** Parses a DER certificate; throws DerError saying what is wrong. */
export function readCertificate(der: Uint8Array): Certificate {
  const [tbsElement, algorithm, signatureValue, ...extra] = readChildren(readDer(der, TAG.sequence, "Certificate"));
  if (extra.length > 0) throw new DerError("Certificate has more than three elements");
  const tbs = expectTag(tbsElement, TAG.sequence, "tbsCertificate");
  requireEcdsaWithSha384(expectTag(algorithm, TAG.sequence, "signatureAlgorithm"), "signatureAlgorithm");
  const signature = readBitString(expectTag(signatureValue, TAG.bitString, "signatureValue"), "signatureValue").bytes;

  const [version, serial, innerAlgorithm, issuer, validity, subject, spki, ...optional] = readChildren(tbs);
  if (!bytesEqual(expectTag(version, contextTag(0), "version").content, V3)) throw new DerError("the certificate is not version 3");
  const serialLength = expectTag(serial, TAG.integer, "serialNumber").content.length;
  if (serialLength === 0 || serialLength > 32) throw new DerError(`serialNumber is ${serialLength} bytes, not 1 to 32`);
  requireEcdsaWithSha384(expectTag(innerAlgorithm, TAG.sequence, "signature"), "tbsCertificate signature");
  const [notBefore, notAfter, ...extraTimes] = readChildren(expectTag(validity, TAG.sequence, "validity"));
  if (extraTimes.length > 0) throw new DerError("validity has more than two times");
  // Nitro certificates carry no unique identifiers, only extensions ([3]).
  const [extensions, ...rest] = optional;
  if (rest.length > 0 || extensions?.tag !== contextTag(3)) throw new DerError("tbsCertificate must end with its extensions and nothing else");

  return {
    der,
    tbs: tbs.encoded,
    signature,
    issuer: expectTag(issuer, TAG.sequence, "issuer").encoded,
    subject: expectTag(subject, TAG.sequence, "subject").encoded,
    subjectName: describeName(subject!),
    notBefore: readTime(present(notBefore, "notBefore"), "notBefore"),
    notAfter: readTime(present(notAfter, "notAfter"), "notAfter"),
    publicKey: readP384PublicKey(expectTag(spki, TAG.sequence, "subjectPublicKeyInfo")),
    spki: spki!.encoded,
    ...readExtensions(extensions),
  };
}

function requireEcdsaWithSha384(algorithm: DerElement, what: string): void {
  if (!bytesEqual(algorithm.encoded, ECDSA_WITH_SHA384_ALGORITHM)) throw new DerError(`${what} is not ecdsa-with-SHA384`);
}

function readP384PublicKey(spki: DerElement): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki.encoded), format: "der", type: "spki" });
  } catch (error) {
    throw new DerError(`subjectPublicKeyInfo is not a usable public key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "secp384r1") throw new DerError("the public key is not EC P-384");
  return key;
}

type ExtensionFields = Pick<Certificate, "basicConstraints" | "keyUsage" | "unknownCriticalExtensions" | "extensions">;

function readExtensions(wrapper: DerElement): ExtensionFields {
  const [list, ...extra] = readChildren(wrapper);
  if (extra.length > 0) throw new DerError("extensions are followed by more data");
  const seen = new Set<string>();
  const unknownCriticalExtensions: string[] = [];
  const extensions: CertificateExtension[] = [];
  const fields: { -readonly [K in keyof ExtensionFields]: ExtensionFields[K] } = { unknownCriticalExtensions, extensions };
  for (const extension of readChildren(expectTag(list, TAG.sequence, "extensions"))) {
    const parts = readChildren(expectTag(extension, TAG.sequence, "extension"));
    const oid = readOid(expectTag(parts[0], TAG.oid, "extnID"), "extnID");
    if (parts.length !== 2 && parts.length !== 3) throw new DerError(`extension ${oid} has ${parts.length} elements`);
    if (seen.has(oid)) throw new DerError(`extension ${oid} appears twice`);
    seen.add(oid);
    const critical = parts.length === 3 && readBoolean(parts[1]!, `extension ${oid} critical`);
    const value = expectTag(parts[parts.length - 1], TAG.octetString, `extension ${oid} value`).content;
    extensions.push({ oid, critical, value });
    if (oid === OID.basicConstraints) fields.basicConstraints = readBasicConstraints(readDer(value, TAG.sequence, "basicConstraints"));
    else if (oid === OID.keyUsage) fields.keyUsage = readKeyUsage(readDer(value, TAG.bitString, "keyUsage"));
    else if (critical && !UNDERSTOOD_EXTENSIONS.has(oid)) unknownCriticalExtensions.push(oid);
  }
  return fields;
}

function readBasicConstraints(value: DerElement): { ca: boolean; pathLength?: number } {
  const parts = readChildren(value);
  let index = 0;
  const ca = parts[index]?.tag === TAG.boolean ? readBoolean(parts[index++]!, "cA") : false;
  const pathLength = parts[index]?.tag === TAG.integer ? readSmallInteger(parts[index++]!, "pathLenConstraint") : undefined;
  if (index !== parts.length) throw new DerError("basicConstraints has unexpected elements");
  return pathLength === undefined ? { ca } : { ca, pathLength };
}

function readKeyUsage(value: DerElement): number {
  const { bytes } = readBitString(value, "keyUsage", true);
  let flags = 0;
  // Named bit n is bit 7 - n % 8 of byte n / 8 (the first bit is the most significant).
  for (let bit = 0; bit < bytes.length * 8 && bit < 16; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) flags |= 1 << bit;
  }
  return flags;
}

/** A Name as `C=US, O=Amazon, CN=…` in encoded order, for messages. */
function describeName(name: DerElement): string {
  const parts: string[] = [];
  for (const rdn of readChildren(name)) {
    const attributes = readChildren(expectTag(rdn, TAG.set, "RelativeDistinguishedName"));
    if (attributes.length === 0) throw new DerError("an empty RelativeDistinguishedName");
    for (const attribute of attributes) {
      const [type, value, ...extra] = readChildren(expectTag(attribute, TAG.sequence, "AttributeTypeAndValue"));
      if (value === undefined || extra.length > 0) throw new DerError("an AttributeTypeAndValue without exactly a type and a value");
      const oid = readOid(expectTag(type, TAG.oid, "attribute type"), "attribute type");
      parts.push(`${ATTRIBUTE_NAMES[oid] ?? oid}=${describeValue(value)}`);
    }
  }
  return parts.join(", ");
}

function describeValue(value: DerElement): string {
  switch (value.tag) {
    case TAG.utf8String:
      return Buffer.from(value.content).toString("utf8");
    case TAG.printableString:
    case TAG.ia5String:
      return Buffer.from(value.content).toString("latin1");
    default:
      return `#${Buffer.from(value.encoded).toString("hex")}`;
  }
}
