// Strict reader from Web3Signer's JSON (the beacon-API dialect: uint64 as decimal strings, bytes and
// bitfields as 0x-hex SSZ serialisations) to values of the SSZ types in ssz-types.ts. It walks the SSZ
// type, so each container is described once, and it checks every size against the type's bound before
// doing any work proportional to the input. Unknown JSON fields are ignored, as Web3Signer does.
import {
  BitListType,
  BitVectorType,
  ByteVectorType,
  ContainerType,
  ListBasicType,
  ListCompositeType,
  type Type,
  UintBigintType,
  type ValueOf,
  VectorCompositeType,
} from "@chainsafe/ssz";
import { describe, fail } from "./errors.ts";
import { decodeHex } from "./hex.ts";
import { parseUint64, UINT64_MAX } from "./uint.ts";

export type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An own property of a JSON object; inherited names ("constructor", "__proto__") never count. */
export function field(object: JsonObject, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined;
}

/** A required field: present and not null. */
export function requiredField(object: JsonObject, name: string, path: string): unknown {
  const value = field(object, name);
  if (value === undefined || value === null) fail(path, "is missing");
  return value;
}

export function requireObject(value: unknown, path: string): JsonObject {
  if (!isJsonObject(value)) fail(path, `must be a JSON object, got ${describe(value)}`);
  return value;
}

export function readUint64(value: unknown, path: string): bigint {
  return parseUint64(value) ?? fail(path, `must be a uint64 (a decimal string from 0 to ${UINT64_MAX}), got ${describe(value)}`);
}

/** Exactly `length` bytes as "0x" + 2·length hex digits. */
export function readBytes(value: unknown, length: number, path: string): Uint8Array {
  const expected = `0x followed by ${2 * length} hex digits (${length} bytes)`;
  if (typeof value !== "string") fail(path, `must be ${expected}, got ${describe(value)}`);
  if (value.length !== 2 + 2 * length) fail(path, `must be ${expected}, got a string of ${value.length} characters`);
  return decodeHex(value) ?? fail(path, `must be ${expected}, got ${describe(value)}`);
}

/** 0x-hex of at most `maxBytes` bytes. */
function readVariableBytes(value: unknown, maxBytes: number, what: string, path: string): Uint8Array {
  if (typeof value !== "string") fail(path, `must be ${what} as 0x-prefixed hex, got ${describe(value)}`);
  if (value.length > 2 + 2 * maxBytes) fail(path, `${what} is too long: ${Math.floor((value.length - 2) / 2)} bytes, at most ${maxBytes} allowed`);
  return decodeHex(value) ?? fail(path, `must be ${what} as 0x-prefixed hex with an even number of digits, got ${describe(value)}`);
}

function readBitList(type: BitListType, value: unknown, path: string): ValueOf<BitListType> {
  const what = `an SSZ Bitlist[${type.limitBits}]`;
  // The serialisation is the bits plus a delimiting 1-bit, so it takes floor(limit / 8) + 1 bytes at most.
  const bytes = readVariableBytes(value, Math.floor(type.limitBits / 8) + 1, what, path);
  const last = bytes[bytes.length - 1];
  if (last === undefined || last === 0) fail(path, `is not ${what}: the last byte must contain the delimiting 1-bit`);
  const bitLen = (bytes.length - 1) * 8 + (31 - Math.clz32(last));
  if (bitLen > type.limitBits) fail(path, `has ${bitLen} bits, more than the limit of ${type.limitBits}`);
  return type.deserialize(bytes);
}

function readBitVector(type: BitVectorType, value: unknown, path: string): ValueOf<BitVectorType> {
  const byteLength = Math.ceil(type.lengthBits / 8);
  const bytes = readBytes(value, byteLength, path);
  const spareBits = byteLength * 8 - type.lengthBits;
  if (spareBits > 0 && ((bytes[byteLength - 1] as number) >> (8 - spareBits)) !== 0) {
    fail(path, `is not an SSZ Bitvector[${type.lengthBits}]: bits past the length are set`);
  }
  return type.deserialize(bytes);
}

function readArray(value: unknown, min: number, max: number, path: string): readonly unknown[] {
  const size = min === max ? `exactly ${max}` : `at most ${max}`;
  if (!Array.isArray(value)) fail(path, `must be an array of ${size} elements, got ${describe(value)}`);
  if (value.length < min || value.length > max) fail(path, `must have ${size} elements, got ${value.length}`);
  return value;
}

/**
 * Reads `json` as a value of `type`, or throws SigningRequestError naming the offending path. Supports
 * exactly the SSZ type kinds used in ssz-types.ts.
 */
export function readSsz<T extends Type<unknown>>(type: T, json: unknown, path: string): ValueOf<T> {
  return readAny(type, json, path) as ValueOf<T>;
}

/** hash_tree_root of `json` read as a value of `type`. */
export function readRoot(type: Type<unknown>, json: unknown, path: string): Uint8Array {
  return type.hashTreeRoot(readAny(type, json, path));
}

function readAny(type: Type<unknown>, json: unknown, path: string): unknown {
  if (type instanceof UintBigintType) return readUint64(json, path);
  if (type instanceof ByteVectorType) return readBytes(json, type.lengthBytes, path);
  if (type instanceof BitListType) return readBitList(type, json, path);
  if (type instanceof BitVectorType) return readBitVector(type, json, path);
  if (type instanceof ContainerType) {
    const object = requireObject(json, path);
    const value: Record<string, unknown> = {};
    for (const { fieldName, fieldType, jsonKey } of type.fieldsEntries) {
      const fieldPath = `${path}.${jsonKey}`;
      value[fieldName as string] = readAny(fieldType as Type<unknown>, requiredField(object, jsonKey, fieldPath), fieldPath);
    }
    return value;
  }
  if (type instanceof ListBasicType || type instanceof ListCompositeType) {
    const elementType = type.elementType as Type<unknown>;
    return readArray(json, 0, type.limit, path).map((element, i) => readAny(elementType, element, `${path}[${i}]`));
  }
  if (type instanceof VectorCompositeType) {
    const elementType = type.elementType as Type<unknown>;
    return readArray(json, type.length, type.length, path).map((element, i) => readAny(elementType, element, `${path}[${i}]`));
  }
  // Unreachable for the types in ssz-types.ts: a new kind of field needs a reader above.
  throw new TypeError(`json-ssz: no JSON reader for SSZ type ${type.typeName}`);
}
