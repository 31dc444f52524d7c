// Node's TLS takes a private key only as PEM (a KeyObject or DER is refused),
// and KeyObject.export() gives PEM as a string, which cannot be wiped. This
// writes the PEM into a Buffer instead, so the key is never a string.
import type { KeyObject } from "node:crypto";

const ALPHABET = Buffer.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", "latin1");
const BEGIN = Buffer.from("-----BEGIN PRIVATE KEY-----\n", "latin1");
const END = Buffer.from("-----END PRIVATE KEY-----\n", "latin1");
const EQUALS = 0x3d;
const NEWLINE = 0x0a;
/** RFC 7468: 64 base64 characters a line, that is 48 bytes. */
const BYTES_PER_LINE = 48;

/** PKCS#8 PEM of the key, in a Buffer the caller zeroes (`fill(0)`) once TLS has read it. */
export function privateKeyPem(key: KeyObject): Buffer {
  const der = key.export({ type: "pkcs8", format: "der" });
  try {
    const lines = Math.ceil(der.length / BYTES_PER_LINE);
    const pem = Buffer.alloc(BEGIN.length + Math.ceil(der.length / 3) * 4 + lines + END.length);
    let at = BEGIN.copy(pem);
    for (let start = 0; start < der.length; start += 3) {
      const [a = 0, b = 0, c = 0] = [der[start], der[start + 1], der[start + 2]];
      const present = Math.min(3, der.length - start);
      pem[at++] = ALPHABET[a >> 2]!;
      pem[at++] = ALPHABET[((a & 0x03) << 4) | (b >> 4)]!;
      pem[at++] = present > 1 ? ALPHABET[((b & 0x0f) << 2) | (c >> 6)]! : EQUALS;
      pem[at++] = present > 2 ? ALPHABET[c & 0x3f]! : EQUALS;
      if ((start + 3) % BYTES_PER_LINE === 0 || start + 3 >= der.length) pem[at++] = NEWLINE;
    }
    END.copy(pem, at);
    return pem;
  } finally {
    der.fill(0);
  }
}
