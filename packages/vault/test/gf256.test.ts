import { describe, expect, test } from "vitest";
import { gfDiv, gfInv, gfMul } from "../src/gf256.ts";

// Schoolbook reference: carry-less product, then reduce by 0x11b bit by bit.
// Branchy and slow, which is fine here; it is independent of gfMul's loop.
function referenceMul(a: number, b: number): number {
  let product = 0;
  for (let i = 0; i < 8; i++) if ((b >> i) & 1) product ^= a << i;
  for (let bit = 14; bit >= 8; bit--) if ((product >> bit) & 1) product ^= 0x11b << (bit - 8);
  return product;
}

describe("published GF(2^8) facts (AES field, 0x11b)", () => {
  test("FIPS-197 §4.2: {57}•{83} = {c1}", () => expect(gfMul(0x57, 0x83)).toBe(0xc1));
  test("FIPS-197 §4.2.1: {57}•{13} = {fe}, via {57}•{02}={ae}, {04}={47}, {08}={8e}, {10}={07}", () => {
    expect(gfMul(0x57, 0x13)).toBe(0xfe);
    expect([0x02, 0x04, 0x08, 0x10].map((b) => gfMul(0x57, b))).toEqual([0xae, 0x47, 0x8e, 0x07]);
  });
  test("FIPS-197 / Rijndael: {53} and {ca} are inverses", () => {
    expect(gfMul(0x53, 0xca)).toBe(0x01);
    expect(gfInv(0x53)).toBe(0xca);
    expect(gfInv(0xca)).toBe(0x53);
  });
  // hashicorp/vault shamir/shamir_test.go TestField_Mult / TestField_Divide.
  test("HashiCorp Vault's field tests", () => {
    expect(gfMul(3, 7)).toBe(9);
    expect(gfMul(3, 0)).toBe(0);
    expect(gfMul(0, 3)).toBe(0);
    expect(gfDiv(0, 7)).toBe(0);
    expect(gfDiv(3, 3)).toBe(1);
    expect(gfDiv(6, 3)).toBe(2);
  });
  // MystenLabs ts-sdks packages/seal/test/unit/shamir.test.ts (GF256 tests).
  test("Mysten Seal's field tests: 1/{02} = {8d}, {53}/{ca} = {b5}", () => {
    expect(gfInv(2)).toBe(0x8d);
    expect(gfDiv(3, 2)).toBe(0x8c);
    expect(gfDiv(0x53, 0xca)).toBe(0xb5);
  });
  // The AES S-box is the affine map of FIPS-197 §5.1.1 applied to the
  // inverse, so published S-box entries check gfInv end to end.
  test("FIPS-197 Figure 7 S-box entries from gfInv", () => {
    const rotl = (x: number, n: number) => ((x << n) | (x >> (8 - n))) & 0xff;
    const sbox = (x: number) => {
      const b = gfInv(x);
      return b ^ rotl(b, 1) ^ rotl(b, 2) ^ rotl(b, 3) ^ rotl(b, 4) ^ 0x63;
    };
    expect([0x00, 0x01, 0x53, 0x10, 0xff, 0xc9].map(sbox)).toEqual([0x63, 0x7c, 0xed, 0xca, 0x16, 0xdd]);
  });
  test("3 generates the multiplicative group: 3^8 = {1a}, order 255", () => {
    let x = 1;
    const seen = new Set<number>();
    for (let i = 0; i < 255; i++) {
      if (i === 8) expect(x).toBe(0x1a);
      seen.add(x);
      x = gfMul(x, 3);
    }
    expect(x).toBe(1);
    expect(seen.size).toBe(255);
  });
});

describe("exhaustive", () => {
  test("gfMul agrees with the schoolbook reference on all 65536 pairs", () => {
    let mismatches = 0;
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) if (gfMul(a, b) !== referenceMul(a, b)) mismatches++;
    expect(mismatches).toBe(0);
  });
  test("a · a^-1 = 1 for every non-zero a, and the inverse is unique", () => {
    let bad = 0;
    for (let a = 1; a < 256; a++) {
      const inverse = gfInv(a);
      if (gfMul(a, inverse) !== 1) bad++;
      for (let b = 1; b < 256; b++) if (b !== inverse && gfMul(a, b) === 1) bad++;
    }
    expect(bad).toBe(0);
    expect(gfInv(0)).toBe(0);
  });
});
