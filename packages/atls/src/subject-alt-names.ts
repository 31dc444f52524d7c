// The subjectAltName extension (RFC 5280 §4.2.1.6) of an aTLS certificate:
// each configured name as a dNSName or, when it is an IP address, as an
// iPAddress in network byte order, as TLS clients match them.
import { isIP } from "node:net";
import { derElement, derSequence, encodeExtension } from "@strongroom/nitro";

const SUBJECT_ALT_NAME_OID = "2.5.29.17";
/** GeneralName's [2] IMPLICIT IA5String and [7] IMPLICIT OCTET STRING. */
const DNS_NAME_TAG = 0x82;
const IP_ADDRESS_TAG = 0x87;
/** Letters, digits and inner hyphens; 1 to 63 characters a label, 253 in all (RFC 1035 §2.3.1, RFC 1123 §2.1). */
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** The subjectAltName extension (non-critical, the subject has a CN) for these names; throws TypeError naming a bad one. */
export function subjectAltNameExtension(names: readonly string[]): Uint8Array {
  return encodeExtension(SUBJECT_ALT_NAME_OID, false, derSequence(...names.map(generalName)));
}

function generalName(name: string): Uint8Array {
  switch (isIP(name)) {
    case 4:
      return derElement(IP_ADDRESS_TAG, Uint8Array.from(name.split("."), Number));
    case 6:
      return derElement(IP_ADDRESS_TAG, ipv6Bytes(name));
    default:
      if (typeof name !== "string" || name.length > 253 || !name.split(".").every((label) => LABEL.test(label))) {
        throw new TypeError(`subjectAltNames: ${JSON.stringify(name)?.slice(0, 80)} is neither an IP address nor a DNS name (letters, digits and hyphens in dot-separated labels)`);
      }
      return derElement(DNS_NAME_TAG, Buffer.from(name, "latin1"));
  }
}

/** The 16 bytes of an address that isIP() has accepted as IPv6 (a zone index is not an address). */
function ipv6Bytes(address: string): Uint8Array {
  if (address.includes("%")) throw new TypeError(`subjectAltNames: ${address} has a zone index, which a certificate cannot carry`);
  // A dotted IPv4 tail (::ffff:192.0.2.1) is the last two 16-bit groups.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const [head = "", tail] = text.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const known = [...groups(head), ...groups(tail)].length;
  const all = tail === undefined ? groups(head) : [...groups(head), ...Array<string>(8 - known).fill("0"), ...groups(tail)];
  const bytes = Buffer.alloc(16);
  all.forEach((group, index) => bytes.writeUInt16BE(Number.parseInt(group, 16), index * 2));
  return new Uint8Array(bytes);
}
