import { describe, expect, test } from "vitest";
import { KeystoreError, normalizePassword } from "../src/index.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("normalizePassword (EIP-2335)", () => {
  test("the EIP's own example: NFKD folds the fraktur letters, the key emoji stays", () => {
    expect(hex(normalizePassword(utf8("𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑")))).toBe("7465737470617373776f7264f09f9491");
  });

  test("ASCII: control codes and DEL are dropped, everything else (spaces too) kept", () => {
    expect(normalizePassword(utf8("\x00pass word\t\r\n\x7f\x1f"))).toEqual(utf8("pass word"));
  });

  test("non-ASCII: NFKD decomposition and C1 controls removed", () => {
    // U+00E9 decomposes to e + U+0301; U+FB01 (ﬁ) to "fi"; U+0085 and U+009F are C1.
    expect(normalizePassword(utf8("\u00e9\ufb01\u0085\u009f\n"))).toEqual(utf8("e\u0301fi"));
  });

  test("returns a new array and leaves the input alone", () => {
    const input = utf8("secret\n");
    const out = normalizePassword(input);
    out.fill(0);
    expect(input).toEqual(utf8("secret\n"));
  });

  test("invalid UTF-8 is refused", () => {
    expect(() => normalizePassword(new Uint8Array([0x70, 0xff, 0xfe]))).toThrow(new KeystoreError("password is not valid UTF-8"));
  });
});
