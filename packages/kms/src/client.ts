// The enclave's KMS client. In sim and nitro mode every call that yields a
// secret (Decrypt, GenerateDataKey, GenerateRandom) carries a Recipient: a
// fresh RSA-2048 key made for that call alone, and an NSM attestation document
// binding its public half. KMS answers with CiphertextForRecipient, opened here
// with that key; the key is dropped straight after. An answer that carries
// Plaintext anyway is refused: a KMS (or a parent relaying for it) that ignored
// the Recipient must not make the enclave accept plaintext that crossed the
// parent. In standard mode (no enclave, a trusted host) the plain client asks
// for Plaintext directly.
import { DecryptCommand, GenerateDataKeyCommand, GenerateRandomCommand, type KMSClient } from "@aws-sdk/client-kms";
import { openCiphertextForRecipient } from "./cms.ts";
import { createRecipientKey } from "./recipient.ts";

/** The secrets the signer asks KMS for; every returned Uint8Array is the caller's to zero. */
export interface AttestedKms {
  /** The plaintext of a KMS ciphertext; `keyId` (optional) must be the key the ciphertext names. */
  decrypt(ciphertext: Uint8Array, encryptionContext?: Record<string, string>, keyId?: string): Promise<Uint8Array>;
  /** A new AES-256 data key: its plaintext, and its ciphertext under `keyId` (with the context bound in). */
  generateDataKey(keyId: string, encryptionContext?: Record<string, string>): Promise<{ plaintext: Uint8Array; ciphertext: Uint8Array }>;
  /** `bytes` (1..1024) random bytes from KMS. */
  generateRandom(bytes: number): Promise<Uint8Array>;
}

export interface AttestedKmsOptions {
  /** Configured by the caller: region, endpoint, credentials, request handler (in the enclave, TLS over its egress). */
  readonly client: KMSClient;
  /** An NSM attestation document whose public_key is this DER SubjectPublicKeyInfo. */
  readonly attest: (publicKeySpki: Uint8Array) => Promise<Uint8Array>;
}

/** A KMS answer the client will not use; the message names the operation and never holds secrets. */
export class KmsClientError extends Error {
  override readonly name = "KmsClientError";
}

const DATA_KEY_BYTES = 32;
const MAX_RANDOM_BYTES = 1024;

function checkRandomCount(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_RANDOM_BYTES) throw new RangeError(`generateRandom takes 1 to ${MAX_RANDOM_BYTES} bytes, not ${bytes}`);
}

/** A copy the caller owns (the SDK's arrays may share a buffer with other decoded fields). */
function own(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes);
}

function expectLength(secret: Uint8Array, length: number, what: string): Uint8Array {
  if (secret.length !== length) {
    secret.fill(0);
    throw new KmsClientError(`${what}: KMS returned ${secret.length} bytes, not ${length}`);
  }
  return secret;
}

/** GenerateDataKey's answer: a plaintext of DATA_KEY_BYTES and a non-empty ciphertext, or the plaintext is zeroed and the answer refused. */
function dataKeyOf(plaintext: Uint8Array, ciphertextBlob: Uint8Array | undefined): { plaintext: Uint8Array; ciphertext: Uint8Array } {
  expectLength(plaintext, DATA_KEY_BYTES, "GenerateDataKey");
  if (ciphertextBlob === undefined || ciphertextBlob.length === 0) {
    plaintext.fill(0);
    throw new KmsClientError("GenerateDataKey: KMS answered without CiphertextBlob");
  }
  return { plaintext, ciphertext: own(ciphertextBlob) };
}

/**
 * The attested client. Each call: a fresh recipient key; `attest` for a
 * document binding its SPKI; the request with Recipient; then the answer is
 * refused if it carries a non-empty Plaintext, or lacks CiphertextForRecipient,
 * and otherwise opened with the key, which is dropped at once.
 */
export function createAttestedKms(options: AttestedKmsOptions): AttestedKms {
  const { client, attest } = options;

  const withRecipient = async <T extends { Plaintext?: Uint8Array | undefined; CiphertextForRecipient?: Uint8Array | undefined }>(
    operation: string,
    call: (recipient: { KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256"; AttestationDocument: Uint8Array }) => Promise<T>,
  ): Promise<{ output: T; plaintext: Uint8Array }> => {
    const key = createRecipientKey();
    try {
      const document = await attest(key.publicKeySpki);
      const output = await call({ KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256", AttestationDocument: document });
      if (output.Plaintext !== undefined && output.Plaintext.length > 0) {
        output.Plaintext.fill(0);
        throw new KmsClientError(`${operation}: KMS answered a request with a Recipient with Plaintext; refusing plaintext that did not come sealed to the enclave's key`);
      }
      const sealed = output.CiphertextForRecipient;
      if (sealed === undefined || sealed.length === 0) throw new KmsClientError(`${operation}: KMS answered without CiphertextForRecipient`);
      return { output, plaintext: openCiphertextForRecipient(sealed, key.privateKey) };
    } finally {
      key.destroy();
    }
  };

  return {
    async decrypt(ciphertext, encryptionContext, keyId) {
      const { plaintext } = await withRecipient("Decrypt", (Recipient) =>
        client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: encryptionContext, KeyId: keyId, Recipient })),
      );
      return plaintext;
    },
    async generateDataKey(keyId, encryptionContext) {
      const { output, plaintext } = await withRecipient("GenerateDataKey", (Recipient) =>
        client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: encryptionContext, Recipient })),
      );
      return dataKeyOf(plaintext, output.CiphertextBlob);
    },
    async generateRandom(bytes) {
      checkRandomCount(bytes);
      const { plaintext } = await withRecipient("GenerateRandom", (Recipient) => client.send(new GenerateRandomCommand({ NumberOfBytes: bytes, Recipient })));
      return expectLength(plaintext, bytes, "GenerateRandom");
    },
  };
}

/**
 * The plain client, for standard mode only (no enclave: the host is trusted,
 * and KMS's Plaintext crosses nothing but the TLS connection it asked over).
 */
export function createPlainKms(options: { readonly client: KMSClient }): AttestedKms {
  const { client } = options;
  const plaintextOf = (operation: string, plaintext: Uint8Array | undefined): Uint8Array => {
    if (plaintext === undefined) throw new KmsClientError(`${operation}: KMS answered without Plaintext`);
    const copy = own(plaintext);
    plaintext.fill(0);
    return copy;
  };
  return {
    async decrypt(ciphertext, encryptionContext, keyId) {
      const output = await client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: encryptionContext, KeyId: keyId }));
      return plaintextOf("Decrypt", output.Plaintext);
    },
    async generateDataKey(keyId, encryptionContext) {
      const output = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: encryptionContext }));
      return dataKeyOf(plaintextOf("GenerateDataKey", output.Plaintext), output.CiphertextBlob);
    },
    async generateRandom(bytes) {
      checkRandomCount(bytes);
      const output = await client.send(new GenerateRandomCommand({ NumberOfBytes: bytes }));
      return expectLength(plaintextOf("GenerateRandom", output.Plaintext), bytes, "GenerateRandom");
    },
  };
}
