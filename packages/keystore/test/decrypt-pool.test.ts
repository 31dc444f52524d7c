import { afterAll, describe, expect, test } from "vitest";
import { encryptKeystore, interopSecretKey, KeystoreDecryptPool, KeystoreError, parseKeystore } from "../src/index.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const SCRYPT = { function: "scrypt", n: 1024, r: 8, p: 1 } as const;

describe("KeystoreDecryptPool", () => {
  const pool = new KeystoreDecryptPool(2);
  afterAll(() => pool.close());

  test("decrypts many keystores in parallel; each secret arrives in its own buffer", async () => {
    const keystores = Array.from({ length: 6 }, (_, i) => parseKeystore(JSON.stringify(encryptKeystore(interopSecretKey(i), utf8(`pw${i}`), { kdf: SCRYPT }))));
    const secrets = await Promise.all(keystores.map((ks, i) => pool.decrypt(ks, utf8(`pw${i}`))));
    secrets.forEach((sk, i) => {
      expect(sk).toEqual(interopSecretKey(i));
      expect(sk.buffer.byteLength).toBe(32);
    });
  });

  test("copies the password: the caller's array is untouched (and still the caller's to zero)", async () => {
    const keystore = parseKeystore(JSON.stringify(encryptKeystore(interopSecretKey(0), utf8("pw"), { kdf: SCRYPT })));
    const password = utf8("pw");
    await pool.decrypt(keystore, password);
    expect(password).toEqual(utf8("pw"));
  });

  test("refusals come back as KeystoreError with the worker's message", async () => {
    const keystore = parseKeystore(JSON.stringify(encryptKeystore(interopSecretKey(0), utf8("pw"), { kdf: SCRYPT })));
    await expect(pool.decrypt(keystore, utf8("nope"))).rejects.toThrow(new KeystoreError("checksum mismatch: wrong password"));
    // A hand-built Keystore that skipped parseKeystore is still bounds-checked.
    await expect(pool.decrypt({ ...keystore, kdf: { ...SCRYPT, dklen: 32, n: 2 ** 24, salt: new Uint8Array(32) } }, utf8("pw"))).rejects.toThrow(
      KeystoreError,
    );
  });

  test("encrypts on a worker too", async () => {
    const json = await pool.encrypt(interopSecretKey(9), utf8("pw"), { kdf: SCRYPT });
    expect(await pool.decrypt(parseKeystore(JSON.stringify(json)), utf8("pw"))).toEqual(interopSecretKey(9));
  });
});

test("close() refuses queued and later jobs", async () => {
  const pool = new KeystoreDecryptPool(1);
  const keystore = parseKeystore(JSON.stringify(encryptKeystore(interopSecretKey(0), utf8("pw"), { kdf: SCRYPT })));
  const jobs = [pool.decrypt(keystore, utf8("pw")), pool.decrypt(keystore, utf8("pw"))].map((p) => p.catch((e: Error) => e.message));
  await pool.close();
  expect(await jobs[1]).toBe("keystore pool closed");
  await expect(pool.decrypt(keystore, utf8("pw"))).rejects.toThrow("keystore pool closed");
});

test("threads must be a positive integer", () => {
  expect(() => new KeystoreDecryptPool(0)).toThrow(RangeError);
});
