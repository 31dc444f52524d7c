/**
 * Arithmetic in GF(2^8) with the AES/Rijndael reduction polynomial
 * x^8 + x^4 + x^3 + x + 1 (0x11b), the field FIPS-197 §4 defines and the one
 * HashiCorp Vault's and Mysten Labs' Seal Shamir implementations use.
 *
 * Why no log/exp tables: the usual fast multiply looks up log[a] and log[b]
 * and reads exp[log a + log b]. When a or b is a secret byte (a polynomial
 * coefficient, a share value), the table index is secret, and which cache
 * line gets touched leaks it to anything sharing the cache: the classic
 * table-based AES attacks. So multiplication is the bitwise "Russian peasant"
 * loop with masks instead of branches, and inversion is exponentiation by the
 * fixed, public exponent 254; both run the same instruction sequence and
 * touch the same memory whatever the operands. (JavaScript gives no hard
 * constant-time guarantee, as the JIT may compile things as it likes, but
 * this removes the data-dependent memory access and branches we control.)
 */

/** a · b in GF(2^8); both operands are bytes (0..255). */
export function gfMul(a: number, b: number): number {
  let r = 0;
  // Horner over the bits of b, most significant first: r = r·x, then add a
  // if the bit is set. -(bit) is all-ones or zero, so the "if"s are masks.
  for (let i = 7; i >= 0; i--) {
    r = (r << 1) ^ (-(r >> 7) & 0x11b); // r·x, reduced when bit 8 appears
    r ^= -((b >> i) & 1) & a;
  }
  return r & 0xff;
}

/**
 * a^-1 = a^254 in GF(2^8) (the multiplicative group has order 255), by
 * square-and-multiply over the bits of the constant 254: the branch depends
 * on the public exponent only. Returns 0 for 0, which callers never pass
 * (Shamir indices are checked distinct and non-zero first).
 */
export function gfInv(a: number): number {
  let r = 1;
  for (let i = 7; i >= 0; i--) {
    r = gfMul(r, r);
    if ((254 >> i) & 1) r = gfMul(r, a);
  }
  return r;
}

/** a / b in GF(2^8); b must be non-zero. */
export function gfDiv(a: number, b: number): number {
  return gfMul(a, gfInv(b));
}
