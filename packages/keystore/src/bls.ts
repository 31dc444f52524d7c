import { SecretKey } from "@chainsafe/blst";
import { KeystoreError } from "./errors.ts";

/**
 * The compressed (48-byte) public key of a serialised BLS secret key, which
 * also checks that the secret is a valid key: 32 bytes, non-zero, below the
 * curve order. Never calls `toBytes()`/`toHex()` on the blst SecretKey, so no
 * further copy of the secret is made on the JS heap. `what` names the secret
 * in the error message.
 */
export function blsPublicKey(secretKey: Uint8Array, what: string): Uint8Array {
  let sk: SecretKey;
  try {
    sk = SecretKey.fromBytes(secretKey);
  } catch {
    throw new KeystoreError(`${what} is not a valid BLS secret key`);
  }
  return sk.toPublicKey().toBytes();
}
