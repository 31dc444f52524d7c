import { describe, expect, test } from "vitest";
import {
  generateToken,
  hasTokenShape,
  MAX_AUTHORIZATION_LENGTH,
  parseAuthorization,
  readAuthorization,
  TOKEN_LENGTH,
} from "../src/auth/index.ts";

const TOKEN_SHAPE = /^sr_[A-Za-z0-9_-]{43}$/;
const basic = (userPass: string) => `Basic ${Buffer.from(userPass, "utf8").toString("base64")}`;
const newToken = () => generateToken().toString("ascii");
const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString("utf8"));

describe("token format", () => {
  test("bytes: sr_ + 43 base64url characters (258 random bits, at least 32 bytes decoded), all different, every character used", () => {
    const seen = new Set<string>();
    const characters = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const bytes = generateToken();
      expect(bytes).toBeInstanceOf(Uint8Array);
      const token = bytes.toString("ascii");
      expect(token).toMatch(TOKEN_SHAPE);
      expect(token.length).toBe(TOKEN_LENGTH);
      expect(Buffer.from(token.slice(3), "base64url").length).toBe(32);
      for (const c of token.slice(3)) characters.add(c);
      seen.add(token);
    }
    expect(seen.size).toBe(200);
    // 8,600 draws from 64 characters: a biased or truncated alphabet would leave some out.
    expect(characters.size).toBe(64);
  });

  test("hasTokenShape accepts tokens and refuses near misses", () => {
    const token = newToken();
    expect(hasTokenShape(Buffer.from(token))).toBe(true);
    expect(hasTokenShape(Buffer.from(token.slice(0, -1)))).toBe(false);
    expect(hasTokenShape(Buffer.from(`${token}A`))).toBe(false);
    expect(hasTokenShape(Buffer.from(`xr_${token.slice(3)}`))).toBe(false);
    expect(hasTokenShape(Buffer.from(`${token.slice(0, -1)}=`))).toBe(false);
    expect(hasTokenShape(Buffer.from(`${token.slice(0, -1)}+`))).toBe(false);
    expect(hasTokenShape(Buffer.from(`${token.slice(0, -2)}é`))).toBe(false); // right length in UTF-16, not in bytes
  });
});

describe("Authorization header", () => {
  const token = newToken();

  test.each([
    ["Bearer", `Bearer ${token}`],
    ["bearer, lower case", `bearer ${token}`],
    ["BEARER, several spaces", `BEARER   ${token}`],
    ["Basic with username", basic(`validator-1:${token}`)],
    ["Basic with empty username", basic(`:${token}`)],
    ["Basic, lower case scheme", basic(`u:${token}`).replace("Basic", "basic")],
    ["Basic without padding", basic(`ab:${token}`).replace(/=+$/, "")],
  ])("accepts %s", (_name, header) => {
    const parsed = readAuthorization(header);
    expect(parsed.kind).toBe("token");
    expect(text(parseAuthorization(header))).toBe(token);
  });

  test("missing: no header or an empty one", () => {
    expect(readAuthorization(undefined)).toEqual({ kind: "missing" });
    expect(readAuthorization("")).toEqual({ kind: "missing" });
  });

  test.each([
    ["wrong scheme", `Digest ${token}`, /unsupported Authorization scheme/],
    ["token alone", token, /no credentials after the scheme/],
    ["scheme alone", "Bearer", /no credentials/],
    ["two credentials", `Bearer ${token} ${token}`, /malformed/],
    ["not a strongroom token", "Bearer abc.def.ghi", /not a strongroom token/],
    ["token one short", `Bearer ${token.slice(0, -1)}`, /not a strongroom token/],
    ["Basic, not base64", "Basic !!!notbase64!!!", /not base64/],
    ["Basic, impossible base64 length", "Basic QUJDREVGR", /not base64/],
    ["Basic, no colon", basic(token), /no ':'/],
    ["Basic, token as username, empty password", basic(`${token}:`), /not a strongroom token/],
    ["Basic, base64url alphabet", `Basic ${Buffer.from(`u:${token}`).toString("base64url")}_-`, /not base64/],
    ["overlong", `Bearer ${token}${"A".repeat(MAX_AUTHORIZATION_LENGTH)}`, /too long/],
    ["non-ASCII look-alike", `Bearer ${token.slice(0, -1)}\u0173`, /not a strongroom token/],
  ])("refuses %s without throwing and without quoting the credentials", (_name, header, reason) => {
    const parsed = readAuthorization(header);
    expect(parsed.kind).toBe("malformed");
    if (parsed.kind !== "malformed") return;
    expect(parsed.reason).toMatch(reason);
    expect(parsed.reason).not.toContain(token.slice(3, 20));
    expect(parseAuthorization(header)).toBeUndefined();
  });

  test("never throws on odd input", () => {
    const odd: unknown[] = [null, 42, {}, "Basic ====", "Basic =", "Bearer \u0000", " ", "\t\t", `Basic ${"A".repeat(1020)}`];
    for (const header of odd) expect(() => readAuthorization(header as string)).not.toThrow();
  });
});
