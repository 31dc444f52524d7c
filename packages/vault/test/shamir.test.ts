import { describe, expect, test } from "vitest";
import { combineShares, splitSecret, VaultError, type Share } from "../src/index.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const secret32 = () => Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);

/** Every subset of `items` of size k, in order. */
function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  const out: T[][] = [];
  for (let i = 0; i <= items.length - k; i++) {
    for (const rest of subsets(items.slice(i + 1), k - 1)) out.push([items[i]!, ...rest]);
  }
  return out;
}

describe("published vectors", () => {
  // Source: MystenLabs/seal, crates/crypto/src/tss.rs, test `typescript_test_vector`
  // (the same shares, hex-encoded, are in MystenLabs/ts-sdks
  // packages/seal/test/unit/shamir.test.ts, "test vector"). A 2-of-3 sharing
  // of "My super secret message" over GF(2^8) with the AES polynomial (Seal's
  // GF256 uses generator 3 of the Rijndael field). Each base64 string is the
  // 23-byte share followed by its index byte.
  const SEAL_SHARES = ["C7rQzQ0iL+L+fBcIAZipXBhtZsUju7ot", "lO0Boejog7ARBVXjjLUMqAFP/Iut0ZpZ", "FsrVroJ5+eWfw7sFgXq8Y3AWDN2Ogvc9"].map(
    (b64): Share => {
      const bytes = new Uint8Array(Buffer.from(b64, "base64"));
      return { index: bytes[23]!, value: bytes.subarray(0, 23) };
    },
  );
  const SEAL_SECRET = utf8("My super secret message");

  test("Seal's shares carry indices 0x2d, 0x59, 0x3d", () => {
    expect(SEAL_SHARES.map((s) => s.index)).toEqual([0x2d, 0x59, 0x3d]);
  });
  test("every pair of Seal's 2-of-3 shares, in either order, gives the message", () => {
    for (const pair of subsets(SEAL_SHARES, 2)) {
      expect(combineShares(pair, 2)).toEqual(SEAL_SECRET);
      expect(combineShares([...pair].reverse(), 2)).toEqual(SEAL_SECRET);
    }
  });
  test("all three interpolate to the same degree-1 polynomial", () => {
    expect(combineShares(SEAL_SHARES, 3)).toEqual(SEAL_SECRET);
  });
  test("one share alone (threshold 1) is not the message", () => {
    expect(combineShares(SEAL_SHARES.slice(0, 1), 1)).not.toEqual(SEAL_SECRET);
  });
  // Source: MystenLabs/seal, crates/crypto/src/tss.rs, test `test_combine_byte`:
  // points (1,2), (2,3), (3,4), (4,5) interpolate to 202 at x = 0.
  test("Seal's combine_byte vector: (1,2),(2,3),(3,4),(4,5) → 202", () => {
    const shares = [1, 2, 3, 4].map((index) => ({ index, value: Uint8Array.of(index + 1) }));
    expect(combineShares(shares, 4)).toEqual(Uint8Array.of(202));
  });
});

describe("split and combine", () => {
  test.each([
    [1, 1],
    [2, 2],
    [2, 3],
    [3, 5],
    [5, 10],
    [10, 255],
    [255, 255],
  ])("%i-of-%i round trip", (threshold, count) => {
    const secret = secret32();
    const shares = splitSecret(secret, threshold, count);
    expect(shares.map((s) => s.index)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    for (const share of shares) expect(share.value.length).toBe(32);
    expect(combineShares(shares, threshold)).toEqual(secret);
    expect(combineShares(shares.slice(count - threshold), threshold)).toEqual(secret);
    expect(combineShares([...shares].reverse(), threshold)).toEqual(secret);
    expect(secret).toEqual(secret32()); // the input is left alone
  });

  test("every subset of size threshold rebuilds the secret, n ≤ 6", () => {
    const secret = utf8("strongroom");
    let combinations = 0;
    for (let n = 2; n <= 6; n++) {
      for (let t = 2; t <= n; t++) {
        const shares = splitSecret(secret, t, n);
        for (const subset of subsets(shares, t)) {
          expect(combineShares(subset, t)).toEqual(secret);
          combinations++;
        }
      }
    }
    expect(combinations).toBe(99);
  });

  test("with t − 1 shares, interpolation gives some other value (1-byte secrets, 3-of-5)", () => {
    // Not a security proof: only that fewer shares do not quietly work.
    let matches = 0;
    for (let i = 0; i < 200; i++) {
      const shares = splitSecret(Uint8Array.of(0x42), 3, 5);
      if (combineShares(shares.slice(0, 2), 2)[0] === 0x42) matches++;
    }
    expect(matches).toBeLessThan(20); // ~200/256 expected by chance
  });

  test("1-byte and 1 KiB secrets", () => {
    const one = Uint8Array.of(0);
    expect(combineShares(splitSecret(one, 2, 3).slice(1), 2)).toEqual(one);
    const big = Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff);
    expect(combineShares(splitSecret(big, 3, 4).slice(1), 3)).toEqual(big);
  });

  test("only the first threshold shares are used; later ones are not checked", () => {
    const secret = secret32();
    const shares = splitSecret(secret, 2, 4);
    const forged: Share = { index: 4, value: new Uint8Array(32).fill(0xaa) };
    expect(combineShares([shares[0]!, shares[1]!, forged], 2)).toEqual(secret);
    expect(combineShares([forged, shares[0]!, shares[1]!], 2)).not.toEqual(secret);
  });
});

describe("fewer than threshold shares", () => {
  // For 2-of-3, share i of byte s is s ⊕ c·i with c uniform, so each share
  // byte must be uniform over 0..255 whatever s is. Chi-squared over 256
  // buckets (255 degrees of freedom: mean 255, sd ≈ 22.6); the bound 420 is
  // about 7 sd out, a false failure chance near 1e-10. A share that leaked
  // the secret (say, a zero coefficient) would sit in one bucket and score
  // in the millions.
  test.each([0x00, 0xff])("each single share of a 2-of-3 split is uniform (every secret byte %i)", (byte) => {
    const secret = new Uint8Array(64).fill(byte);
    const counts = [0, 1, 2].map(() => new Array<number>(256).fill(0));
    const splits = 1000;
    for (let i = 0; i < splits; i++) {
      for (const share of splitSecret(secret, 2, 3)) for (const b of share.value) counts[share.index - 1]![b]!++;
    }
    const expected = (splits * secret.length) / 256;
    for (const bucket of counts) {
      const chi2 = bucket.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
      expect(chi2).toBeLessThan(420);
    }
  });
});

describe("refusals", () => {
  const secret = secret32();
  test.each([
    ["empty secret", () => splitSecret(new Uint8Array(0), 2, 3), /secret must be 1 to 1024 bytes/],
    ["1025-byte secret", () => splitSecret(new Uint8Array(1025), 2, 3), /secret must be/],
    ["secret not bytes", () => splitSecret([1, 2, 3] as unknown as Uint8Array, 2, 3), /secret must be/],
    ["zero shares", () => splitSecret(secret, 1, 0), /share count/],
    ["256 shares", () => splitSecret(secret, 2, 256), /share count/],
    ["fractional shares", () => splitSecret(secret, 2, 3.5), /share count/],
    ["NaN shares", () => splitSecret(secret, 2, Number.NaN), /share count/],
    ["zero threshold", () => splitSecret(secret, 0, 3), /threshold/],
    ["threshold above count", () => splitSecret(secret, 4, 3), /threshold/],
    ["fractional threshold", () => splitSecret(secret, 1.5, 3), /threshold/],
    ["1-of-3", () => splitSecret(secret, 1, 3), /threshold 1/],
  ])("split: %s", (_name, run, message) => {
    expect(run).toThrow(VaultError);
    expect(run).toThrow(message);
  });

  const good = splitSecret(secret, 2, 3);
  const [a, b] = [good[0]!, good[1]!];
  test.each([
    ["fewer than threshold", () => combineShares([a], 2), /need at least 2 shares, got 1/],
    ["no shares", () => combineShares([], 1), /need at least 1 share, got 0/],
    ["duplicate index", () => combineShares([a, { index: a.index, value: b.value }], 2), /index 1 appears twice/],
    ["duplicate share beyond threshold", () => combineShares([a, b, a], 2), /appears twice/],
    ["index 0", () => combineShares([{ index: 0, value: a.value }, b], 2), /index must be an integer from 1 to 255/],
    ["index 256", () => combineShares([a, { index: 256, value: b.value }], 2), /index must be/],
    ["fractional index", () => combineShares([a, { index: 2.5, value: b.value }], 2), /index must be/],
    ["lengths differ", () => combineShares([a, { index: 2, value: b.value.subarray(1) }], 2), /length 31 differs from 32/],
    ["empty value", () => combineShares([a, { index: 2, value: new Uint8Array(0) }], 2), /value must be 1 to 1024 bytes/],
    ["value not bytes", () => combineShares([a, { index: 2, value: "xx" as unknown as Uint8Array }], 2), /value must be/],
    ["share not an object", () => combineShares([a, null as unknown as Share], 2), /index must be/],
    ["zero threshold", () => combineShares([a, b], 0), /threshold/],
    ["threshold 256", () => combineShares([a, b], 256), /threshold/],
    ["not an array", () => combineShares("ab" as unknown as Share[], 1), /array/],
  ])("combine: %s", (_name, run, message) => {
    expect(run).toThrow(VaultError);
    expect(run).toThrow(message);
  });
});
