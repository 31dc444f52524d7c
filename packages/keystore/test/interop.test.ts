import { SecretKey } from "@chainsafe/blst";
import { expect, test } from "vitest";
import { interopSecretKey } from "../src/index.ts";

const publicKeyHex = (sk: Uint8Array) => `0x${Buffer.from(SecretKey.fromBytes(sk).toPublicKey().toBytes()).toString("hex")}`;

test("interop keys 0, 1, 2 have their well-known public keys", () => {
  // Key 0 from the brief; keys 1 and 2 as they appear in the EIP-3076 vectors.
  expect(publicKeyHex(interopSecretKey(0))).toBe(
    "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c",
  );
  expect(publicKeyHex(interopSecretKey(1))).toBe(
    "0xb89bebc699769726a318c8e9971bd3171297c61aea4a6578a7a4f94b547dcba5bac16a89108b6b6a1fe3695d1a874a0b",
  );
  expect(publicKeyHex(interopSecretKey(2))).toBe(
    "0xa3a32b0f8b4ddb83f1a0a853d81dd725dfe577d4f4c3db8ece52ce2b026eca84815c1a7e8e92a4de3d755733bf7e4a9b",
  );
});

test("interop key indices must be non-negative integers", () => {
  expect(() => interopSecretKey(-1)).toThrow(RangeError);
  expect(() => interopSecretKey(1.5)).toThrow(RangeError);
});
