import { randomBytes } from "node:crypto";

export const TOKEN_PREFIX = "sr_";
/** `sr_` and 43 base64url characters (256 random bits). */
export const TOKEN_LENGTH = TOKEN_PREFIX.length + 43;
/** Longer Authorization headers are refused unread. */
export const MAX_AUTHORIZATION_LENGTH = 1024;

const BASE64URL_ALPHABET = Buffer.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", "ascii");

/**
 * A new token, as bytes (a secret never becomes a string): `sr_` and 43
 * base64url characters, each carrying 6 uniformly random bits (258 bits in
 * all). The random bytes are zeroed; the caller zeroes the token once it has
 * been shown.
 */
export function generateToken(): Buffer {
  const characters = TOKEN_LENGTH - TOKEN_PREFIX.length;
  const raw = randomBytes(characters);
  const token = Buffer.alloc(TOKEN_LENGTH);
  token.write(TOKEN_PREFIX, 0, "ascii");
  for (let i = 0; i < characters; i++) token[TOKEN_PREFIX.length + i] = BASE64URL_ALPHABET[raw[i]! & 63]!;
  raw.fill(0);
  return token;
}

const isBase64Url = (byte: number) =>
  (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x5f;

/** Whether bytes have the shape of a token (`sr_` + 43 base64url characters), judged without making a string. */
export function hasTokenShape(bytes: Uint8Array): boolean {
  if (bytes.length !== TOKEN_LENGTH) return false;
  if (bytes[0] !== 0x73 || bytes[1] !== 0x72 || bytes[2] !== 0x5f) return false;
  for (let i = 3; i < bytes.length; i++) if (!isBase64Url(bytes[i]!)) return false;
  return true;
}

export type ParsedAuthorization =
  | { readonly kind: "missing" }
  | { readonly kind: "malformed"; readonly reason: string }
  /** The token's bytes; the caller zeroes them when done. */
  | { readonly kind: "token"; readonly token: Buffer };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Reads `Authorization: Bearer <token>` or `Authorization: Basic
 * base64(<anything>:<token>)` (the username is ignored). The scheme is
 * case-insensitive. Never throws; reasons never quote the credentials.
 */
export function readAuthorization(header: string | undefined): ParsedAuthorization {
  if (header === undefined || header === "") return { kind: "missing" };
  if (typeof header !== "string") return { kind: "malformed", reason: "malformed Authorization header" };
  if (header.length > MAX_AUTHORIZATION_LENGTH) return { kind: "malformed", reason: "Authorization header too long" };
  const trimmed = header.trim();
  const space = trimmed.indexOf(" ");
  if (space === -1) return { kind: "malformed", reason: "Authorization header has no credentials after the scheme" };
  const scheme = trimmed.slice(0, space).toLowerCase();
  const credentials = trimmed.slice(space + 1).trimStart();
  if (credentials === "" || /\s/.test(credentials)) return { kind: "malformed", reason: "malformed Authorization header" };
  let token: Buffer;
  if (scheme === "bearer") {
    token = Buffer.from(credentials, "utf8");
  } else if (scheme === "basic") {
    if (!BASE64.test(credentials) || credentials.length % 4 === 1) return { kind: "malformed", reason: "Basic credentials are not base64" };
    const decoded = Buffer.from(credentials, "base64");
    const colon = decoded.indexOf(0x3a);
    if (colon === -1) {
      decoded.fill(0);
      return { kind: "malformed", reason: "Basic credentials have no ':' between username and password" };
    }
    token = Buffer.from(decoded.subarray(colon + 1));
    decoded.fill(0);
  } else {
    return { kind: "malformed", reason: "unsupported Authorization scheme; use Bearer or Basic" };
  }
  if (!hasTokenShape(token)) {
    token.fill(0);
    return { kind: "malformed", reason: "credentials are not a strongroom token" };
  }
  return { kind: "token", token };
}

/** The token bytes of an Authorization header, or undefined (missing or malformed). Never throws. */
export function parseAuthorization(header: string | undefined): Uint8Array | undefined {
  const parsed = readAuthorization(header);
  return parsed.kind === "token" ? parsed.token : undefined;
}
