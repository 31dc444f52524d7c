// The enclave's one-request RSA key for KMS's Recipient parameter: its public
// half goes into the attestation document's public_key, and KMS encrypts the
// CiphertextForRecipient to it.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { KmsEnvelopeError } from "./ber.ts";

export interface RecipientKey {
  /** The RSA-2048 private key; reading it after destroy() throws. */
  readonly privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the public key, for the attestation document's public_key. */
  readonly publicKeySpki: Uint8Array;
  /** Drops this object's reference to the private key. */
  destroy(): void;
}

const RECIPIENT_RSA_BITS = 2048;

/**
 * A fresh RSA-2048 key pair for one KMS request. Create it for the request,
 * open the reply with it, and destroy() it straight after: the key must not
 * outlive the request, so that no later reply (or replay) can be opened with it.
 *
 * A KeyObject's key material lives inside OpenSSL, out of JavaScript's reach:
 * it cannot be zeroed, only released. destroy() drops the reference held here so
 * the garbage collector can free it; callers must not keep their own reference.
 * The key pair is generated synchronously (tens of milliseconds).
 */
export function createRecipientKey(): RecipientKey {
  const pair = generateKeyPairSync("rsa", { modulusLength: RECIPIENT_RSA_BITS, publicExponent: 0x10001 });
  let privateKey: KeyObject | undefined = pair.privateKey;
  const publicKeySpki = new Uint8Array(pair.publicKey.export({ type: "spki", format: "der" }));
  return {
    get privateKey(): KeyObject {
      if (privateKey === undefined) throw new KmsEnvelopeError("the recipient key has been destroyed");
      return privateKey;
    },
    publicKeySpki,
    destroy(): void {
      privateKey = undefined;
    },
  };
}
