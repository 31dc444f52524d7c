import { KeystoreError } from "./errors.ts";

const HEX = /^(?:0x)?((?:[0-9a-fA-F]{2})*)$/;

/**
 * Strict hex decoding for values read from keystores and key-config files.
 * Buffer.from(s, "hex") silently stops at the first bad digit, which would
 * turn a typo into a different key, so the whole string is checked first.
 * The optional `0x` prefix is accepted, as Web3Signer (Tuweni) accepts it.
 */
export function decodeHex(value: unknown, field: string, length?: number): Uint8Array {
  const digits = typeof value === "string" ? HEX.exec(value)?.[1] : undefined;
  if (digits === undefined) throw new KeystoreError(`${field}: expected a hex string`);
  if (length !== undefined && digits.length !== length * 2) {
    throw new KeystoreError(`${field}: expected ${length} bytes of hex, got ${digits.length / 2}`);
  }
  const bytes = Buffer.from(digits, "hex");
  // Copy out of the Buffer so the result owns its memory (Buffer.from may
  // allocate from Node's shared pool) and can be zeroed or transferred alone.
  const out = new Uint8Array(bytes);
  bytes.fill(0);
  return out;
}

/** Hex without prefix, as EIP-2335 writes it. Only for public data. */
export function encodeHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
