import { KeystoreError } from "./errors.ts";

/** C0 controls, DEL and C1 controls: the code points EIP-2335 strips. */
function isControl(codePoint: number): boolean {
  return codePoint <= 0x1f || (codePoint >= 0x7f && codePoint <= 0x9f);
}

/**
 * EIP-2335 password normalisation: NFKD, strip control codes, UTF-8 encode.
 * Takes the raw UTF-8 bytes of the password and returns a new array that the
 * caller owns and must zero; the input is left untouched.
 */
export function normalizePassword(password: Uint8Array): Uint8Array {
  if (password.every((b) => b < 0x80)) {
    // ASCII: NFKD is the identity, so filtering bytes is the whole job and
    // the password never exists as a JS string.
    return password.filter((b) => !isControl(b));
  }
  // Non-ASCII needs Unicode normalisation, and the only NFKD available to us
  // is String.prototype.normalize. So the password is transiently a JS string;
  // strings are immutable and cannot be zeroed, and they are dropped here as
  // soon as the bytes are re-encoded. This is the one place it happens.
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(password);
  } catch {
    throw new KeystoreError("password is not valid UTF-8");
  }
  let kept = "";
  for (const ch of text.normalize("NFKD")) {
    if (!isControl(ch.codePointAt(0) ?? 0)) kept += ch;
  }
  return new TextEncoder().encode(kept);
}
