// The attested KMS client against the KMS simulator, with a simulated NSM
// making real attestation documents: a key policy that names the genuine
// image's PCR0 releases secrets to it alone, sealed to a one-call RSA key;
// other images, debug enclaves, expired documents, documents under another
// root, and answers that carry Plaintext are all refused.
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { HttpHandlerOptions } from "@smithy/types";
import { NsmClient, SimulatedNsm, type ApplicationFile } from "@strongroom/nitro";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { failure, loopbackAgent, startAttestedKmsFixture, type AttestedKmsFixture } from "../../sim/test/support/aws.ts";
import { createAttestedKms, createPlainKms, createRecipientKey, KmsClientError, KmsEnvelopeError, openCiphertextForRecipient, type AttestedKms } from "../src/index.ts";

const REGION = "eu-west-1";
const ACCOUNT = "000000000000";
const NAME = `kms.${REGION}.sim.strongroom.internal`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/strongroom-parent`;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

const app = (content: string): ApplicationFile[] => [{ path: "main.js", content: Buffer.from(content) }];
const GENUINE = app("the genuine signer\n");
const OTHER = app("some other program\n");

/** Records every response body the SDK receives, byte for byte, before it parses them. */
class RecordingHandler extends NodeHttpHandler {
  readonly bodies: string[] = [];

  override async handle(...args: Parameters<NodeHttpHandler["handle"]>): ReturnType<NodeHttpHandler["handle"]> {
    const result = await super.handle(...(args as [Parameters<NodeHttpHandler["handle"]>[0], HttpHandlerOptions?]));
    const chunks: Buffer[] = [];
    for await (const chunk of result.response.body as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
    const body = Buffer.concat(chunks);
    this.bodies.push(body.toString("utf8"));
    result.response.body = Readable.from([body]);
    return result;
  }
}

let kmsSim: AttestedKmsFixture;
let root: string;
let genuine: SimulatedNsm;
let pcr0Hex: string;
/** Decrypt and GenerateDataKey for the role, only with the genuine image's PCR0. */
let attestedKey: string;
/** Decrypt and GenerateDataKey for the role, no conditions. */
let openKey: string;

function kmsClient(handler?: NodeHttpHandler): KMSClient {
  return kmsSim.kmsClient(handler);
}

const attestWith = (device: SimulatedNsm) => (publicKey: Uint8Array) => new NsmClient(device).attestation({ publicKey });

function attestedKms(device: SimulatedNsm, client = kmsClient()): AttestedKms {
  return createAttestedKms({ client, attest: attestWith(device) });
}

async function encrypt(keyId: string, plaintext: string, context?: Record<string, string>): Promise<Uint8Array> {
  return (await kmsClient().send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext), EncryptionContext: context }))).CiphertextBlob!;
}

beforeAll(async () => {
  kmsSim = await startAttestedKmsFixture({
    tmpPrefix: "strongroom-attested-kms-",
    region: REGION, accountId: ACCOUNT, name: NAME, role: ROLE, applicationFiles: GENUINE,
    // IAM: keys may be made and listed; GenerateRandom only for the genuine image.
    identityPolicy: (pcr0) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Action: ["kms:CreateKey", "kms:ListKeys"], Resource: "*" },
          { Effect: "Allow", Action: "kms:GenerateRandom", Resource: "*", Condition: { StringEqualsIgnoreCase: { "kms:RecipientAttestation:ImageSha384": pcr0 } } },
        ],
      }),
  });
  ({ root, genuine, pcr0Hex } = kmsSim);
  const admin = { Sid: "admin", Effect: "Allow", Principal: { AWS: ROLE }, Action: ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:Encrypt"], Resource: "*" };
  const use = (condition?: object) => ({ Sid: "enclave", Effect: "Allow", Principal: { AWS: ROLE }, Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: "*", ...(condition === undefined ? {} : { Condition: condition }) });
  const createKey = async (statements: object[]) => (await kmsClient().send(new CreateKeyCommand({ Policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) }))).KeyMetadata!.KeyId!;
  // Upper-case hex: the comparison ignores case.
  attestedKey = await createKey([admin, use({ StringEqualsIgnoreCase: { "kms:RecipientAttestation:PCR0": pcr0Hex.toUpperCase() } })]);
  openKey = await createKey([admin, use()]);
});
afterAll(async () => {
  await kmsSim?.close();
});

describe("createAttestedKms against the KMS simulator", () => {
  test("the genuine image decrypts, generates data keys and random bytes, and gets the right plaintext", async () => {
    const kms = attestedKms(genuine);
    const context = { vault: "strongroom", share: "1" };
    const blob = await encrypt(attestedKey, "share number one", context);
    expect(Buffer.from(await kms.decrypt(blob, context)).toString()).toBe("share number one");
    expect(Buffer.from(await kms.decrypt(blob, context, attestedKey)).toString()).toBe("share number one");

    const { plaintext, ciphertext } = await kms.generateDataKey(attestedKey, context);
    expect(plaintext).toHaveLength(32);
    expect(Buffer.from(await kms.decrypt(ciphertext, context)).equals(Buffer.from(plaintext))).toBe(true);
    // The context is bound in: another one does not open it.
    expect((await failure(kms.decrypt(ciphertext, { vault: "strongroom", share: "2" }))).name).toBe("InvalidCiphertextException");

    const random = await kms.generateRandom(48);
    expect(random).toHaveLength(48);
    expect(Buffer.from(random).equals(Buffer.from(await kms.generateRandom(48)))).toBe(false);
  });

  test("without a Recipient the PCR0 policy refuses: the plain client gets AccessDeniedException", async () => {
    const plain = createPlainKms({ client: kmsClient() });
    const blob = await encrypt(attestedKey, "secret");
    expect((await failure(plain.decrypt(blob))).name).toBe("AccessDeniedException");
    expect((await failure(plain.generateDataKey(attestedKey))).name).toBe("AccessDeniedException");
    expect((await failure(plain.generateRandom(16))).name).toBe("AccessDeniedException");
  });

  test("another image (other PCR0) is refused with AccessDeniedException", async () => {
    const other = await SimulatedNsm.create({ simDir: join(root, "nsm"), applicationFiles: OTHER });
    expect(Buffer.from(other.measurements.pcr0).toString("hex")).not.toBe(pcr0Hex);
    const kms = attestedKms(other);
    const blob = await encrypt(attestedKey, "secret");
    for (const call of [kms.decrypt(blob), kms.generateDataKey(attestedKey), kms.generateRandom(16)]) {
      const error = await failure(call);
      expect(error.name).toBe("AccessDeniedException");
      expect(error.message).not.toContain("secret");
    }
  });

  test("a debug-mode enclave of the genuine image (PCR0 all zero) is refused with AccessDeniedException", async () => {
    const debug = await SimulatedNsm.create({ simDir: join(root, "nsm"), applicationFiles: GENUINE, debug: true });
    const kms = attestedKms(debug);
    const blob = await encrypt(attestedKey, "secret");
    expect((await failure(kms.decrypt(blob))).name).toBe("AccessDeniedException");
    expect((await failure(kms.generateDataKey(attestedKey))).name).toBe("AccessDeniedException");
    expect((await failure(kms.generateRandom(16))).name).toBe("AccessDeniedException");
  });

  test("an expired document is refused (ValidationException), even for a key without conditions", async () => {
    // The NSM's clock is two days behind: its instance and signing certificates expired before now.
    const stale = await SimulatedNsm.create({ simDir: join(root, "nsm"), applicationFiles: GENUINE, now: () => new Date(Date.now() - 2 * DAY) });
    const kms = attestedKms(stale);
    for (const call of [kms.decrypt(await encrypt(openKey, "secret")), kms.generateDataKey(openKey), kms.generateRandom(16)]) {
      const error = await failure(call);
      expect(error.name).toBe("ValidationException");
      expect(error.message).toMatch(/attestation document.*expired/);
    }
  });

  test("a document signed under another root is refused (ValidationException)", async () => {
    const impostor = await SimulatedNsm.create({ simDir: join(root, "other-nsm"), applicationFiles: GENUINE });
    // Same image, same PCR0: only the root differs.
    expect(Buffer.from(impostor.measurements.pcr0).toString("hex")).toBe(pcr0Hex);
    const kms = attestedKms(impostor);
    for (const call of [kms.decrypt(await encrypt(attestedKey, "secret")), kms.generateDataKey(attestedKey), kms.generateRandom(16)]) {
      expect((await failure(call)).name).toBe("ValidationException");
    }
  });

  test("a Decrypt with a Recipient never answers Plaintext, and its CiphertextForRecipient opens only with the recipient key", async () => {
    const handler = new RecordingHandler({ httpsAgent: loopbackAgent(kmsSim.ca, NAME) });
    const client = kmsClient(handler);
    const blob = await encrypt(attestedKey, "only for the enclave");
    const recipient = createRecipientKey();
    const document = await new NsmClient(genuine).attestation({ publicKey: recipient.publicKeySpki });
    const output = await client.send(new DecryptCommand({ CiphertextBlob: blob, Recipient: { KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256", AttestationDocument: document } }));
    expect(output.Plaintext).toBeUndefined();
    const raw = handler.bodies.at(-1)!;
    expect(Object.keys(JSON.parse(raw)).sort()).toEqual(["CiphertextForRecipient", "EncryptionAlgorithm", "KeyId"]);
    expect(raw).not.toContain(Buffer.from("only for the enclave").toString("base64"));
    expect(Buffer.from(openCiphertextForRecipient(output.CiphertextForRecipient!, recipient.privateKey)).toString()).toBe("only for the enclave");
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    expect(() => openCiphertextForRecipient(output.CiphertextForRecipient!, stranger)).toThrow(KmsEnvelopeError);
    recipient.destroy();
  });

  test("an answer with Plaintext to a request that carried a Recipient is refused", async () => {
    // A parent in between drops the Recipient before the request is signed: KMS then answers Plaintext.
    const client = kmsClient();
    type Args = { request: { body?: unknown; headers: Record<string, string> } };
    client.middlewareStack.add(
      ((next: (args: Args) => Promise<unknown>) => async (args: Args) => {
        const sent = args.request.body;
        const body = JSON.parse(typeof sent === "string" ? sent : new TextDecoder().decode(sent as Uint8Array)) as Record<string, unknown>;
        delete body["Recipient"];
        args.request.body = JSON.stringify(body);
        args.request.headers["content-length"] = String(Buffer.byteLength(args.request.body as string));
        return next(args);
      }) as never,
      // A build-step middleware: it runs before the signer, as a tampering parent's change would have to.
      { step: "build" } as never,
    );
    const kms = attestedKms(genuine, client);
    for (const call of [kms.decrypt(await encrypt(openKey, "secret")), kms.generateDataKey(openKey)]) {
      const error = await failure(call);
      expect(error).toBeInstanceOf(KmsClientError);
      expect(error.message).toMatch(/Plaintext/);
    }
    // The same requests through an honest path succeed.
    expect(Buffer.from(await attestedKms(genuine).decrypt(await encrypt(openKey, "secret"))).toString()).toBe("secret");
  });

  test("a key policy's account-root statement delegates to IAM: what the identity policy does not allow stays refused", async () => {
    // The default key policy (root: kms:*); this simulator's identity policy allows neither Encrypt nor Decrypt.
    const client = kmsClient();
    const keyId = (await client.send(new CreateKeyCommand({ BypassPolicyLockoutSafetyCheck: true }))).KeyMetadata!.KeyId!;
    expect((await failure(client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") })))).name).toBe("AccessDeniedException");
    expect((await failure(attestedKms(genuine).generateDataKey(keyId))).name).toBe("AccessDeniedException");
  });

  test("createPlainKms (standard mode) decrypts, generates data keys and random bytes", async () => {
    const plain = createPlainKms({ client: kmsClient() });
    expect(Buffer.from(await plain.decrypt(await encrypt(openKey, "plain", { a: "b" }), { a: "b" }, openKey)).toString()).toBe("plain");
    const { plaintext, ciphertext } = await plain.generateDataKey(openKey);
    expect(plaintext).toHaveLength(32);
    expect(Buffer.from(await plain.decrypt(ciphertext)).equals(Buffer.from(plaintext))).toBe(true);
    await expect(plain.generateRandom(0)).rejects.toThrow(RangeError);
  });
});
