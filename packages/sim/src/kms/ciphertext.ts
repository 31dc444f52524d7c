// The KMS simulator's ciphertext blobs (its own format, not AWS's):
//
//   0x53 0x52 ("SR")  version 0x01  key id (16 bytes: the UUID)  IV (12)  AES-256-GCM ciphertext  tag (16)
//
// under the key's 256-bit backing key, with the AAD = the 19-byte header ‖
// the encryption context in canonical form (pairs sorted by key, each string
// as a 2-byte big-endian length and its UTF-8 bytes). The key id is in the
// clear, so Decrypt needs no KeyId; a blob under another key, with another
// context, or altered anywhere fails to open.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const MAGIC = [0x53, 0x52] as const;
const VERSION = 0x01;
const HEADER_BYTES = 2 + 1 + 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Largest plaintext KMS encrypts (4 KiB). */
export const MAX_PLAINTEXT_BYTES = 4096;
export const MIN_CIPHERTEXT_BYTES = HEADER_BYTES + IV_BYTES + TAG_BYTES;
/** AWS's limit on CiphertextBlob. */
export const MAX_CIPHERTEXT_BYTES = 6144;

export type EncryptionContext = Readonly<Record<string, string>>;

function uuidBytes(keyId: string): Buffer {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(keyId)) throw new RangeError("a key id is a lower-case UUID");
  return Buffer.from(keyId.replaceAll("-", ""), "hex");
}

function uuidText(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The encryption context as bound into the AAD: sorted pairs, each string length-prefixed. */
export function canonicalContext(context: EncryptionContext): Buffer {
  const parts: Buffer[] = [];
  const entries = Object.entries(context).sort(([a], [b]) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
  const count = Buffer.alloc(2);
  count.writeUInt16BE(entries.length);
  parts.push(count);
  for (const [key, value] of entries) {
    for (const text of [key, value]) {
      const bytes = Buffer.from(text, "utf8");
      const length = Buffer.alloc(2);
      length.writeUInt16BE(bytes.length);
      parts.push(length, bytes);
    }
  }
  return Buffer.concat(parts);
}

function header(keyId: string): Buffer {
  return Buffer.concat([Buffer.from([...MAGIC, VERSION]), uuidBytes(keyId)]);
}

export function sealBlob(keyId: string, backingKey: Uint8Array, plaintext: Uint8Array, context: EncryptionContext): Uint8Array {
  const head = header(keyId);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", backingKey, iv);
  cipher.setAAD(Buffer.concat([head, canonicalContext(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([head, iv, body, cipher.getAuthTag()]));
}

/** The key id a blob names, or undefined when it is not one of this simulator's blobs. */
export function blobKeyId(blob: Uint8Array): string | undefined {
  if (blob.length < MIN_CIPHERTEXT_BYTES || blob.length > MAX_CIPHERTEXT_BYTES) return undefined;
  if (blob[0] !== MAGIC[0] || blob[1] !== MAGIC[1] || blob[2] !== VERSION) return undefined;
  return uuidText(blob.subarray(3, HEADER_BYTES));
}

/** The plaintext (the caller zeroes it), or undefined when the blob does not open under this key and context. */
export function openBlob(keyId: string, backingKey: Uint8Array, blob: Uint8Array, context: EncryptionContext): Uint8Array | undefined {
  if (blobKeyId(blob) !== keyId) return undefined;
  const iv = blob.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const body = blob.subarray(HEADER_BYTES + IV_BYTES, blob.length - TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", backingKey, iv);
  decipher.setAAD(Buffer.concat([blob.subarray(0, HEADER_BYTES), canonicalContext(context)]));
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  const first = decipher.update(body);
  try {
    const last = decipher.final();
    const plaintext = new Uint8Array(first.length + last.length);
    plaintext.set(first);
    plaintext.set(last, first.length);
    return plaintext;
  } catch {
    return undefined;
  } finally {
    first.fill(0);
  }
}
