import { open, type FileHandle } from "node:fs/promises";
import { KeystoreError } from "./errors.ts";

/** Password files hold a line of text; anything larger is a mistake. */
export const MAX_PASSWORD_FILE_BYTES = 64 * 1024;

/**
 * Read a whole file, refusing it before reading when it exceeds `maxBytes`.
 * Errors are KeystoreErrors naming `what` and the path.
 */
export async function readFileCapped(path: string, maxBytes: number, what: string): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeystoreError(code === "ENOENT" ? `${what} not found: ${path}` : `cannot open ${what} ${path}: ${code ?? "error"}`);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new KeystoreError(`${what} is larger than ${maxBytes} bytes: ${path}`);
    return await handle.readFile();
  } catch (error) {
    if (error instanceof KeystoreError) throw error;
    throw new KeystoreError(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  } finally {
    await handle.close();
  }
}

/** Java's String.isBlank over ASCII: space, \t \n \v \f \r and 0x1c–0x1f. */
function isBlank(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0x20 || (b >= 0x09 && b <= 0x0d) || (b >= 0x1c && b <= 0x1f));
}

/**
 * Read a password file as raw bytes the caller owns and zeroes (EIP-2335
 * normalisation happens at decryption). Web3Signer reads the two kinds of
 * password file differently, and so does this:
 * - "whole-file" (--keystores-passwords-path, --keystores-password-file): the
 *   entire content. A trailing newline is harmless because normalisation
 *   strips control codes (CR, LF); spaces are part of the password.
 * - "first-line" (key-config keystorePasswordFile): up to the first CR or LF,
 *   and a blank first line is refused ("Keystore password cannot be empty").
 */
export async function readPasswordFile(path: string, mode: "whole-file" | "first-line"): Promise<Uint8Array> {
  const content = await readFileCapped(path, MAX_PASSWORD_FILE_BYTES, "password file");
  try {
    if (mode === "whole-file") return new Uint8Array(content);
    const end = content.findIndex((b) => b === 0x0a || b === 0x0d);
    const line = new Uint8Array(content.subarray(0, end === -1 ? content.length : end));
    if (isBlank(line)) {
      line.fill(0);
      throw new KeystoreError(`password cannot be empty: ${path}`);
    }
    return line;
  } finally {
    content.fill(0);
  }
}
