// DER encoding of the few types the simulated CA and aTLS write into certificates.
import { contextTag, TAG } from "./der.ts";

/** The shortest big-endian bytes of a non-negative integer (at least one byte). */
function bigEndian(value: number): number[] {
  const octets: number[] = [];
  for (let rest = value; ; rest = Math.floor(rest / 256)) {
    octets.unshift(rest % 256);
    if (rest < 256) return octets;
  }
}

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const octets = bigEndian(length);
  return [0x80 | octets.length, ...octets];
}

export function derElement(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const length = contents.reduce((sum, content) => sum + content.length, 0);
  return new Uint8Array(Buffer.concat([Uint8Array.from([tag, ...lengthOctets(length)]), ...contents]));
}

export const derSequence = (...items: Uint8Array[]): Uint8Array => derElement(TAG.sequence, ...items);
export const derSet = (...items: Uint8Array[]): Uint8Array => derElement(TAG.set, ...items);
export const derOctetString = (bytes: Uint8Array): Uint8Array => derElement(TAG.octetString, bytes);
export const derBoolean = (value: boolean): Uint8Array => derElement(TAG.boolean, Uint8Array.of(value ? 0xff : 0x00));
export const derUtf8String = (text: string): Uint8Array => derElement(TAG.utf8String, Buffer.from(text, "utf8"));
export const derPrintableString = (text: string): Uint8Array => derElement(TAG.printableString, Buffer.from(text, "latin1"));

/** A non-negative INTEGER from a number or from big-endian magnitude bytes. */
export function derInteger(value: number | Uint8Array): Uint8Array {
  const all = typeof value === "number" ? Uint8Array.from(bigEndian(value)) : value;
  let start = 0;
  while (start < all.length - 1 && all[start] === 0) start++;
  const bytes = all.subarray(start);
  // A set top bit would make the value negative: DER prefixes one zero byte.
  return (bytes[0]! & 0x80) !== 0 ? derElement(TAG.integer, Uint8Array.of(0), bytes) : derElement(TAG.integer, bytes);
}

/** An OBJECT IDENTIFIER from dotted decimal; arcs may exceed 2^53 (UUID-based OIDs, 2.25.<128 bits>). */
export function derOid(dotted: string): Uint8Array {
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(dotted)) throw new RangeError(`"${dotted}" is not a dotted object identifier`);
  const [first = 0n, second = 0n, ...rest] = dotted.split(".").map(BigInt);
  const octets: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const base128: number[] = [];
    for (let value = arc; ; value >>= 7n) {
      base128.unshift(Number(value & 0x7fn) | (base128.length === 0 ? 0 : 0x80));
      if (value < 128n) break;
    }
    octets.push(...base128);
  }
  return derElement(TAG.oid, Uint8Array.from(octets));
}

export function derBitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return derElement(TAG.bitString, Uint8Array.of(unusedBits), bytes);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, UTC. */
export function derTime(date: Date): Uint8Array {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return derElement(TAG.utcTime, Buffer.from(`${digits.slice(2)}Z`, "latin1"));
  return derElement(TAG.generalizedTime, Buffer.from(`${digits}Z`, "latin1"));
}

/** [n] EXPLICIT: a constructed context-specific element wrapping the contents. */
export function derExplicit(n: number, ...contents: Uint8Array[]): Uint8Array {
  return derElement(contextTag(n), ...contents);
}
