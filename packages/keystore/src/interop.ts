import { createHash } from "node:crypto";

/** The BLS12-381 scalar field order r. */
const CURVE_ORDER = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;

/**
 * The well-known interop (mock-start) secret key i:
 * int.from_bytes(sha256(i as 32-byte little-endian), "little") mod r,
 * serialised big-endian as BLS secret keys are. These keys are public test
 * fixtures, which is why BigInt (unzeroable) arithmetic is acceptable here.
 */
export function interopSecretKey(index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError("interop key index must be a non-negative integer");
  const preimage = new Uint8Array(32);
  new DataView(preimage.buffer).setBigUint64(0, BigInt(index), true);
  const digest = createHash("sha256").update(preimage).digest();
  let scalar = 0n;
  for (let i = digest.length - 1; i >= 0; i--) scalar = (scalar << 8n) | BigInt(digest[i] ?? 0);
  scalar %= CURVE_ORDER;
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(scalar & 0xffn);
    scalar >>= 8n;
  }
  return out;
}
