// uint64 values arrive as decimal strings covering the whole range 0…2^64−1 (slots and epochs above
// 2^53 occur in real requests, e.g. FAR_FUTURE_EPOCH), so they are parsed to bigint, never to number.

export const UINT64_MAX = 2n ** 64n - 1n;

/** 2^64 − 1 has 20 digits; bounding the length first keeps BigInt() off oversized input. */
const UINT64_DECIMAL = /^[0-9]{1,20}$/;

/**
 * Parses a uint64 given as a decimal string (digits only: no sign, no whitespace, no exponent) or as a
 * JSON number that is a non-negative safe integer. Returns undefined for anything else, including
 * values above 2^64 − 1.
 */
export function parseUint64(value: unknown): bigint | undefined {
  if (typeof value === "string") {
    if (!UINT64_DECIMAL.test(value)) return undefined;
    const n = BigInt(value);
    return n <= UINT64_MAX ? n : undefined;
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  return undefined;
}
