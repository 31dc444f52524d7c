// Hex <-> bytes for the 0x-prefixed strings of the beacon-API JSON dialect that Web3Signer speaks.
// Decoding returns undefined instead of throwing so that each caller can raise its own error type
// (a 400 for a signing request, a config error naming the key for a network file).

const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  NIBBLE[65 + i] = 10 + i;
  NIBBLE[97 + i] = 10 + i;
}

/**
 * Decodes "0x" followed by an even number of hex digits (either case). Returns undefined for anything
 * else. Callers bound the string's length first, so this never works on unbounded input.
 */
export function decodeHex(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length % 2 !== 0 || text.charCodeAt(0) !== 48 || text.charCodeAt(1) !== 120) return undefined;
  const out = new Uint8Array((text.length - 2) / 2);
  for (let i = 0, c = 2; i < out.length; i++, c += 2) {
    const hi = NIBBLE[text.charCodeAt(c)] ?? -1;
    const lo = NIBBLE[text.charCodeAt(c + 1)] ?? -1;
    if (hi < 0 || lo < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Lower-case "0x…" rendering, for error messages and cache keys (roots and versions are public). */
export function toHex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`;
}
