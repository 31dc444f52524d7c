/**
 * A request body that carries secrets (operator passphrases, HMAC
 * responses) without ever making them JSON strings (DESIGN.md §12):
 *
 *   "SRS1" ‖ u32 BE length of the JSON ‖ JSON (UTF-8, public fields only)
 *        ‖ u16 BE count ‖ count × (u16 BE length ‖ bytes)
 *
 * The JSON names a secret as `{"$secret": i}`, its index in the list after
 * it. The server copies each secret into a buffer of its own and zeroes the
 * raw body; the client builds the body the same way around its buffers.
 */
import { HttpError } from "./errors.ts";

export const SECRET_BODY_MEDIA_TYPE = "application/vnd.strongroom.secret-body";
const MAGIC = Buffer.from("SRS1", "ascii");
const MAX_SECRETS = 256;
const MAX_SECRET_BYTES = 0xffff;

export interface SecretBody {
  readonly json: unknown;
  /** Fresh buffers, the receiver's to zero (see `wipe`). */
  readonly secrets: readonly Uint8Array[];
}

/** A reference to secret `index`, for the JSON part. */
export const secretRef = (index: number) => ({ $secret: index });

/** Client side: the body for `json`, whose `{"$secret": i}` references name `secrets[i]`. The caller zeroes the result after sending. */
export function encodeSecretBody(json: unknown, secrets: readonly Uint8Array[]): Buffer {
  if (secrets.length > MAX_SECRETS) throw new RangeError(`at most ${MAX_SECRETS} secrets per request`);
  const text = Buffer.from(JSON.stringify(json), "utf8");
  let size = MAGIC.length + 4 + text.length + 2;
  for (const secret of secrets) {
    if (secret.length > MAX_SECRET_BYTES) throw new RangeError(`a secret is at most ${MAX_SECRET_BYTES} bytes`);
    size += 2 + secret.length;
  }
  const body = Buffer.alloc(size);
  let offset = MAGIC.copy(body, 0);
  offset = body.writeUInt32BE(text.length, offset);
  offset += text.copy(body, offset);
  offset = body.writeUInt16BE(secrets.length, offset);
  for (const secret of secrets) {
    offset = body.writeUInt16BE(secret.length, offset);
    body.set(secret, offset);
    offset += secret.length;
  }
  return body;
}

/** Server side: parses (bounds first) and zeroes `raw`; every malformation is a 400. */
export function decodeSecretBody(raw: Buffer): SecretBody {
  const secrets: Uint8Array[] = [];
  try {
    const fail = (what: string): never => {
      throw new HttpError(400, `malformed ${SECRET_BODY_MEDIA_TYPE} body: ${what}`);
    };
    if (raw.length < MAGIC.length + 4 + 2 || !raw.subarray(0, MAGIC.length).equals(MAGIC)) fail('it must start with "SRS1"');
    const jsonLength = raw.readUInt32BE(MAGIC.length);
    let offset = MAGIC.length + 4;
    if (jsonLength > raw.length - offset - 2) fail("the JSON part is longer than the body");
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8", offset, offset + jsonLength));
    } catch {
      fail("the JSON part is not valid JSON");
    }
    offset += jsonLength;
    const count = raw.readUInt16BE(offset);
    offset += 2;
    if (count > MAX_SECRETS) fail(`more than ${MAX_SECRETS} secrets`);
    for (let i = 0; i < count; i++) {
      if (offset + 2 > raw.length) fail(`secret ${i} is cut short`);
      const length = raw.readUInt16BE(offset);
      offset += 2;
      if (offset + length > raw.length) fail(`secret ${i} is cut short`);
      secrets.push(Uint8Array.from(raw.subarray(offset, offset + length)));
      offset += length;
    }
    if (offset !== raw.length) fail("bytes after the last secret");
    return { json, secrets };
  } catch (error) {
    wipe(secrets);
    throw error;
  } finally {
    raw.fill(0);
  }
}

/** The secret a `{"$secret": i}` reference names; a 400 naming `what` otherwise. */
export function secretAt(body: SecretBody, reference: unknown, what: string): Uint8Array {
  const index = typeof reference === "object" && reference !== null ? (reference as Record<string, unknown>)["$secret"] : undefined;
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= body.secrets.length) {
    throw new HttpError(400, `${what} must be a secret reference {"$secret": n} to one of the ${body.secrets.length} secrets sent`);
  }
  return body.secrets[index]!;
}

export function wipe(secrets: readonly Uint8Array[]): void {
  for (const secret of secrets) secret.fill(0);
}
