import { createCipheriv } from "node:crypto";
import { describe, expect, test } from "vitest";
import { openValidatorKey, sealValidatorKey, SEALED_VALIDATOR_KEY_BYTES, VaultError } from "../src/index.ts";

const bytes = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 29 + seed) & 0xff);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const master = bytes(32, 1);
const publicKey = bytes(48, 2);
const secretKey = bytes(32, 3);

/** Assert a VaultError whose message shows none of the secrets involved. */
function expectRefusal(run: () => unknown, message?: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(VaultError);
  const text = (caught as Error).message;
  if (message) expect(text).toMatch(message);
  for (const secret of [master, secretKey]) {
    expect(text).not.toContain(hex(secret).slice(0, 8));
    expect(text).not.toContain(Buffer.from(secret).toString("base64").slice(0, 8));
  }
}

describe("validator key envelope", () => {
  test("round trip; layout version ‖ nonce ‖ ciphertext ‖ tag", () => {
    const blob = sealValidatorKey(master, publicKey, secretKey);
    expect(blob.length).toBe(SEALED_VALIDATOR_KEY_BYTES);
    expect(blob.length).toBe(1 + 12 + 32 + 16);
    expect(blob[0]).toBe(1);
    expect(hex(blob)).not.toContain(hex(secretKey));
    expect(openValidatorKey(master, publicKey, blob)).toEqual(secretKey);
  });

  test("fresh nonce per seal", () => {
    const a = sealValidatorKey(master, publicKey, secretKey);
    const b = sealValidatorKey(master, publicKey, secretKey);
    expect(hex(a.subarray(1, 13))).not.toBe(hex(b.subarray(1, 13)));
    expect(openValidatorKey(master, publicKey, b)).toEqual(secretKey);
  });

  test("opens a blob built independently from the documented format", () => {
    // AES-256-GCM, AAD = "strongroom-validator-key-v1" ‖ public key.
    const nonce = bytes(12, 9);
    const cipher = createCipheriv("aes-256-gcm", master, nonce);
    cipher.setAAD(Buffer.concat([Buffer.from("strongroom-validator-key-v1"), publicKey]));
    const body = Buffer.concat([cipher.update(secretKey), cipher.final(), cipher.getAuthTag()]);
    const blob = new Uint8Array([1, ...nonce, ...body]);
    expect(openValidatorKey(master, publicKey, blob)).toEqual(secretKey);
  });

  test("every single-bit flip is refused", () => {
    const blob = sealValidatorKey(master, publicKey, secretKey);
    let refused = 0;
    for (let i = 0; i < blob.length * 8; i++) {
      const flipped = blob.slice();
      flipped[i >> 3]! ^= 1 << (i & 7);
      expectRefusal(() => openValidatorKey(master, publicKey, flipped), i < 8 ? /unknown version/ : /does not open/);
      refused++;
    }
    expect(refused).toBe(61 * 8);
  });

  test("wrong master key, another public key, a bit off in either", () => {
    const blob = sealValidatorKey(master, publicKey, secretKey);
    const otherMaster = master.slice();
    otherMaster[31]! ^= 0x80;
    const otherPublic = publicKey.slice();
    otherPublic[0]! ^= 0x01;
    expectRefusal(() => openValidatorKey(otherMaster, publicKey, blob), /does not open/);
    expectRefusal(() => openValidatorKey(bytes(32, 200), publicKey, blob), /does not open/);
    expectRefusal(() => openValidatorKey(master, otherPublic, blob), /does not open/);
    expectRefusal(() => openValidatorKey(master, bytes(48, 77), blob), /does not open/);
  });

  test("truncated, extended, unknown versions", () => {
    const blob = sealValidatorKey(master, publicKey, secretKey);
    expectRefusal(() => openValidatorKey(master, publicKey, new Uint8Array(0)), /non-empty/);
    for (let length = 1; length < blob.length; length++) {
      expectRefusal(() => openValidatorKey(master, publicKey, blob.subarray(0, length)), /must be 61 bytes/);
    }
    expectRefusal(() => openValidatorKey(master, publicKey, new Uint8Array([...blob, 0])), /must be 61 bytes/);
    for (const version of [0, 2, 255]) {
      const other = blob.slice();
      other[0] = version;
      expectRefusal(() => openValidatorKey(master, publicKey, other), new RegExp(`unknown version ${version}`));
    }
  });

  test("wrong input lengths and types", () => {
    const blob = sealValidatorKey(master, publicKey, secretKey);
    expectRefusal(() => sealValidatorKey(master.subarray(1), publicKey, secretKey), /master key must be 32 bytes/);
    expectRefusal(() => sealValidatorKey(new Uint8Array(16), publicKey, secretKey), /master key/);
    expectRefusal(() => sealValidatorKey(master, publicKey.subarray(1), secretKey), /public key must be 48 bytes/);
    expectRefusal(() => sealValidatorKey(master, new Uint8Array(96), secretKey), /public key/);
    expectRefusal(() => sealValidatorKey(master, publicKey, secretKey.subarray(1)), /secret key must be 32 bytes/);
    expectRefusal(() => sealValidatorKey(master, publicKey, "k" as unknown as Uint8Array), /secret key/);
    expectRefusal(() => openValidatorKey(new Uint8Array(31), publicKey, blob), /master key/);
    expectRefusal(() => openValidatorKey(master, new Uint8Array(47), blob), /public key/);
    expectRefusal(() => openValidatorKey(master, publicKey, hex(blob) as unknown as Uint8Array), /non-empty bytes/);
  });
});
