// CBOR (RFC 8949) for Nitro's two wire formats, the NSM's requests and responses and the
// attestation document, both written by serde_cbor. cbor-x does the work, set up to read and write
// what serde_cbor does; the NSM protocol and the attestation verifier check the shapes they expect.
import { addExtension, Decoder, Encoder, Tag, type Options } from "cbor-x";

// cbor-x's defaults suit JavaScript talking to JavaScript, not a fixed wire
// format: records, tag 64 for Uint8Array and tag 259 for Map are all turned
// off, so that byte strings are major type 2 and maps are plain CBOR maps,
// as Nitro's encoder (serde_cbor) writes them. Lengths and headers are then
// the shortest form, which is also what Nitro writes; integers get theirs
// from shortestIntegers below.
const OPTIONS = {
  useRecords: false,
  mapsAsObjects: false,
  useTag259ForMaps: false,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
  bundleStrings: false,
} as Options;

const encoder = new Encoder(OPTIONS);
const decoder = new Decoder(OPTIONS);

// Value sharing (tags 28 and 29) and packed values (tag 51) let a few bytes decode into a graph
// that refers to one item many times over; stringifying (tag 27 makes an Error of it) or
// re-encoding it then takes time and memory exponential in the input: a 152-byte attestation
// document took 3 s to refuse, each 6 more bytes doubling that. Nothing here uses them, so they
// read as plain tags, for every cbor-x decoder in the process (the extension table is global).
// cbor-x's type wants an encoder half too, which these do not need: the built-in one for Tag does.
for (const tag of [28, 29, 51]) {
  addExtension({ tag, decode: (value: unknown) => new Tag(value, tag) } as unknown as Parameters<typeof addExtension>[0]);
}

export { Tag as CborTag };

/**
 * What the decoder returns. Integers in up to 4 bytes are numbers, 8-byte ones bigints; floats are
 * numbers; `undefined` is CBOR's simple value 23. A tag cbor-x does not know is a CborTag; one it
 * does gives what its handler makes (a Uint8Array for tag 64, a bigint for bignums, a Date, a Set,
 * another typed array, a plain object…), hence `object`: code that reads CBOR must check the type
 * of everything it uses.
 */
export type CborValue = number | bigint | string | boolean | null | undefined | Uint8Array | CborValue[] | Map<CborValue, CborValue> | Tag | object;

/** Bytes that are not (one item of) CBOR, or for decodeCanonicalCbor not in the canonical form. */
export class CborError extends Error {
  override readonly name = "CborError";
}

/**
 * Encodes as serde_cbor does: Uint8Array (Buffer too) as a byte string, Map as a map in insertion
 * order whatever its keys, arrays, text, booleans, null, and every integer in its shortest form.
 * Anything else as cbor-x does (a float as float64, a CborTag as its tag…).
 */
export function encodeCbor(value: CborValue): Uint8Array {
  return encoder.encode(shortestIntegers(value));
}

const TWO_32 = 2 ** 32;

/**
 * cbor-x writes a number beyond 32 bits as a float64 and a bigint always in 8 bytes; serde_cbor
 * writes each integer in the shortest head that holds it (a millisecond timestamp as 1b and 8
 * bytes). So safe integers beyond 32 bits reach cbor-x as bigints, and bigints within 32 bits as
 * numbers, inside arrays, maps and tags too.
 */
function shortestIntegers(value: CborValue): CborValue {
  if (typeof value === "number") return Number.isSafeInteger(value) && (value >= TWO_32 || value < -TWO_32) ? BigInt(value) : value;
  if (typeof value === "bigint") return value < BigInt(TWO_32) && value >= -BigInt(TWO_32) ? Number(value) : value;
  if (Array.isArray(value)) return value.map(shortestIntegers);
  if (value instanceof Map) {
    const map = new Map<CborValue, CborValue>();
    for (const [k, v] of value) map.set(shortestIntegers(k), shortestIntegers(v));
    // 1 and 1n are two keys of a Map but one integer of CBOR.
    if (map.size !== value.size) throw new CborError("a map has two keys that are the same integer");
    return map;
  }
  if (value instanceof Tag) return new Tag(shortestIntegers(value.value), value.tag);
  return value;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Decodes exactly one item. Every failure (truncation, trailing bytes, an unknown simple value,
 * nesting deep enough to exhaust the stack…) is a CborError naming `what`. As lenient as cbor-x:
 * indefinite lengths, long-form heads, duplicate map keys (the last one stays), tags, text that is
 * not UTF-8 (read with U+FFFD) all pass; use decodeCanonicalCbor, or rebuild what was read and
 * compare, to refuse them. Byte strings in the result are views of `bytes`: copy what you keep.
 */
export function decodeCbor(bytes: Uint8Array, what: string): CborValue {
  try {
    // A fresh view of the same memory: cbor-x caches a DataView as a property of the object it decodes, which should not be the caller's.
    return decoder.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new CborError(`${what} is not valid CBOR (${reason(error)})`, { cause: error });
  }
}

/**
 * Decodes exactly one item that must also be canonical, as serde_cbor writes: encoding what was
 * read gives the same bytes. That refuses indefinite lengths, long-form integers and lengths,
 * duplicate map keys, integers written as floats, tags that cbor-x reads as something else (tag 64
 * as a Uint8Array, tag 2 as a bigint that fits in 8 bytes…) and text that is not UTF-8.
 */
export function decodeCanonicalCbor(bytes: Uint8Array, what: string): CborValue {
  const value = decodeCbor(bytes, what);
  let encoded: Uint8Array;
  try {
    encoded = encodeCbor(value);
  } catch (error) {
    throw new CborError(`${what} cannot be encoded back to check that it is canonical CBOR (${reason(error)})`, { cause: error });
  }
  const same = Buffer.compare(encoded, bytes) === 0;
  // The copy sits in cbor-x's shared output buffer and may hold user data or random bytes.
  encoded.fill(0);
  if (!same) {
    throw new CborError(
      `${what} is not canonical CBOR: it does not encode back to the same bytes (a long-form or indefinite length, a long-form integer, a float, a duplicate map key, a tag, or text that is not UTF-8)`,
    );
  }
  return value;
}
