const PUBLIC_KEY_HEX = /^(?:0x)?([0-9a-fA-F]{96})$/;

/**
 * The canonical spelling of a BLS public key: lower-case hex with `0x`.
 * Returns undefined when the text is not 48 bytes of hex.
 */
export function canonicalPublicKey(text: string): string | undefined {
  const match = PUBLIC_KEY_HEX.exec(text);
  return match === null ? undefined : `0x${match[1]!.toLowerCase()}`;
}

/** The 48 bytes of a canonical public key (as canonicalPublicKey returns it). */
export function publicKeyBytes(canonical: string): Uint8Array {
  return new Uint8Array(Buffer.from(canonical.slice(2), "hex"));
}
