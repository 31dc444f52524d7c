// The Nitro Security Module's request/response messages, byte for byte as the nsm-io crate
// (aws/aws-nitro-enclaves-nsm-api, src/api/mod.rs) serializes them with serde_cbor:
//
// - enums are externally tagged: a unit variant is a bare text string ("DescribeNSM", "GetRandom",
//   "LockPCR", "LockPCRs"); a struct variant is a one-entry map {variant: {field: value, …}} whose
//   inner map lists the fields in declaration order; the newtype variant Error(ErrorCode) is
//   {"Error": "<code>"} with the code as a bare text string;
// - `Vec<u8>` fields marked `#[serde(with = "serde_bytes")]` and `Option<ByteBuf>` are CBOR byte
//   strings (major type 2), never arrays of integers; `None` is CBOR null and the key is still
//   written, so an Attestation request always carries user_data, nonce and public_key;
// - u16 is an unsigned integer in its shortest form; `BTreeSet<u16>` (locked_pcrs) an array of them
//   in ascending order; `Digest` a bare text string ("SHA384").
//
// The driver (src/driver/mod.rs and the Linux /dev/nsm driver) bounds a request to 0x1000 bytes and
// a response to 0x3000 bytes; both limits are checked here before any parsing.
//
// Decoding is strict: a message must be canonical CBOR (so no duplicated fields, tags, indefinite
// lengths, long-form heads or trailing bytes), and unknown variants, unknown fields, wrong types and
// out-of-range integers are refused with an NsmProtocolError that says what was wrong. The one
// leniency is serde's own: a missing Option field of an Attestation request reads as null.

import { CborError, type CborValue, decodeCanonicalCbor, encodeCbor } from "../cbor.ts";

/** Largest request the driver passes to the NSM (NSM_REQUEST_MAX_SIZE). */
export const NSM_REQUEST_MAX_SIZE = 0x1000;
/** Size of the response buffer the driver hands to the NSM (NSM_RESPONSE_MAX_SIZE). */
export const NSM_RESPONSE_MAX_SIZE = 0x3000;

/** The NSM's error codes (nsm-io `ErrorCode`), in declaration order. */
export const NSM_ERROR_CODES = [
  "Success",
  "InvalidArgument",
  "InvalidIndex",
  "InvalidResponse",
  "ReadOnlyIndex",
  "InvalidOperation",
  "BufferTooSmall",
  "InputTooLarge",
  "InternalError",
] as const;
export type NsmErrorCode = (typeof NSM_ERROR_CODES)[number];

/** The digests a PCR bank may use (nsm-io `Digest`); the real NSM reports SHA384. */
export const NSM_DIGESTS = ["SHA256", "SHA384", "SHA512"] as const;
export type NsmDigest = (typeof NSM_DIGESTS)[number];

export type NsmRequest =
  | { readonly type: "DescribePCR"; readonly index: number }
  | { readonly type: "ExtendPCR"; readonly index: number; readonly data: Uint8Array }
  | { readonly type: "LockPCR"; readonly index: number }
  | { readonly type: "LockPCRs"; readonly range: number }
  | { readonly type: "DescribeNSM" }
  | {
      readonly type: "Attestation";
      readonly userData: Uint8Array | null;
      readonly nonce: Uint8Array | null;
      readonly publicKey: Uint8Array | null;
    }
  | { readonly type: "GetRandom" };

export type NsmResponse =
  | { readonly type: "DescribePCR"; readonly lock: boolean; readonly data: Uint8Array }
  | { readonly type: "ExtendPCR"; readonly data: Uint8Array }
  | { readonly type: "LockPCR" }
  | { readonly type: "LockPCRs" }
  | {
      readonly type: "DescribeNSM";
      readonly versionMajor: number;
      readonly versionMinor: number;
      readonly versionPatch: number;
      readonly moduleId: string;
      readonly maxPcrs: number;
      readonly lockedPcrs: readonly number[];
      readonly digest: NsmDigest;
    }
  | { readonly type: "Attestation"; readonly document: Uint8Array }
  | { readonly type: "GetRandom"; readonly random: Uint8Array }
  | { readonly type: "Error"; readonly code: NsmErrorCode };

export type NsmRequestType = NsmRequest["type"];
export type NsmResponseType = NsmResponse["type"];

/**
 * A message that is not a valid NSM request or response. `nsmCode` is the error the simulated NSM
 * answers a bad request with: InputTooLarge for an oversized message, InvalidOperation when the
 * bytes are not a known request at all, InvalidArgument when a known request has bad arguments.
 */
export class NsmProtocolError extends Error {
  override readonly name = "NsmProtocolError";
  readonly nsmCode: NsmErrorCode;
  constructor(message: string, nsmCode: NsmErrorCode = "InvalidOperation", options?: { cause?: unknown }) {
    super(message, options);
    this.nsmCode = nsmCode;
  }
}

export function isNsmErrorCode(value: unknown): value is NsmErrorCode {
  return typeof value === "string" && (NSM_ERROR_CODES as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------------------
// Encoding

const U16_MAX = 0xffff;

function u16(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > U16_MAX) throw new RangeError(`${what} must be an integer in 0..65535, got ${value}`);
  return value;
}

function bytes(value: Uint8Array, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return value;
}

function optionalBytes(value: Uint8Array | null, what: string): Uint8Array | null {
  return value === null ? null : bytes(value, what);
}

const variant = (name: string, fields: ReadonlyArray<readonly [string, CborValue]>): Map<string, CborValue> => new Map([[name, new Map(fields)]]);

/** Encodes a request as nsm-io does. It does not apply the 4 KiB limit: the device (or client) does. */
export function encodeRequest(request: NsmRequest): Uint8Array {
  switch (request.type) {
    case "DescribeNSM":
    case "GetRandom":
      return encodeCbor(request.type);
    case "DescribePCR":
    case "LockPCR":
      return encodeCbor(variant(request.type, [["index", u16(request.index, "PCR index")]]));
    case "ExtendPCR":
      return encodeCbor(
        variant("ExtendPCR", [
          ["index", u16(request.index, "PCR index")],
          ["data", bytes(request.data, "ExtendPCR data")],
        ]),
      );
    case "LockPCRs":
      return encodeCbor(variant("LockPCRs", [["range", u16(request.range, "PCR range")]]));
    case "Attestation":
      return encodeCbor(
        variant("Attestation", [
          ["user_data", optionalBytes(request.userData, "user_data")],
          ["nonce", optionalBytes(request.nonce, "nonce")],
          ["public_key", optionalBytes(request.publicKey, "public_key")],
        ]),
      );
    default:
      throw new TypeError(`unknown NSM request type ${String((request as { type?: unknown }).type)}`);
  }
}

/** Encodes a response as the NSM does (field order as declared in nsm-io). */
export function encodeResponse(response: NsmResponse): Uint8Array {
  switch (response.type) {
    case "LockPCR":
    case "LockPCRs":
      return encodeCbor(response.type);
    case "DescribePCR":
      return encodeCbor(
        variant("DescribePCR", [
          ["lock", response.lock],
          ["data", bytes(response.data, "PCR data")],
        ]),
      );
    case "ExtendPCR":
      return encodeCbor(variant("ExtendPCR", [["data", bytes(response.data, "PCR data")]]));
    case "DescribeNSM": {
      const locked = [...response.lockedPcrs].sort((a, b) => a - b);
      return encodeCbor(
        variant("DescribeNSM", [
          ["version_major", u16(response.versionMajor, "version_major")],
          ["version_minor", u16(response.versionMinor, "version_minor")],
          ["version_patch", u16(response.versionPatch, "version_patch")],
          ["module_id", response.moduleId],
          ["max_pcrs", u16(response.maxPcrs, "max_pcrs")],
          ["locked_pcrs", locked.map((i) => u16(i, "locked PCR index"))],
          ["digest", response.digest],
        ]),
      );
    }
    case "Attestation":
      return encodeCbor(variant("Attestation", [["document", bytes(response.document, "attestation document")]]));
    case "GetRandom":
      return encodeCbor(variant("GetRandom", [["random", bytes(response.random, "random bytes")]]));
    case "Error":
      if (!isNsmErrorCode(response.code)) throw new TypeError(`unknown NSM error code ${String(response.code)}`);
      return encodeCbor(new Map([["Error", response.code]]));
    default:
      throw new TypeError(`unknown NSM response type ${String((response as { type?: unknown }).type)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Splits an externally tagged enum value into its variant name and content (undefined for a unit variant). */
function splitVariant(value: CborValue, what: string): { name: string; content: CborValue | undefined } {
  if (typeof value === "string") return { name: value, content: undefined };
  if (value instanceof Map) {
    if (value.size !== 1) throw new NsmProtocolError(`${what}: expected a map with exactly one variant, got ${value.size} entries`);
    const [key, content] = [...(value as Map<CborValue, CborValue>)][0] as [CborValue, CborValue];
    if (typeof key !== "string") throw new NsmProtocolError(`${what}: the variant name is not a text string`);
    // undefined stands for "no content" below; CBOR's undefined is no variant's content.
    if (content === undefined) throw new NsmProtocolError(`${what}: the content of "${truncate(key)}" is CBOR undefined`);
    return { name: key, content };
  }
  throw new NsmProtocolError(`${what}: expected a text string or a one-entry map, got ${describe(value)}`);
}

function describe(value: CborValue): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== "object") return `a ${typeof value}`;
  if (value instanceof Uint8Array) return "a byte string";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Map) return "a map";
  return "a tagged value";
}

/**
 * Reads a struct variant's field map: text keys only, no unknown keys (the canonical decoding has
 * already refused duplicates). Returns the fields found; the caller decides which are required.
 */
function fields(content: CborValue | undefined, variantName: string, allowed: readonly string[], what: string, code: NsmErrorCode): Map<string, CborValue> {
  if (content === undefined) throw new NsmProtocolError(`${what}: ${variantName} needs fields but was sent as a bare name`, code);
  if (!(content instanceof Map)) throw new NsmProtocolError(`${what}: ${variantName} fields must be a map, got ${describe(content)}`, code);
  const out = new Map<string, CborValue>();
  for (const [key, value] of content as Map<CborValue, CborValue>) {
    if (typeof key !== "string") throw new NsmProtocolError(`${what}: ${variantName} has a field name that is not a text string`, code);
    if (!allowed.includes(key)) throw new NsmProtocolError(`${what}: ${variantName} has an unknown field "${truncate(key)}"`, code);
    // A field read as undefined would pass for a missing one (and a missing Option reads as null).
    if (value === undefined) throw new NsmProtocolError(`${what}: ${variantName} has the field "${key}" as CBOR undefined`, code);
    out.set(key, value);
  }
  return out;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function required(map: Map<string, CborValue>, key: string, variantName: string, what: string, code: NsmErrorCode): CborValue {
  const value = map.get(key);
  if (value === undefined) throw new NsmProtocolError(`${what}: ${variantName} is missing the field "${key}"`, code);
  return value;
}

function readU16(value: CborValue, field: string, what: string, code: NsmErrorCode): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw new NsmProtocolError(`${what}: ${field} must be an unsigned integer, got ${describe(value)}`, code);
  if (value > U16_MAX) throw new NsmProtocolError(`${what}: ${field} ${value} does not fit in a u16`, code);
  return value;
}

function readBytes(value: CborValue, field: string, what: string, code: NsmErrorCode): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new NsmProtocolError(`${what}: ${field} must be a byte string, got ${describe(value)}`, code);
  // A copy, not a view of the message: the client zeroes the message once it is decoded.
  return value.slice();
}

function readOptionalBytes(value: CborValue | undefined, field: string, what: string, code: NsmErrorCode): Uint8Array | null {
  if (value === undefined || value === null) return null;
  return readBytes(value, field, what, code);
}

function parse(message: Uint8Array, max: number, what: string): CborValue {
  if (!(message instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  if (message.length > max) throw new NsmProtocolError(`${what} of ${message.length} bytes exceeds the ${max}-byte limit`, "InputTooLarge");
  try {
    return decodeCanonicalCbor(message, what);
  } catch (error) {
    if (error instanceof CborError) throw new NsmProtocolError(error.message, "InvalidOperation", { cause: error });
    throw error;
  }
}

/** Decodes a request (what the NSM does). Throws NsmProtocolError with the NSM error to answer. */
export function decodeRequest(message: Uint8Array): NsmRequest {
  const what = "NSM request";
  const { name, content } = splitVariant(parse(message, NSM_REQUEST_MAX_SIZE, what), what);
  const bad: NsmErrorCode = "InvalidArgument";
  switch (name) {
    case "DescribeNSM":
    case "GetRandom":
      if (content !== undefined) throw new NsmProtocolError(`${what}: ${name} takes no fields and must be a bare text string`, bad);
      return { type: name };
    case "DescribePCR":
    case "LockPCR": {
      const f = fields(content, name, ["index"], what, bad);
      return { type: name, index: readU16(required(f, "index", name, what, bad), "index", what, bad) };
    }
    case "ExtendPCR": {
      const f = fields(content, name, ["index", "data"], what, bad);
      return {
        type: name,
        index: readU16(required(f, "index", name, what, bad), "index", what, bad),
        data: readBytes(required(f, "data", name, what, bad), "data", what, bad),
      };
    }
    case "LockPCRs": {
      const f = fields(content, name, ["range"], what, bad);
      return { type: name, range: readU16(required(f, "range", name, what, bad), "range", what, bad) };
    }
    case "Attestation": {
      const f = fields(content, name, ["user_data", "nonce", "public_key"], what, bad);
      return {
        type: name,
        userData: readOptionalBytes(f.get("user_data"), "user_data", what, bad),
        nonce: readOptionalBytes(f.get("nonce"), "nonce", what, bad),
        publicKey: readOptionalBytes(f.get("public_key"), "public_key", what, bad),
      };
    }
    default:
      throw new NsmProtocolError(`${what}: unknown request "${truncate(name)}"`, "InvalidOperation");
  }
}

const PCR_LENGTHS = new Set([32, 48, 64]);

function readPcr(value: CborValue, field: string, what: string, code: NsmErrorCode): Uint8Array {
  const data = readBytes(value, field, what, code);
  if (!PCR_LENGTHS.has(data.length)) throw new NsmProtocolError(`${what}: ${field} is ${data.length} bytes, not a PCR (32, 48 or 64)`, code);
  return data;
}

/** Decodes a response (what a client does). Throws NsmProtocolError if it is not a valid response. */
export function decodeResponse(message: Uint8Array): NsmResponse {
  const what = "NSM response";
  const { name, content } = splitVariant(parse(message, NSM_RESPONSE_MAX_SIZE, what), what);
  const bad: NsmErrorCode = "InvalidResponse";
  switch (name) {
    case "LockPCR":
    case "LockPCRs":
      if (content !== undefined) throw new NsmProtocolError(`${what}: ${name} takes no fields and must be a bare text string`, bad);
      return { type: name };
    case "DescribePCR": {
      const f = fields(content, name, ["lock", "data"], what, bad);
      const lock = required(f, "lock", name, what, bad);
      if (typeof lock !== "boolean") throw new NsmProtocolError(`${what}: lock must be a boolean, got ${describe(lock)}`, bad);
      return { type: name, lock, data: readPcr(required(f, "data", name, what, bad), "data", what, bad) };
    }
    case "ExtendPCR": {
      const f = fields(content, name, ["data"], what, bad);
      return { type: name, data: readPcr(required(f, "data", name, what, bad), "data", what, bad) };
    }
    case "DescribeNSM": {
      const keys = ["version_major", "version_minor", "version_patch", "module_id", "max_pcrs", "locked_pcrs", "digest"];
      const f = fields(content, name, keys, what, bad);
      const moduleId = required(f, "module_id", name, what, bad);
      if (typeof moduleId !== "string" || moduleId.length === 0) throw new NsmProtocolError(`${what}: module_id must be a non-empty text string`, bad);
      const lockedRaw = required(f, "locked_pcrs", name, what, bad);
      if (!Array.isArray(lockedRaw)) throw new NsmProtocolError(`${what}: locked_pcrs must be an array, got ${describe(lockedRaw)}`, bad);
      const locked = lockedRaw.map((v) => readU16(v, "locked_pcrs entry", what, bad));
      if (new Set(locked).size !== locked.length) throw new NsmProtocolError(`${what}: locked_pcrs lists an index twice`, bad);
      const digest = required(f, "digest", name, what, bad);
      if (typeof digest !== "string" || !(NSM_DIGESTS as readonly string[]).includes(digest)) {
        throw new NsmProtocolError(`${what}: digest must be one of ${NSM_DIGESTS.join(", ")}`, bad);
      }
      return {
        type: name,
        versionMajor: readU16(required(f, "version_major", name, what, bad), "version_major", what, bad),
        versionMinor: readU16(required(f, "version_minor", name, what, bad), "version_minor", what, bad),
        versionPatch: readU16(required(f, "version_patch", name, what, bad), "version_patch", what, bad),
        moduleId,
        maxPcrs: readU16(required(f, "max_pcrs", name, what, bad), "max_pcrs", what, bad),
        lockedPcrs: locked.sort((a, b) => a - b),
        digest: digest as NsmDigest,
      };
    }
    case "Attestation": {
      const f = fields(content, name, ["document"], what, bad);
      const document = readBytes(required(f, "document", name, what, bad), "document", what, bad);
      if (document.length === 0) throw new NsmProtocolError(`${what}: the attestation document is empty`, bad);
      return { type: name, document };
    }
    case "GetRandom": {
      const f = fields(content, name, ["random"], what, bad);
      const random = readBytes(required(f, "random", name, what, bad), "random", what, bad);
      if (random.length === 0) throw new NsmProtocolError(`${what}: GetRandom returned no bytes`, bad);
      return { type: name, random };
    }
    case "Error": {
      if (content === undefined) throw new NsmProtocolError(`${what}: Error needs an error code`, bad);
      if (!isNsmErrorCode(content)) {
        const shown = typeof content === "string" ? `"${truncate(content)}"` : describe(content);
        throw new NsmProtocolError(`${what}: unknown error code ${shown}`, bad);
      }
      return { type: name, code: content };
    }
    default:
      throw new NsmProtocolError(`${what}: unknown response "${truncate(name)}"`, bad);
  }
}
