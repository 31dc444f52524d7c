// A small, bounded reader for the BER that AWS KMS writes its
// CiphertextForRecipient envelopes in: definite and indefinite lengths,
// constructed elements closed by end-of-contents, strings split into
// constructed pieces, and single-byte tags (CMS needs no tag number above 30).
//
// Why not @strongroom/nitro's DER reader: that one is strict DER on purpose
// (certificates are signed over their exact bytes, so it refuses indefinite
// and non-minimal lengths), it reads lazily one level at a time with offsets
// relative to each parent, and it has no notion of end-of-contents or of
// segmented strings. Teaching it BER would mean a second mode threaded through
// every function of the certificate parser; a separate reader here keeps the
// certificate path strict and this one small.
//
// The whole input is read eagerly into a tree, within limits on total size,
// nesting depth and element count, so that a hostile envelope costs at most
// linear time and bounded memory before any CMS rule is checked.

/** Every refusal of a KMS envelope: malformed BER, an unexpected CMS shape, or a failed decryption. */
export class KmsEnvelopeError extends Error {
  override readonly name = "KmsEnvelopeError";
}

/** Tag classes (the top two bits of the identifier octet). */
export const TAG_CLASS = { universal: 0, application: 1, context: 2, private: 3 } as const;

/** Universal tag numbers CMS uses. */
export const UNIVERSAL = { integer: 2, bitString: 3, octetString: 4, null: 5, oid: 6, sequence: 16, set: 17 } as const;

/** One BER element. Offsets are absolute, in the buffer given to readBer. */
export interface BerElement {
  readonly tagClass: number;
  readonly constructed: boolean;
  readonly tagNumber: number;
  /** Where the identifier octet is. */
  readonly offset: number;
  /** Just past the element, including its end-of-contents if the length was indefinite. */
  readonly end: number;
  readonly indefinite: boolean;
  /** A primitive element's value octets; a constructed element's encoded children (without the end-of-contents). */
  readonly content: Uint8Array;
  /** A constructed element's children, in order; empty for a primitive one. */
  readonly children: readonly BerElement[];
}

export interface BerLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxElements: number;
}

const UNIVERSAL_NAMES: Record<number, string> = {
  1: "BOOLEAN",
  2: "INTEGER",
  3: "BIT STRING",
  4: "OCTET STRING",
  5: "NULL",
  6: "OBJECT IDENTIFIER",
  12: "UTF8String",
  16: "SEQUENCE",
  17: "SET",
};

/** A tag as a person reads it: "SEQUENCE", "[0] (constructed)", "universal 9 (primitive)". */
export function describeTag(tagClass: number, constructed: boolean, tagNumber: number): string {
  const form = constructed ? "constructed" : "primitive";
  if (tagClass === TAG_CLASS.universal) {
    const name = UNIVERSAL_NAMES[tagNumber];
    return name === undefined ? `universal ${tagNumber} (${form})` : `${name} (${form})`;
  }
  const prefix = tagClass === TAG_CLASS.context ? "" : tagClass === TAG_CLASS.application ? "APPLICATION " : "PRIVATE ";
  return `[${prefix}${tagNumber}] (${form})`;
}

export function describeElement(element: BerElement): string {
  return describeTag(element.tagClass, element.constructed, element.tagNumber);
}

/** Bytes in a length field: four already allow lengths far beyond any input the limits let through. */
const MAX_LENGTH_OCTETS = 4;

/**
 * Reads the one element that starts at offset 0 of `bytes`. Bytes after it are
 * left to the caller (see BerElement.end); bytes inside it must form elements
 * that exactly fill each constructed parent.
 */
export function readBer(bytes: Uint8Array, limits: BerLimits): BerElement {
  if (bytes.length > limits.maxBytes) throw new KmsEnvelopeError(`the input is ${bytes.length} bytes, over the limit of ${limits.maxBytes}`);
  let elements = 0;

  function read(offset: number, limit: number, depth: number): BerElement {
    if (offset >= limit) throw new KmsEnvelopeError(`truncated: an element is missing at offset ${offset}`);
    if (depth > limits.maxDepth) throw new KmsEnvelopeError(`elements nested deeper than ${limits.maxDepth} levels at offset ${offset}`);
    if (++elements > limits.maxElements) throw new KmsEnvelopeError(`more than ${limits.maxElements} elements (at offset ${offset})`);
    const identifier = bytes[offset]!;
    const tagClass = identifier >> 6;
    const constructed = (identifier & 0x20) !== 0;
    const tagNumber = identifier & 0x1f;
    if (tagNumber === 0x1f) throw new KmsEnvelopeError(`a multi-byte tag number at offset ${offset} (CMS uses none)`);
    if (tagClass === TAG_CLASS.universal && tagNumber === 0) {
      throw new KmsEnvelopeError(identifier === 0 ? `an unexpected end-of-contents at offset ${offset}` : `reserved tag 0x${identifier.toString(16)} at offset ${offset}`);
    }
    const first = bytes[offset + 1];
    if (first === undefined || offset + 1 >= limit) throw new KmsEnvelopeError(`truncated: the length of the element at offset ${offset} is missing`);
    let header = 2;

    if (first === 0x80) {
      if (!constructed) throw new KmsEnvelopeError(`a primitive element with an indefinite length at offset ${offset}`);
      const contentStart = offset + header;
      const children: BerElement[] = [];
      for (let at = contentStart; ; ) {
        if (at + 2 > limit) throw new KmsEnvelopeError(`truncated: the end-of-contents of the element at offset ${offset} is missing`);
        if (bytes[at] === 0x00) {
          if (bytes[at + 1] !== 0x00) throw new KmsEnvelopeError(`a malformed end-of-contents (non-zero length) at offset ${at}`);
          return { tagClass, constructed, tagNumber, offset, end: at + 2, indefinite: true, content: bytes.subarray(contentStart, at), children };
        }
        const child = read(at, limit, depth + 1);
        children.push(child);
        at = child.end;
      }
    }

    let length = first;
    if (first > 0x80) {
      const count = first & 0x7f;
      if (count === 0x7f) throw new KmsEnvelopeError(`a reserved length octet 0xff at offset ${offset + 1}`);
      if (count > MAX_LENGTH_OCTETS) throw new KmsEnvelopeError(`a ${count}-byte length field at offset ${offset + 1}`);
      if (offset + 2 + count > limit) throw new KmsEnvelopeError(`truncated: the length field at offset ${offset + 1} is cut short`);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + 2 + i]!;
      header += count;
    }
    const contentStart = offset + header;
    const end = contentStart + length;
    if (end > limit) {
      throw new KmsEnvelopeError(`truncated: the element at offset ${offset} claims ${length} bytes but only ${Math.max(0, limit - contentStart)} remain in its container`);
    }
    const content = bytes.subarray(contentStart, end);
    const children: BerElement[] = [];
    if (constructed) {
      for (let at = contentStart; at < end; ) {
        if (bytes[at] === 0x00) throw new KmsEnvelopeError(`an end-of-contents inside the definite-length element at offset ${offset} (at offset ${at})`);
        const child = read(at, end, depth + 1);
        children.push(child);
        at = child.end;
      }
    }
    return { tagClass, constructed, tagNumber, offset, end, indefinite: false, content, children };
  }

  return read(0, bytes.length, 0);
}

/** Whether the element has this class and number (either form). */
export function hasTag(element: BerElement | undefined, tagClass: number, tagNumber: number): element is BerElement {
  return element !== undefined && element.tagClass === tagClass && element.tagNumber === tagNumber;
}

/** The element, which must be there with this class, number and form. */
export function expectElement(element: BerElement | undefined, tagClass: number, tagNumber: number, constructed: boolean, what: string): BerElement {
  const wanted = describeTag(tagClass, constructed, tagNumber);
  if (element === undefined) throw new KmsEnvelopeError(`${what} is missing (expected ${wanted})`);
  if (element.tagClass !== tagClass || element.tagNumber !== tagNumber || element.constructed !== constructed) {
    throw new KmsEnvelopeError(`${what} at offset ${element.offset} is ${describeElement(element)}, not ${wanted}`);
  }
  return element;
}

/** Refuses any child after the first `used` ones. */
export function expectNoMore(children: readonly BerElement[], used: number, what: string): void {
  const extra = children[used];
  if (extra !== undefined) throw new KmsEnvelopeError(`${what} has an unexpected ${describeElement(extra)} at offset ${extra.offset}`);
}

/** Bound on the pieces a constructed string may nest, beyond the overall depth limit. */
const MAX_STRING_PIECES = 4096;

/**
 * A string type's value: a primitive element's content, or the concatenated
 * pieces of a constructed one (each an OCTET STRING, possibly itself
 * constructed, as X.690 §8.7 allows). `element` may carry an implicit tag.
 * Returns a fresh copy that shares no memory with the input.
 */
export function readOctets(element: BerElement, what: string): Uint8Array {
  if (!element.constructed) return new Uint8Array(element.content);
  const pieces: Uint8Array[] = [];
  let total = 0;
  const collect = (parent: BerElement): void => {
    for (const piece of parent.children) {
      if (piece.tagClass !== TAG_CLASS.universal || piece.tagNumber !== UNIVERSAL.octetString) {
        throw new KmsEnvelopeError(`${what}: a piece at offset ${piece.offset} is ${describeElement(piece)}, not OCTET STRING`);
      }
      if (piece.constructed) collect(piece);
      else {
        if (pieces.length >= MAX_STRING_PIECES) throw new KmsEnvelopeError(`${what} has more than ${MAX_STRING_PIECES} pieces`);
        pieces.push(piece.content);
        total += piece.content.length;
      }
    }
  };
  collect(element);
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** A non-negative INTEGER below 2^31, in the minimal two's-complement form X.690 §8.3.2 requires of BER too. */
export function readSmallInteger(element: BerElement | undefined, what: string): number {
  const found = expectElement(element, TAG_CLASS.universal, UNIVERSAL.integer, false, what);
  const { content } = found;
  if (content.length === 0 || content.length > 4) throw new KmsEnvelopeError(`${what} at offset ${found.offset} is not a small integer`);
  if ((content[0]! & 0x80) !== 0) throw new KmsEnvelopeError(`${what} at offset ${found.offset} is negative`);
  if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) throw new KmsEnvelopeError(`${what} at offset ${found.offset} has a redundant leading zero`);
  return content.reduce((value, byte) => value * 256 + byte, 0);
}

/** An OBJECT IDENTIFIER's content octets (compare them with the DER content of the expected OID). */
export function readOidContent(element: BerElement | undefined, what: string): Uint8Array {
  return expectElement(element, TAG_CLASS.universal, UNIVERSAL.oid, false, what).content;
}

/** A NULL, which must be empty. */
export function expectNull(element: BerElement, what: string): void {
  expectElement(element, TAG_CLASS.universal, UNIVERSAL.null, false, what);
  if (element.content.length !== 0) throw new KmsEnvelopeError(`${what} at offset ${element.offset} is a NULL with content`);
}
