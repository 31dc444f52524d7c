// A strict reader for the DER that X.509 certificates are made of: single-byte
// tags, definite lengths in their shortest form, and elements that exactly
// fill their parent. Only the shapes Nitro's certificates use are supported.

/** Identifier octets of the universal and context-specific types certificates use. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** [n] EXPLICIT (constructed, context-specific). */
export function contextTag(n: number): number {
  return 0xa0 | n;
}

/** A DER element: its tag, and views of its whole encoding and of its content. */
export interface DerElement {
  readonly tag: number;
  readonly encoded: Uint8Array;
  readonly content: Uint8Array;
}

export class DerError extends Error {
  override readonly name = "DerError";
}

function readAt(bytes: Uint8Array, offset: number): DerElement {
  const tag = bytes[offset];
  if (tag === undefined) throw new DerError("truncated: an element is missing");
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at offset ${offset}`);
  const first = bytes[offset + 1];
  if (first === undefined) throw new DerError("truncated: a length is missing");
  let length = first;
  let header = 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new DerError("indefinite length");
    if (count > 3) throw new DerError(`a ${count}-byte length field`);
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = bytes[offset + 2 + i];
      if (byte === undefined) throw new DerError("truncated: a length is cut short");
      if (i === 0 && byte === 0) throw new DerError("a length with a leading zero");
      length = length * 256 + byte;
    }
    if (length < 0x80) throw new DerError("a long-form length below 128");
    header += count;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new DerError(`truncated: an element of ${length} bytes overruns its container`);
  return { tag, encoded: bytes.subarray(offset, end), content: bytes.subarray(offset + header, end) };
}

/** The single element that `bytes` must consist of, with the expected tag. */
export function readDer(bytes: Uint8Array, tag: number, what: string): DerElement {
  const element = readAt(bytes, 0);
  if (element.encoded.length !== bytes.length) throw new DerError(`${what}: ${bytes.length - element.encoded.length} bytes follow the element`);
  return expectTag(element, tag, what);
}

/** The elements that exactly fill a constructed element's content. */
export function readChildren(parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = 0; offset < parent.content.length; ) {
    const child = readAt(parent.content, offset);
    children.push(child);
    offset += child.encoded.length;
  }
  return children;
}

/** The element, which must be there (any tag). */
export function present(element: DerElement | undefined, what: string): DerElement {
  if (element === undefined) throw new DerError(`${what} is missing`);
  return element;
}

export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  const found = present(element, what);
  if (found.tag !== tag) throw new DerError(`${what} has tag 0x${found.tag.toString(16)}, not 0x${tag.toString(16)}`);
  return found;
}

export function readBoolean(element: DerElement, what: string): boolean {
  expectTag(element, TAG.boolean, what);
  const [value] = element.content;
  if (element.content.length !== 1 || (value !== 0x00 && value !== 0xff)) throw new DerError(`${what} is not a DER boolean`);
  return value === 0xff;
}

/** A non-negative INTEGER small enough for a JavaScript number (path lengths). */
export function readSmallInteger(element: DerElement, what: string): number {
  expectTag(element, TAG.integer, what);
  const { content } = element;
  if (content.length === 0 || content.length > 4) throw new DerError(`${what} is not a small integer`);
  if ((content[0]! & 0x80) !== 0) throw new DerError(`${what} is negative`);
  if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) throw new DerError(`${what} has a redundant leading zero`);
  return content.reduce((value, byte) => value * 256 + byte, 0);
}

/** Base-128 digits in one sub-identifier: enough for a UUID arc (2.25.<128 bits>, X.667), little enough to stay cheap. */
const MAX_SUBIDENTIFIER_BYTES = 20;

/** An OBJECT IDENTIFIER in dotted form. Arcs are bigints, since UUID-based OIDs have 128-bit ones. */
export function readOid(element: DerElement, what: string): string {
  expectTag(element, TAG.oid, what);
  const arcs: bigint[] = [];
  let value = 0n;
  let digits = 0;
  for (const byte of element.content) {
    if (digits === 0 && byte === 0x80) throw new DerError(`${what} has a padded sub-identifier`);
    if (++digits > MAX_SUBIDENTIFIER_BYTES) throw new DerError(`${what} has a sub-identifier of more than ${MAX_SUBIDENTIFIER_BYTES} bytes`);
    value = (value << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0n;
      digits = 0;
    }
  }
  if (arcs.length === 0 || digits !== 0) throw new DerError(`${what} is not a complete object identifier`);
  const first = arcs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join(".");
}

/** A BIT STRING's bits, with no unused bits allowed unless `allowUnused` (KeyUsage's named bits use them). */
export function readBitString(element: DerElement, what: string, allowUnused = false): { bytes: Uint8Array; unusedBits: number } {
  expectTag(element, TAG.bitString, what);
  const unusedBits = element.content[0];
  if (unusedBits === undefined || unusedBits > 7) throw new DerError(`${what} is not a bit string`);
  if (unusedBits !== 0 && (!allowUnused || element.content.length === 1)) throw new DerError(`${what} has ${unusedBits} unused bits`);
  const bytes = element.content.subarray(1);
  if (unusedBits !== 0 && (bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) !== 0) throw new DerError(`${what} has unused bits that are set`);
  return { bytes, unusedBits };
}

/** UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), as DER requires them. */
export function readTime(element: DerElement, what: string): Date {
  const text = String.fromCharCode(...element.content);
  let match: RegExpMatchArray | null;
  let year: number;
  if (element.tag === TAG.utcTime && (match = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    const yy = Number(match[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (element.tag === TAG.generalizedTime && (match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    year = Number(match[1]);
  } else {
    throw new DerError(`${what} is not a DER UTCTime or GeneralizedTime`);
  }
  const [month, day, hour, minute, second] = match.slice(2).map(Number) as [number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 31 February over into March (and years below 100 into the 1900s); a valid time reads back the same.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || date.getUTCHours() !== hour || date.getUTCMinutes() !== minute || second > 59) {
    throw new DerError(`${what} is not a valid time`);
  }
  return date;
}
