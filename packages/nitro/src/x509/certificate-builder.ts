// Builds X.509 v3 certificates signed with ecdsa-with-SHA384: those of the
// simulated CA, shaped like AWS's Nitro attestation PKI, aTLS's self-signed
// ones, and the TLS server certificates of the simulator's outbound services.
import { createHash, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { readBitString, readChildren, readDer, TAG } from "./der.ts";
import { derBitString, derBoolean, derElement, derExplicit, derInteger, derOctetString, derOid, derPrintableString, derSequence, derSet, derTime, derUtf8String } from "./der-writer.ts";
import { ECDSA_WITH_SHA384_ALGORITHM, OID } from "./certificate.ts";

export interface CertificateTemplate {
  readonly serialNumber: Uint8Array;
  /** DER Names, as `encodeName` makes them. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  /** Encoded Extension elements, in order. */
  readonly extensions: readonly Uint8Array[];
}

/** The DER certificate for the template, signed with the issuer's P-384 private key. */
export function buildCertificate(template: CertificateTemplate, issuerKey: KeyObject): Uint8Array {
  const tbs = derSequence(
    derExplicit(0, derInteger(2)),
    derInteger(template.serialNumber),
    ECDSA_WITH_SHA384_ALGORITHM,
    template.issuer,
    derSequence(derTime(template.notBefore), derTime(template.notAfter)),
    template.subject,
    spki(template.publicKey),
    derExplicit(3, derSequence(...template.extensions)),
  );
  const signature = sign("sha384", tbs, { key: issuerKey, dsaEncoding: "der" });
  return derSequence(tbs, ECDSA_WITH_SHA384_ALGORITHM, derBitString(signature));
}

/** Attribute short names this builder writes; countryName is a PrintableString, the rest UTF8String, as AWS writes them. */
const ATTRIBUTES = { C: OID.countryName, ST: OID.stateOrProvinceName, L: OID.localityName, O: OID.organizationName, OU: OID.organizationalUnitName, CN: OID.commonName } as const;

/** A Name with one attribute per RDN, in the given order. */
export function encodeName(attributes: readonly (readonly [keyof typeof ATTRIBUTES, string])[]): Uint8Array {
  return derSequence(
    ...attributes.map(([type, value]) => derSet(derSequence(derOid(ATTRIBUTES[type]), type === "C" ? derPrintableString(value) : derUtf8String(value)))),
  );
}

function spki(publicKey: KeyObject): Uint8Array {
  return new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (the EC point), as AWS's certificates use. */
export function keyIdentifier(publicKey: KeyObject): Uint8Array {
  const [, subjectPublicKey] = readChildren(readDer(spki(publicKey), TAG.sequence, "subjectPublicKeyInfo"));
  return new Uint8Array(createHash("sha1").update(readBitString(subjectPublicKey!, "subjectPublicKey").bytes).digest());
}

/** An Extension element; a non-critical one omits `critical` (DER leaves out defaults). */
export function encodeExtension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? derSequence(derOid(oid), derBoolean(true), derOctetString(value)) : derSequence(derOid(oid), derOctetString(value));
}

/** Always critical; cA FALSE is the empty sequence (DER omits defaults). */
export function basicConstraintsExtension(ca: boolean, pathLength?: number): Uint8Array {
  const fields = ca ? [derBoolean(true), ...(pathLength === undefined ? [] : [derInteger(pathLength)])] : [];
  return encodeExtension(OID.basicConstraints, true, derSequence(...fields));
}

/** KEY_USAGE flags as a named-bit BIT STRING: bit n is the (n % 8)-th most significant bit of byte n / 8, trailing zero bits dropped. */
export function keyUsageExtension(flags: number, critical: boolean): Uint8Array {
  const highest = 31 - Math.clz32(flags);
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (let bit = 0; bit <= highest; bit++) if (flags & (1 << bit)) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return encodeExtension(OID.keyUsage, critical, derBitString(bytes, 7 - (highest & 7)));
}

export function subjectKeyIdentifierExtension(keyId: Uint8Array): Uint8Array {
  return encodeExtension(OID.subjectKeyIdentifier, false, derOctetString(keyId));
}

/** AuthorityKeyIdentifier { keyIdentifier [0] IMPLICIT }. */
export function authorityKeyIdentifierExtension(keyId: Uint8Array): Uint8Array {
  return encodeExtension(OID.authorityKeyIdentifier, false, derSequence(derElement(0x80, keyId)));
}

/** One DistributionPoint whose fullName is one URI: SEQUENCE { SEQUENCE { [0] { [0] { [6] uri } } } }. */
export function crlDistributionPointExtension(uri: string): Uint8Array {
  return encodeExtension(OID.crlDistributionPoints, false, derSequence(derSequence(derExplicit(0, derExplicit(0, derElement(0x86, Buffer.from(uri, "latin1")))))));
}

/** GeneralName's [2] IMPLICIT IA5String (dNSName) and [7] IMPLICIT OCTET STRING (iPAddress). */
const DNS_NAME_TAG = 0x82;
const IP_ADDRESS_TAG = 0x87;
/** Letters, digits and inner hyphens; 1 to 63 characters a label, 253 in all (RFC 1035 §2.3.1, RFC 1123 §2.1). */
const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * subjectAltName (RFC 5280 §4.2.1.6), non-critical (so the subject must name
 * something): an IP address as an iPAddress in network byte order, as TLS
 * clients match it, anything else as a dNSName. Throws TypeError for a name
 * that is neither (or for no names at all).
 */
export function subjectAltNameExtension(names: readonly string[]): Uint8Array {
  if (names.length === 0) throw new TypeError("subjectAltName needs at least one name");
  return encodeExtension(OID.subjectAltName, false, derSequence(...names.map(generalName)));
}

function generalName(name: string): Uint8Array {
  switch (isIP(name)) {
    case 4:
      return derElement(IP_ADDRESS_TAG, Uint8Array.from(name.split("."), Number));
    case 6:
      return derElement(IP_ADDRESS_TAG, ipv6Bytes(name));
    default:
      if (name.length > 253 || !name.split(".").every((label) => DNS_LABEL.test(label))) {
        throw new TypeError(`${JSON.stringify(name.slice(0, 80))} is neither an IP address nor a DNS name (letters, digits and hyphens in dot-separated labels)`);
      }
      return derElement(DNS_NAME_TAG, Buffer.from(name, "latin1"));
  }
}

/** The 16 bytes of an address that isIP() calls IPv6; a zone index (fe80::1%eth0) is not part of an address a certificate can carry. */
function ipv6Bytes(address: string): Uint8Array {
  if (address.includes("%")) throw new TypeError(`${address} has a zone index, which a certificate cannot carry`);
  // An embedded IPv4 address (::ffff:192.0.2.1) is the last two 16-bit groups.
  const hex = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) => `${(+a * 256 + +b).toString(16)}:${(+c * 256 + +d).toString(16)}`);
  const groupsOf = (part: string | undefined) => (part ? part.split(":") : []);
  const [head, tail] = hex.split("::");
  const elided = tail === undefined ? [] : Array<string>(8 - groupsOf(head).length - groupsOf(tail).length).fill("0");
  const bytes = Buffer.alloc(16);
  [...groupsOf(head), ...elided, ...groupsOf(tail)].forEach((group, index) => bytes.writeUInt16BE(Number.parseInt(group, 16), index * 2));
  return new Uint8Array(bytes);
}

/** extKeyUsage (RFC 5280 §4.2.1.12) with these KeyPurposeIds (e.g. OID.serverAuth), non-critical. */
export function extendedKeyUsageExtension(purposes: readonly string[]): Uint8Array {
  return encodeExtension(OID.extKeyUsage, false, derSequence(...purposes.map(derOid)));
}
