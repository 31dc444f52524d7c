import { describe, expect, test } from "vitest";
import { generateMasterKey, VaultError } from "../src/index.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("generateMasterKey", () => {
  test("32-byte keys, distinct even from identical (or all-zero) NSM input", () => {
    const nsm = new Uint8Array(32).fill(7);
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const key = generateMasterKey(nsm);
      expect(key).toBeInstanceOf(Uint8Array);
      expect(key.length).toBe(32);
      keys.add(hex(key));
    }
    for (let i = 0; i < 50; i++) keys.add(hex(generateMasterKey(new Uint8Array(64))));
    expect(keys.size).toBe(100);
  });

  test("the caller's NSM bytes are left for the caller to zero", () => {
    const nsm = new Uint8Array(256).fill(9);
    generateMasterKey(nsm);
    expect(nsm.every((b) => b === 9)).toBe(true);
  });

  test.each([
    ["empty", new Uint8Array(0)],
    ["31 bytes", new Uint8Array(31)],
    ["1025 bytes", new Uint8Array(1025)],
    ["not bytes", "x".repeat(32) as unknown as Uint8Array],
  ])("refuses NSM randomness: %s", (_name, input) => {
    expect(() => generateMasterKey(input)).toThrow(VaultError);
    expect(() => generateMasterKey(input)).toThrow(/NSM randomness must be 32 to 1024 bytes/);
  });
});
