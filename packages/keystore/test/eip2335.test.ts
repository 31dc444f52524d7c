import { createCipheriv, createHash, pbkdf2Sync } from "node:crypto";
import { readFileSync } from "node:fs";
import { SecretKey } from "@chainsafe/blst";
import { describe, expect, test } from "vitest";
import { decryptKeystore, encryptKeystore, interopSecretKey, KeystoreError, parseKeystore, type KeystoreJson } from "../src/index.ts";

const VECTORS = new URL("../../../../shared/vectors/eip2335/", import.meta.url);
const VECTOR_PASSWORD = new TextEncoder().encode("𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑");
const VECTOR_SECRET = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const utf8 = (s: string) => new TextEncoder().encode(s);
const pubkeyOf = (sk: Uint8Array) => hex(SecretKey.fromBytes(sk).toPublicKey().toBytes());
const FAST = { function: "pbkdf2", c: 16 } as const;

describe("official EIP-2335 vectors", () => {
  for (const name of ["scryptTestVector.json", "pbkdf2TestVector.json"]) {
    const keystore = parseKeystore(readFileSync(new URL(name, VECTORS), "utf8"));

    test(`${name} decrypts to the EIP's secret`, () => {
      expect(hex(decryptKeystore(keystore, VECTOR_PASSWORD))).toBe(VECTOR_SECRET);
    });

    test(`${name} refuses a wrong password`, () => {
      expect(() => decryptKeystore(keystore, utf8("testpassword"))).toThrow(new KeystoreError("checksum mismatch: wrong password"));
    });
  }

  test("parsed fields", () => {
    const keystore = parseKeystore(readFileSync(new URL("scryptTestVector.json", VECTORS)));
    expect(keystore.kdf).toMatchObject({ function: "scrypt", dklen: 32, n: 262144, r: 8, p: 1 });
    expect(keystore.path).toBe("m/12381/60/3141592653/589793238");
    expect(keystore.uuid).toBe("1d85ae20-35c5-4611-98e8-aa14a633906f");
    expect(hex(keystore.pubkey!)).toBe(pubkeyOf(Buffer.from(VECTOR_SECRET, "hex")));
  });
});

describe("encrypt → decrypt", () => {
  test.each([
    { function: "scrypt", n: 1024, r: 8, p: 1 },
    { function: "pbkdf2", c: 1000 },
  ] as const)("round trip with %o", (kdf) => {
    const secret = interopSecretKey(7);
    const json = encryptKeystore(secret, utf8("pässword\n"), { kdf, path: "m/12381/3600/7/0/0", description: "demo" });
    expect(json).toMatchObject({ version: 4, path: "m/12381/3600/7/0/0", description: "demo", pubkey: pubkeyOf(secret) });
    expect(json.crypto.kdf.function).toBe(kdf.function);
    const keystore = parseKeystore(JSON.stringify(json));
    // Normalisation drops the newline: the same password without it works.
    expect(decryptKeystore(keystore, utf8("pässword"))).toEqual(secret);
  });

  test("the default KDF is scrypt n=2^18, r=8, p=1", { timeout: 20_000 }, () => {
    const json = encryptKeystore(interopSecretKey(1), utf8("x"));
    expect(json.crypto.kdf).toMatchObject({ function: "scrypt", params: { dklen: 32, n: 262144, r: 8, p: 1 } });
  });

  test("refuses an invalid secret key and out-of-bounds KDF parameters", () => {
    expect(() => encryptKeystore(new Uint8Array(32), utf8("x"), { kdf: FAST })).toThrow("the secret key is not a valid BLS secret key");
    expect(() => encryptKeystore(interopSecretKey(0), utf8("x"), { kdf: { function: "scrypt", n: 3, r: 8, p: 1 } })).toThrow(
      "kdf.n: must be a power of two",
    );
  });
});

describe("decryption refusals", () => {
  test("pubkey that does not belong to the secret", () => {
    const json = encryptKeystore(interopSecretKey(0), utf8("pw"), { kdf: FAST });
    json.pubkey = encryptKeystore(interopSecretKey(1), utf8("pw"), { kdf: FAST }).pubkey;
    expect(() => decryptKeystore(parseKeystore(JSON.stringify(json)), utf8("pw"))).toThrow(/^pubkey mismatch/);
  });

  test("no pubkey: nothing to compare, the key still decrypts", () => {
    const json: Partial<KeystoreJson> = encryptKeystore(interopSecretKey(0), utf8("pw"), { kdf: FAST });
    delete json.pubkey;
    expect(decryptKeystore(parseKeystore(JSON.stringify(json)), utf8("pw"))).toEqual(interopSecretKey(0));
  });

  test("a correct checksum over a secret that is not a BLS key (≥ curve order)", () => {
    // Build the keystore by hand, independently of encryptKeystore.
    const salt = Buffer.alloc(32, 1);
    const iv = Buffer.alloc(16, 2);
    const dk = pbkdf2Sync("pw", salt, 16, 32, "sha256");
    const aes = createCipheriv("aes-128-ctr", dk.subarray(0, 16), iv);
    const ciphertext = Buffer.concat([aes.update(Buffer.alloc(32, 0xff)), aes.final()]);
    const checksum = createHash("sha256").update(dk.subarray(16, 32)).update(ciphertext).digest();
    const keystore = parseKeystore(
      JSON.stringify({
        version: 4,
        crypto: {
          kdf: { function: "pbkdf2", params: { dklen: 32, c: 16, prf: "hmac-sha256", salt: salt.toString("hex") }, message: "" },
          checksum: { function: "sha256", params: {}, message: checksum.toString("hex") },
          cipher: { function: "aes-128-ctr", params: { iv: iv.toString("hex") }, message: ciphertext.toString("hex") },
        },
      }),
    );
    expect(() => decryptKeystore(keystore, utf8("pw"))).toThrow(new KeystoreError("the decrypted secret is not a valid BLS secret key"));
  });
});

describe("malformed keystores are refused by parseKeystore, naming what is wrong", () => {
  const base = () => encryptKeystore(interopSecretKey(3), utf8("pw"), { kdf: { function: "scrypt", n: 16, r: 8, p: 1 } });
  type Mutable = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const cases: [string, (k: Mutable) => unknown, string | RegExp][] = [
    ["version 3", (k) => (k.version = 3), "version: unsupported keystore version, expected 4"],
    ["no crypto", (k) => delete k.crypto, "crypto: expected an object"],
    ["unsupported kdf", (k) => (k.crypto.kdf.function = "argon2id"), 'crypto.kdf.function: unsupported kdf "argon2id", expected "scrypt" or "pbkdf2"'],
    ["dklen 64", (k) => (k.crypto.kdf.params.dklen = 64), "crypto.kdf.params.dklen: must be 32"],
    ["scrypt n not a power of two", (k) => (k.crypto.kdf.params.n = 1000), "crypto.kdf.params.n: must be a power of two from 2 to 2^20"],
    ["scrypt n absurd", (k) => (k.crypto.kdf.params.n = 2 ** 30), "crypto.kdf.params.n: must be a power of two from 2 to 2^20"],
    ["scrypt n a string", (k) => (k.crypto.kdf.params.n = "16"), "crypto.kdf.params.n: expected an integer"],
    ["scrypt r 0", (k) => (k.crypto.kdf.params.r = 0), "crypto.kdf.params.r: must be an integer from 1 to 32"],
    ["scrypt p absurd", (k) => (k.crypto.kdf.params.p = 1e6), "crypto.kdf.params.p: must be an integer from 1 to 16"],
    ["scrypt memory > 512 MiB", (k) => Object.assign(k.crypto.kdf.params, { n: 2 ** 20, r: 8 }), /needs more than 512 MiB/],
    ["scrypt work > 2^24", (k) => Object.assign(k.crypto.kdf.params, { n: 2 ** 18, r: 8, p: 16 }), /n·r·p exceeds 2\^24/],
    ["salt not hex", (k) => (k.crypto.kdf.params.salt = "zz"), "crypto.kdf.params.salt: expected a hex string"],
    ["salt odd length", (k) => (k.crypto.kdf.params.salt = "abc"), "crypto.kdf.params.salt: expected a hex string"],
    [
      "pbkdf2 prf",
      (k) => (k.crypto.kdf = { function: "pbkdf2", params: { dklen: 32, c: 16, prf: "hmac-sha512", salt: "00" }, message: "" }),
      'crypto.kdf.params.prf: unsupported prf "hmac-sha512", expected "hmac-sha256"',
    ],
    [
      "pbkdf2 c absurd",
      (k) => (k.crypto.kdf = { function: "pbkdf2", params: { dklen: 32, c: 2 ** 40, prf: "hmac-sha256", salt: "00" }, message: "" }),
      "crypto.kdf.params.c: must be an integer from 1 to 2^24",
    ],
    ["checksum function", (k) => (k.crypto.checksum.function = "keccak256"), 'crypto.checksum.function: unsupported function "keccak256", expected "sha256"'],
    ["checksum length", (k) => (k.crypto.checksum.message = "00"), "crypto.checksum.message: expected 32 bytes of hex, got 1"],
    ["cipher function", (k) => (k.crypto.cipher.function = "aes-256-gcm"), 'crypto.cipher.function: unsupported function "aes-256-gcm", expected "aes-128-ctr"'],
    ["iv length", (k) => (k.crypto.cipher.params.iv = "00".repeat(12)), "crypto.cipher.params.iv: expected 16 bytes of hex, got 12"],
    ["cipher message length", (k) => (k.crypto.cipher.message = "00".repeat(48)), "crypto.cipher.message: expected 32 bytes of hex, got 48"],
    ["pubkey length", (k) => (k.pubkey = "00".repeat(32)), "pubkey: expected 48 bytes of hex, got 32"],
    ["path not a string", (k) => (k.path = 7), "path: expected a string"],
    ["uuid", (k) => (k.uuid = "not-a-uuid"), "uuid: not a UUID"],
    ["unprintable names are not echoed", (k) => (k.crypto.kdf.function = "x\ny"), 'crypto.kdf.function: unsupported kdf (unprintable), expected "scrypt" or "pbkdf2"'],
  ];
  test.each(cases)("%s", (_name, mutate, message) => {
    const json = base() as Mutable;
    mutate(json);
    expect(() => parseKeystore(JSON.stringify(json))).toThrow(message);
    expect(() => parseKeystore(JSON.stringify(json))).toThrow(KeystoreError);
  });

  test("not JSON, not an object, too large", () => {
    expect(() => parseKeystore("{nope")).toThrow(new KeystoreError("keystore is not valid JSON"));
    expect(() => parseKeystore(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(new KeystoreError("keystore is not valid JSON"));
    expect(() => parseKeystore("[]")).toThrow(new KeystoreError("keystore: expected an object"));
    expect(() => parseKeystore(" ".repeat(64 * 1024 + 1))).toThrow(new KeystoreError("keystore is larger than 65536 bytes"));
  });

  test("0x prefixes are accepted, as Web3Signer accepts them", () => {
    const json = base();
    json.pubkey = `0x${json.pubkey}`;
    json.crypto.cipher.message = `0x${json.crypto.cipher.message}`;
    expect(decryptKeystore(parseKeystore(JSON.stringify(json)), utf8("pw"))).toEqual(interopSecretKey(3));
  });
});
