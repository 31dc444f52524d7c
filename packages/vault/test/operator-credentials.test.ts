import { createDecipheriv, createHmac, hkdfSync, scryptSync } from "node:crypto";
import { beforeAll, describe, expect, test } from "vitest";
import {
  combineShares,
  type CredentialSubmission,
  newHmacChallenge,
  parseWrappedShare,
  type Share,
  splitSecret,
  unwrapShare,
  VaultError,
  wrapShareForOperator,
  type WrappedShare,
} from "../src/index.ts";

// scrypt runs at the production cost (N = 2^17, 128 MiB, ~0.3-0.6 s): the
// tests below make about eight derivations in all; the HMAC kind, which is
// cheap, carries the tamper cases.

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const text = (s: string) => new TextEncoder().encode(s);
const master = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const shares = splitSecret(master, 2, 3);
const share: Share = shares[1]!;
const passphrase = text("correct horse battery staple");
const tokenSecret = Uint8Array.from({ length: 20 }, (_, i) => (i * 13 + 5) & 0xff);
const otherTokenSecret = Uint8Array.from({ length: 20 }, (_, i) => (i * 17 + 3) & 0xff);
/** What a YubiKey's HMAC-SHA1 slot answers. */
const token = (secret: Uint8Array, challenge: Uint8Array) => new Uint8Array(createHmac("sha1", secret).update(challenge).digest());

/** The refusal, as a VaultError whose message shows no secret. */
async function refusal(run: () => Promise<unknown>): Promise<string> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(VaultError);
  const message = (caught as Error).message;
  for (const secret of [share.value, passphrase, tokenSecret, master]) {
    expect(message).not.toContain(hex(secret).slice(0, 8));
    expect(message).not.toContain(Buffer.from(secret).toString("base64").slice(0, 8));
  }
  expect(message).not.toContain("correct horse");
  return message;
}

const roundTripJson = (w: WrappedShare) => JSON.parse(JSON.stringify(w)) as WrappedShare;

/** The documented AAD: label, then u16-length-prefixed strings/bytes and u32 numbers. */
function aad(fields: (string | number | Uint8Array)[]): Uint8Array {
  const parts: Buffer[] = [Buffer.from("strongroom-operator-share-v1")];
  for (const f of fields) {
    if (typeof f === "number") {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(f);
      parts.push(b);
    } else {
      const b = typeof f === "string" ? Buffer.from(f) : Buffer.from(f);
      const l = Buffer.alloc(2);
      l.writeUInt16BE(b.length);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

function gcmOpen(key: Uint8Array, nonceHex: string, ciphertextHex: string, additional: Uint8Array): Uint8Array {
  const ct = Buffer.from(ciphertextHex, "hex");
  const d = createDecipheriv("aes-256-gcm", key, Buffer.from(nonceHex, "hex"));
  d.setAAD(additional);
  d.setAuthTag(ct.subarray(ct.length - 16));
  return new Uint8Array(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]));
}

describe("passphrase credential", () => {
  let wrapped: WrappedShare;
  beforeAll(async () => {
    wrapped = roundTripJson(await wrapShareForOperator(share, "alice", { kind: "passphrase", credentialId: "alice-pass", passphrase }));
  });

  test("record: public metadata only, stated scrypt parameters", () => {
    expect(wrapped).toMatchObject({
      version: 1,
      kind: "passphrase",
      credentialId: "alice-pass",
      operatorId: "alice",
      shareIndex: 2,
      kdf: { name: "scrypt", logN: 17, r: 8, p: 1 },
    });
    if (wrapped.kind !== "passphrase") throw new Error("kind");
    expect(wrapped.kdf.salt).toMatch(/^[0-9a-f]{32}$/);
    expect(wrapped.nonce).toMatch(/^[0-9a-f]{24}$/);
    expect(wrapped.ciphertext).toMatch(/^[0-9a-f]{96}$/); // 32-byte share + 16-byte tag
    const json = JSON.stringify(wrapped);
    expect(json).not.toContain(hex(share.value));
    expect(json).not.toContain(hex(passphrase));
    expect(json).not.toContain("correct horse");
    expect(parseWrappedShare(wrapped)).toEqual(wrapped);
  });

  test("the right passphrase unwraps the share", async () => {
    const out = await unwrapShare(wrapped, "alice", { kind: "passphrase", passphrase: text("correct horse battery staple") });
    expect(out).toEqual(share);
  });

  test("the format is as documented: scrypt(N=2^17, r=8, p=1) key, AES-256-GCM, AAD of index, operator, credential, parameters", () => {
    if (wrapped.kind !== "passphrase") throw new Error("kind");
    const salt = Buffer.from(wrapped.kdf.salt, "hex");
    const key = scryptSync(passphrase, salt, 32, { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 });
    const value = gcmOpen(key, wrapped.nonce, wrapped.ciphertext, aad(["passphrase", 2, "alice", "alice-pass", "scrypt", 17, 8, 1, salt]));
    expect(value).toEqual(share.value);
  });

  test("a wrong passphrase is 'wrong credential'", async () => {
    expect(await refusal(() => unwrapShare(wrapped, "alice", { kind: "passphrase", passphrase: text("correct horse battery stapler") }))).toBe("wrong credential");
  });

  test("the record moved to another credential id does not open, even with the right passphrase", async () => {
    const moved = { ...wrapped, credentialId: "alice-pass-2" };
    expect(await refusal(() => unwrapShare(moved, "alice", { kind: "passphrase", passphrase }))).toBe("wrong credential");
  });

  test("another operator, the wrong kind: 'wrong credential' without deriving anything", async () => {
    expect(await refusal(() => unwrapShare(wrapped, "bob", { kind: "passphrase", passphrase }))).toBe("wrong credential");
    expect(await refusal(() => unwrapShare(wrapped, "alice", { kind: "hmac-sha1", response: new Uint8Array(20) }))).toBe("wrong credential");
  });

  test("registration refuses short passphrases and non-bytes", async () => {
    expect(await refusal(() => wrapShareForOperator(share, "alice", { kind: "passphrase", credentialId: "p", passphrase: text("short") }))).toMatch(
      /passphrase must be 12 to 1024 bytes/,
    );
    const asString = { kind: "passphrase", credentialId: "p", passphrase: "correct horse battery staple" } as unknown as Parameters<typeof wrapShareForOperator>[2];
    expect(await refusal(() => wrapShareForOperator(share, "alice", asString))).toMatch(/passphrase must be/);
    expect(await refusal(() => wrapShareForOperator(share, "has space", { kind: "passphrase", credentialId: "p", passphrase }))).toMatch(/operator id/);
    expect(await refusal(() => wrapShareForOperator(share, "alice", { kind: "passphrase", credentialId: "", passphrase }))).toMatch(/credential id/);
  });
});

describe("HMAC-SHA1 challenge-response credential", () => {
  const challenge = newHmacChallenge();
  let wrapped: WrappedShare;
  beforeAll(async () => {
    wrapped = roundTripJson(
      await wrapShareForOperator(share, "alice", { kind: "hmac-sha1", credentialId: "alice-yubikey", challenge, response: token(tokenSecret, challenge) }),
    );
  });
  const submit = (response: Uint8Array): CredentialSubmission => ({ kind: "hmac-sha1", response });

  test("record keeps the challenge in the clear, nothing secret", () => {
    expect(challenge.length).toBe(32);
    expect(wrapped).toMatchObject({ version: 1, kind: "hmac-sha1", credentialId: "alice-yubikey", operatorId: "alice", shareIndex: 2 });
    expect(wrapped.kdf).toEqual({ name: "hkdf-sha256", challenge: hex(challenge) });
    const json = JSON.stringify(wrapped);
    expect(json).not.toContain(hex(share.value));
    expect(json).not.toContain(hex(token(tokenSecret, challenge)));
    expect(json).not.toContain(hex(tokenSecret));
  });

  test("the token's response to the stored challenge unwraps", async () => {
    if (wrapped.kind !== "hmac-sha1") throw new Error("kind");
    const stored = Buffer.from(wrapped.kdf.challenge, "hex");
    expect(await unwrapShare(wrapped, "alice", submit(token(tokenSecret, stored)))).toEqual(share);
  });

  test("the format is as documented: HKDF-SHA256(response, salt = challenge, info label), AES-256-GCM", () => {
    const key = new Uint8Array(hkdfSync("sha256", token(tokenSecret, challenge), challenge, "strongroom-operator-share-hmac-sha1-v1", 32));
    if (wrapped.kind !== "hmac-sha1") throw new Error("kind");
    const value = gcmOpen(key, wrapped.nonce, wrapped.ciphertext, aad(["hmac-sha1", 2, "alice", "alice-yubikey", "hkdf-sha256", challenge]));
    expect(value).toEqual(share.value);
  });

  test("another token, or a response to another challenge, is 'wrong credential'", async () => {
    expect(await refusal(() => unwrapShare(wrapped, "alice", submit(token(otherTokenSecret, challenge))))).toBe("wrong credential");
    expect(await refusal(() => unwrapShare(wrapped, "alice", submit(token(tokenSecret, newHmacChallenge()))))).toBe("wrong credential");
    expect(await refusal(() => unwrapShare(wrapped, "bob", submit(token(tokenSecret, challenge))))).toBe("wrong credential");
  });

  test("every public field is bound: index, operator, credential id, challenge, nonce, ciphertext", async () => {
    if (wrapped.kind !== "hmac-sha1") throw new Error("kind");
    const right = token(tokenSecret, challenge);
    const flip = (h: string) => (h[0] === "0" ? "1" : "0") + h.slice(1);
    const edits: WrappedShare[] = [
      { ...wrapped, shareIndex: 3 },
      { ...wrapped, operatorId: "bob" },
      { ...wrapped, credentialId: "alice-other" },
      { ...wrapped, kdf: { ...wrapped.kdf, challenge: flip(wrapped.kdf.challenge) } },
      { ...wrapped, nonce: flip(wrapped.nonce) },
      { ...wrapped, ciphertext: flip(wrapped.ciphertext) },
    ];
    for (const edited of edits) {
      const as = edited.operatorId;
      expect(await refusal(() => unwrapShare(edited, as, submit(right)))).toBe("wrong credential");
    }
    // The untouched record still opens: the refusals came from the edits.
    expect(await unwrapShare(wrapped, "alice", submit(right))).toEqual(share);
  });

  test("rotation: a new challenge retires the old response", async () => {
    const fresh = newHmacChallenge();
    const rotated = await wrapShareForOperator(share, "alice", { kind: "hmac-sha1", credentialId: "alice-yubikey", challenge: fresh, response: token(tokenSecret, fresh) });
    expect(await refusal(() => unwrapShare(rotated, "alice", submit(token(tokenSecret, challenge))))).toBe("wrong credential");
    expect(await unwrapShare(rotated, "alice", submit(token(tokenSecret, fresh)))).toEqual(share);
  });

  test("malformed submissions and registrations say what is malformed", async () => {
    expect(await refusal(() => unwrapShare(wrapped, "alice", submit(new Uint8Array(19))))).toMatch(/response must be 20 bytes/);
    expect(await refusal(() => unwrapShare(wrapped, "alice", { kind: "totp" } as unknown as CredentialSubmission))).toMatch(/malformed: unknown kind/);
    expect(
      await refusal(() => wrapShareForOperator(share, "alice", { kind: "hmac-sha1", credentialId: "y", challenge: new Uint8Array(16), response: new Uint8Array(20) })),
    ).toMatch(/challenge must be 32 bytes/);
  });
});

describe("several credentials per operator, several operators", () => {
  test("a passphrase and a token wrap the same share separately; each opens alone", async () => {
    const challenge = newHmacChallenge();
    const bobShare = shares[2]!;
    const bobPass = text("bob's long passphrase here");
    const viaPass = await wrapShareForOperator(bobShare, "bob", { kind: "passphrase", credentialId: "bob-pass", passphrase: bobPass });
    const viaToken = await wrapShareForOperator(bobShare, "bob", { kind: "hmac-sha1", credentialId: "bob-key", challenge, response: token(otherTokenSecret, challenge) });
    expect(viaPass.ciphertext).not.toBe(viaToken.ciphertext);
    expect(await unwrapShare(viaToken, "bob", { kind: "hmac-sha1", response: token(otherTokenSecret, challenge) })).toEqual(bobShare);
    const fromPass = await unwrapShare(viaPass, "bob", { kind: "passphrase", passphrase: bobPass });
    expect(fromPass).toEqual(bobShare);
    // Alice's share (unwrapped elsewhere) and Bob's rebuild the master key.
    expect(combineShares([share, fromPass], 2)).toEqual(master);
  });
});

describe("stored records are checked before any derivation", () => {
  const base = {
    version: 1,
    kind: "hmac-sha1",
    credentialId: "c",
    operatorId: "alice",
    shareIndex: 1,
    kdf: { name: "hkdf-sha256", challenge: "00".repeat(32) },
    nonce: "00".repeat(12),
    ciphertext: "00".repeat(48),
  };
  const cases: [string, unknown, RegExp][] = [
    ["not an object", "x", /not an object/],
    ["version", { ...base, version: 2 }, /unknown version/],
    ["kind", { ...base, kind: "totp" }, /unknown kind/],
    ["index", { ...base, shareIndex: 0 }, /share index/],
    ["nonce", { ...base, nonce: "00" }, /nonce must be 12 bytes/],
    ["uppercase hex", { ...base, ciphertext: "AA".repeat(48) }, /ciphertext/],
    ["short ciphertext", { ...base, ciphertext: "00".repeat(16) }, /ciphertext length/],
    ["challenge", { ...base, kdf: { name: "hkdf-sha256", challenge: "00" } }, /challenge must be 32 bytes/],
    ["scrypt cost too high", { ...base, kind: "passphrase", kdf: { name: "scrypt", logN: 22, r: 8, p: 1, salt: "00".repeat(16) } }, /scrypt parameters/],
    ["scrypt memory too high", { ...base, kind: "passphrase", kdf: { name: "scrypt", logN: 18, r: 16, p: 1, salt: "00".repeat(16) } }, /scrypt parameters/],
    ["operator id", { ...base, operatorId: "a b" }, /operator id/],
  ];
  for (const [name, record, message] of cases) {
    test(name, async () => {
      expect(await refusal(() => unwrapShare(record as WrappedShare, "alice", { kind: "hmac-sha1", response: new Uint8Array(20) }))).toMatch(message);
    });
  }
});
