// The one CBOR codec (src/cbor.ts): serde_cbor's encoding byte for byte, decoding of exactly one
// item with every failure a CborError, and the canonical variant's refusals.
import { describe, expect, it } from "vitest";
import { CborError, CborTag, type CborValue, decodeCanonicalCbor, decodeCbor, encodeCbor } from "../src/cbor.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** Hex written with spaces between the items, for reading. */
const unspaced = (h: string) => h.replace(/\s+/g, "");
const bytesOf = (h: string) => new Uint8Array(Buffer.from(unspaced(h), "hex"));

/** The error a decode throws, checked to be a CborError. */
function failure(decode: () => unknown): CborError {
  try {
    decode();
  } catch (error) {
    expect(error).toBeInstanceOf(CborError);
    return error as CborError;
  }
  throw new Error("expected a CborError");
}

describe("encoding, as serde_cbor writes", () => {
  it("byte strings are major type 2 without a tag, from a Uint8Array or a Buffer", () => {
    expect(hex(encodeCbor(new Uint8Array([1, 2, 3])))).toBe("43010203");
    expect(hex(encodeCbor(Buffer.from([1, 2, 3])))).toBe("43010203");
    expect(hex(encodeCbor(new Uint8Array(0)))).toBe("40");
    expect(hex(encodeCbor(new Uint8Array(300)).subarray(0, 3))).toBe("59012c");
  });

  it("maps keep insertion order whatever the keys: integers, text, mixed; no tag 259", () => {
    expect(hex(encodeCbor(new Map<CborValue, CborValue>([[1, -35]])))).toBe("a1013822");
    expect(hex(encodeCbor(new Map<CborValue, CborValue>([["b", 1], [2, "a"], [-1, true]])))).toBe(unspaced("a3 6162 01 02 6161 20 f5"));
    expect(hex(encodeCbor(new Map<CborValue, CborValue>([[2, null], [1, null]])))).toBe("a202f601f6");
    expect(hex(encodeCbor(new Map()))).toBe("a0");
    const big = new Map(Array.from({ length: 24 }, (_, i) => [i, i] as const));
    expect(hex(encodeCbor(big)).slice(0, 6)).toBe("b81800");
  });

  it("text, arrays, booleans and null with the shortest heads", () => {
    expect(hex(encodeCbor(""))).toBe("60");
    expect(hex(encodeCbor("a".repeat(23))).slice(0, 2)).toBe("77");
    expect(hex(encodeCbor("a".repeat(24))).slice(0, 4)).toBe("7818");
    expect(hex(encodeCbor("é".repeat(128))).slice(0, 6)).toBe("790100"); // 256 bytes of UTF-8
    expect(hex(encodeCbor([1, [2, 3], []]))).toBe(unspaced("8301820203 80"));
    expect(hex(encodeCbor(new Array(24).fill(0))).slice(0, 4)).toBe("9818");
    expect(hex(encodeCbor([true, false, null]))).toBe("83f5f4f6");
  });

  it.each([
    [0, "00"],
    [23, "17"],
    [24, "1818"],
    [255, "18ff"],
    [256, "190100"],
    [65535, "19ffff"],
    [65536, "1a00010000"],
    [2 ** 32 - 1, "1affffffff"],
    [2 ** 32, "1b0000000100000000"],
    [1725719859545, "1b00000191cceb5159"], // a Nitro timestamp, as the NSM writes it
    [Number.MAX_SAFE_INTEGER, "1b001fffffffffffff"],
    [-1, "20"],
    [-24, "37"],
    [-25, "3818"],
    [-(2 ** 32), "3affffffff"],
    [-(2 ** 32) - 1, "3b0000000100000000"],
    [1n, "01"],
    [-1n, "20"],
    [1725719859545n, "1b00000191cceb5159"],
    [2n ** 64n - 1n, "1bffffffffffffffff"],
    [-(2n ** 64n) + 1n, "3bfffffffffffffffe"], // (cbor-x writes -2^64 itself as a tag-3 bignum)
  ] as const)("the integer %s is %s", (value, expected) => {
    expect(hex(encodeCbor(value))).toBe(expected);
  });

  it("integers inside arrays, maps and tags get their shortest form too", () => {
    expect(hex(encodeCbor([2 ** 32, new Map([[5n, 1725719859545]]), new CborTag(7n, 1000)]))).toBe(unspaced("83 1b0000000100000000 a1 05 1b00000191cceb5159 d903e8 07"));
  });

  it("refuses a map whose keys are the same integer twice (1 and 1n)", () => {
    expect(() => encodeCbor(new Map<CborValue, CborValue>([[1, "a"], [1n, "b"]]))).toThrow(CborError);
  });
});

describe("decoding", () => {
  it("gives numbers up to 4-byte integers, bigints for 8-byte ones, Uint8Array for byte strings, Map for maps", () => {
    expect(decodeCbor(bytesOf("1affffffff"), "x")).toBe(2 ** 32 - 1);
    expect(decodeCbor(bytesOf("1b00000191cceb5159"), "x")).toBe(1725719859545n);
    expect(decodeCbor(bytesOf("3b0000000100000000"), "x")).toBe(-(2n ** 32n) - 1n);
    const bytes = decodeCbor(bytesOf("43010203"), "x");
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...(bytes as Uint8Array)]).toEqual([1, 2, 3]);
    const map = decodeCbor(bytesOf("a3 6162 01 02 6161 20 f5"), "x");
    expect(map).toBeInstanceOf(Map);
    expect([...(map as Map<CborValue, CborValue>)]).toEqual([["b", 1], [2, "a"], [-1, true]]);
  });

  it("round-trips what encodeCbor writes, canonically", () => {
    const value = new Map<CborValue, CborValue>([
      ["module_id", "i-0123"],
      ["timestamp", 1725719859545],
      ["pcrs", new Map([[0, new Uint8Array(48)], [1, new Uint8Array(48).fill(1)]])],
      ["cabundle", [new Uint8Array([0x30, 0x00])]],
      ["nonce", null],
    ]);
    const decoded = decodeCanonicalCbor(encodeCbor(value), "x") as Map<CborValue, CborValue>;
    expect([...decoded.keys()]).toEqual([...value.keys()]);
    expect(decoded.get("timestamp")).toBe(1725719859545n);
    expect(hex(encodeCbor(decoded))).toBe(hex(encodeCbor(value)));
  });

  it("every truncation is a CborError that names what was decoded, in both variants", () => {
    const whole = encodeCbor(new Map<CborValue, CborValue>([["a", [1, 2 ** 40, new Uint8Array(30)]], [7, "text"]]));
    for (let length = 0; length < whole.length; length++) {
      for (const decode of [decodeCbor, decodeCanonicalCbor]) {
        expect(failure(() => decode(whole.subarray(0, length), "the thing")).message).toMatch(/^the thing is not valid CBOR \(/);
      }
    }
  });

  it("trailing bytes after the first item are refused by both variants", () => {
    for (const trailing of ["00", "ff", "a0", "01020304"]) {
      for (const decode of [decodeCbor, decodeCanonicalCbor]) {
        expect(failure(() => decode(bytesOf(`6161${trailing}`), "the thing")).message).toMatch(/^the thing is not valid CBOR/);
      }
    }
  });

  it("nesting that exhausts the stack is a CborError, and the decoder works afterwards", () => {
    expect(failure(() => decodeCbor(bytesOf("81".repeat(100_000) + "00"), "deep")).message).toMatch(/^deep is not valid CBOR \(.*call stack/);
    // 4000 levels, as many as fit in an NSM request: whether the stack runs out depends on its size; a crash never happens.
    try {
      expect(Array.isArray(decodeCanonicalCbor(bytesOf("81".repeat(4000) + "00"), "deep"))).toBe(true);
    } catch (error) {
      expect(error).toBeInstanceOf(CborError);
    }
    expect(decodeCanonicalCbor(bytesOf("820102"), "x")).toEqual([1, 2]);
  });

  it("decodes through a view of its own: no property is added to the caller's array, and the input is left as it was", () => {
    const bytes = encodeCbor([new Uint8Array([5, 6]), "x"]).slice();
    const before = hex(bytes);
    decodeCbor(bytes, "x");
    decodeCanonicalCbor(bytes, "x");
    expect(Object.keys(bytes).filter((key) => !/^\d+$/.test(key))).toEqual([]);
    expect("dataView" in bytes).toBe(false);
    expect(hex(bytes)).toBe(before);
  });
});

describe("the canonical variant refuses what the lenient one reads", () => {
  it.each([
    ["a long-form integer", "1803", 3],
    ["an integer in 8 bytes that fits in 4", "1b0000000000000003", 3n],
    ["a long-form negative integer", "3800", -1],
    ["a long-form byte-string length", "580141", new Uint8Array([0x41])],
    ["a long-form text length", "780161", "a"],
    ["a long-form array length", "980101", [1]],
    ["a long-form map length", "b8010102", new Map([[1, 2]])],
    ["an indefinite-length array", "9f01ff", [1]],
    ["an indefinite-length map", "bf0102ff", new Map([[1, 2]])],
    ["a duplicate map key (the last one stays)", "a2 0101 0102", new Map([[1, 2]])],
    ["the same integer as a key twice, in two widths", "a2 0101 1b0000000000000001 02", new Map<CborValue, CborValue>([[1, 1], [1n, 2]])],
    ["an integer written as a half float", "f94000", 2],
    ["an integer written as a double", "fb4000000000000000", 2],
    ["tag 64 (cbor-x's Uint8Array)", "d840 43010203", new Uint8Array([1, 2, 3])],
    ["a bignum (tag 2) that fits in 8 bytes", "c24101", 1n],
    ["text that is not UTF-8 (read with U+FFFD)", "62c328", "\ufffd("],
  ] as const)("%s", (_, input, lenient) => {
    expect(decodeCbor(bytesOf(input), "x")).toEqual(lenient);
    expect(failure(() => decodeCanonicalCbor(bytesOf(input), "the message")).message).toMatch(/^the message (is not canonical CBOR|cannot be encoded back)/);
  });

  it("a tag that encodes back the same is accepted, as a CborTag the caller has to look at", () => {
    const tagged = decodeCanonicalCbor(bytesOf("d903e8 820102"), "x");
    expect(tagged).toBeInstanceOf(CborTag);
    expect(tagged).toMatchObject({ tag: 1000, value: [1, 2] });
  });

  it("values that need 8 bytes are canonical in 8 bytes", () => {
    expect(decodeCanonicalCbor(bytesOf("1b0000000100000000"), "x")).toBe(2n ** 32n);
    expect(decodeCanonicalCbor(bytesOf("3bfffffffffffffffe"), "x")).toBe(-(2n ** 64n) + 1n);
  });
});

describe("value sharing and packed values are plain tags", () => {
  // Level k (0..levels) is the array [level k-1, a reference to level k-1], each level marked shareable (tag 28); the
  // outermost gets id 0. cbor-x would resolve the references (tag 29) into a graph of 2^levels paths.
  const sharing = (levels: number) => {
    const id = (n: number) => (n < 24 ? n.toString(16).padStart(2, "0") : `18${n.toString(16).padStart(2, "0")}`);
    let body = "d81c820000";
    for (let k = 1; k <= levels; k++) body = `d81c82${body}d81d${id(levels - k + 1)}`;
    return bytesOf(body);
  };

  it("tags 28 and 29 are not resolved, so a few hundred bytes stay a few hundred bytes", () => {
    const bytes = sharing(40);
    const decoded = decodeCanonicalCbor(bytes, "x");
    expect(decoded).toBeInstanceOf(CborTag);
    expect((decoded as CborTag).tag).toBe(28);
    expect(encodeCbor(decoded).length).toBe(bytes.length);
    // Tag 27 would make an Error of the graph, stringifying every path.
    expect(decodeCbor(Uint8Array.of(...bytesOf("d81b82654572726f72"), ...sharing(40)), "x")).toBeInstanceOf(Error);
  });

  it("tag 51 does not install a packed-value table", () => {
    expect(decodeCanonicalCbor(bytesOf("d833 84 816161 80 80 01"), "x")).toMatchObject({ tag: 51, value: [["a"], [], [], 1] });
    // With the table, the simple value 0 would read as its first entry, "a".
    failure(() => decodeCbor(bytesOf("d833 84 816161 80 80 e0"), "x"));
  });
});
