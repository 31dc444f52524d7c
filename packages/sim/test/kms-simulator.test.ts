// The KMS simulator driven by the real @aws-sdk/client-kms over HTTPS,
// verified against the service CA under the endpoint's real name, with
// credentials from the simulator's STS: every operation, the refusals AWS
// answers with, key policies, and state that survives a restart.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  KMSClient,
  ListKeysCommand,
  PutKeyPolicyCommand,
} from "@aws-sdk/client-kms";
import { loadOrCreateSimulatedCa } from "@strongroom/nitro";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { KMS_STATE_FILE, loadOrCreateServiceCa, SimulatedCredentialStore, startKmsSimulator, type IssuedCredentials, type KmsSimulator, type ServiceCa } from "../src/index.ts";
import { failure, sdkClientConfig } from "./support/aws.ts";

const REGION = "us-east-1";
const ACCOUNT = "111122223333";
const NAME = `kms.${REGION}.sim.strongroom.internal`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/strongroom-parent`;
const OTHER_ROLE = `arn:aws:iam::${ACCOUNT}:role/someone-else`;
const HOUR = 3600_000;

let root: string;
let ca: ServiceCa;
let attestationRoot: string;
let store: SimulatedCredentialStore;
let credentials: IssuedCredentials;
let otherCredentials: IssuedCredentials;
let stateDir: string;
let simulator: KmsSimulator;

async function start(dir = stateDir): Promise<KmsSimulator> {
  return startKmsSimulator({ dir, ca, names: [NAME], region: REGION, accountId: ACCOUNT, lookup: (id) => store.lookup(id), attestationRoot });
}

function kms(issued: Pick<IssuedCredentials, "accessKeyId" | "secretAccessKey" | "sessionToken"> = credentials, target = simulator): KMSClient {
  return new KMSClient(sdkClientConfig({ endpoint: target.url, region: REGION, credentials: issued, ca, name: NAME }));
}

const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString("utf8");

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "strongroom-kms-sim-"));
  ca = loadOrCreateServiceCa(join(root, "ca"));
  attestationRoot = readFileSync(loadOrCreateSimulatedCa(join(root, "nsm")).rootCertificatePath, "utf8");
  store = new SimulatedCredentialStore();
  credentials = store.issue(ROLE, HOUR);
  otherCredentials = store.issue(OTHER_ROLE, HOUR);
  stateDir = join(root, "state");
  simulator = await start();
});
afterAll(async () => {
  await simulator?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("the KMS simulator", () => {
  test("CreateKey, DescribeKey and ListKeys answer KeyMetadata as KMS does", async () => {
    const client = kms();
    const created = (await client.send(new CreateKeyCommand({ Description: "strongroom share 1" }))).KeyMetadata!;
    expect(created.KeyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(created.Arn).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${created.KeyId}`);
    expect(created).toMatchObject({ AWSAccountId: ACCOUNT, Description: "strongroom share 1", Enabled: true, KeyState: "Enabled", KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT" });
    expect(created.CreationDate).toBeInstanceOf(Date);

    for (const id of [created.KeyId!, created.Arn!]) {
      expect((await client.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata).toEqual(created);
    }
    const second = (await client.send(new CreateKeyCommand({}))).KeyMetadata!;
    const all = await client.send(new ListKeysCommand({}));
    expect(all.Keys).toEqual(expect.arrayContaining([{ KeyId: created.KeyId, KeyArn: created.Arn }, { KeyId: second.KeyId, KeyArn: second.Arn }]));
    expect(all.Truncated).toBe(false);

    // Paging: one key per page, every key once.
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = await client.send(new ListKeysCommand({ Limit: 1, Marker: marker }));
      seen.push(...page.Keys!.map((key) => key.KeyId!));
      marker = page.Truncated === true ? page.NextMarker : undefined;
    } while (marker !== undefined);
    expect(seen).toEqual(all.Keys!.map((key) => key.KeyId));
  });

  test("Encrypt and Decrypt round-trip with the encryption context bound in", async () => {
    const client = kms();
    const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const context = { purpose: "share", index: "1" };
    const encrypted = await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("a share"), EncryptionContext: context }));
    expect(encrypted.KeyId).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);
    const blob = encrypted.CiphertextBlob!;
    expect(text(blob)).not.toContain("a share");

    // The ciphertext names its key: KeyId is optional; the context's order does not matter.
    const decrypted = await client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { index: "1", purpose: "share" } }));
    expect(text(decrypted.Plaintext)).toBe("a share");
    expect(decrypted.KeyId).toBe(encrypted.KeyId);
    expect(decrypted.CiphertextForRecipient).toBeUndefined();
    expect(text((await client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, KeyId: keyId }))).Plaintext)).toBe("a share");

    // Another context, none, or one more pair: InvalidCiphertextException.
    for (const other of [{ purpose: "share", index: "2" }, undefined, { ...context, extra: "x" }]) {
      expect((await failure(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: other })))).name).toBe("InvalidCiphertextException");
    }
    // Any altered byte: InvalidCiphertextException.
    for (const index of [0, 5, 25, blob.length - 1]) {
      const altered = Uint8Array.from(blob);
      altered[index]! ^= 0x01;
      expect((await failure(client.send(new DecryptCommand({ CiphertextBlob: altered, EncryptionContext: context }))))?.name).toMatch(/^(InvalidCiphertextException|NotFoundException)$/);
    }
    expect((await failure(client.send(new DecryptCommand({ CiphertextBlob: Buffer.from("not a ciphertext at all, really") })))).name).toBe("InvalidCiphertextException");
    // A KeyId other than the ciphertext's key: IncorrectKeyException.
    const otherKey = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    expect((await failure(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, KeyId: otherKey })))).name).toBe("IncorrectKeyException");
  });

  test("GenerateDataKey returns a data key and its ciphertext under the key; GenerateRandom returns random bytes", async () => {
    const client = kms();
    const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const generated = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: { vault: "v1" } }));
    expect(generated.Plaintext).toHaveLength(32);
    const opened = await client.send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: { vault: "v1" } }));
    expect(Buffer.from(opened.Plaintext!).equals(Buffer.from(generated.Plaintext!))).toBe(true);
    expect((await client.send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 64 }))).Plaintext).toHaveLength(64);
    expect((await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_128" }))).Plaintext).toHaveLength(16);
    expect((await failure(client.send(new GenerateDataKeyCommand({ KeyId: keyId })))).name).toBe("ValidationException");

    const a = (await client.send(new GenerateRandomCommand({ NumberOfBytes: 1024 }))).Plaintext!;
    const b = (await client.send(new GenerateRandomCommand({ NumberOfBytes: 1024 }))).Plaintext!;
    expect(a).toHaveLength(1024);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect((await client.send(new GenerateRandomCommand({ NumberOfBytes: 1 }))).Plaintext).toHaveLength(1);
    for (const count of [0, 1025]) expect((await failure(client.send(new GenerateRandomCommand({ NumberOfBytes: count })))).name).toBe("ValidationException");
  });

  test("PutKeyPolicy and GetKeyPolicy keep the policy; malformed and lock-out policies are refused", async () => {
    const client = kms();
    const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const initial = await client.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: "default" }));
    expect(JSON.parse(initial.Policy!).Statement[0].Principal.AWS).toBe(`arn:aws:iam::${ACCOUNT}:root`);

    const policy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], Resource: "*" },
        { Effect: "Allow", Principal: { AWS: ROLE }, Action: "kms:Encrypt", Resource: "*" },
      ],
    });
    await client.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: "default", Policy: policy }));
    expect((await client.send(new GetKeyPolicyCommand({ KeyId: keyId }))).Policy).toBe(policy);
    // The policy now decides: Encrypt is allowed, Decrypt is not.
    const blob = (await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") }))).CiphertextBlob!;
    const denied = await failure(client.send(new DecryptCommand({ CiphertextBlob: blob })));
    expect(denied.name).toBe("AccessDeniedException");
    expect(denied.message).toContain(`is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);

    for (const malformed of ["not json", JSON.stringify({ Statement: [{ Effect: "Maybe", Principal: "*", Action: "kms:*", Resource: "*" }] }), JSON.stringify({ Statement: [{ Effect: "Allow", Principal: "*", Action: "kms:*", Resource: "*", Condition: { NumericLessThan: { "kms:RecipientAttestation:PCR0": "1" } } }] })]) {
      expect((await failure(client.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: "default", Policy: malformed })))).name).toBe("MalformedPolicyDocumentException");
    }
    const lockout = JSON.stringify({ Statement: [{ Effect: "Allow", Principal: { AWS: OTHER_ROLE }, Action: "kms:*", Resource: "*" }] });
    expect((await failure(client.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: "default", Policy: lockout })))).name).toBe("MalformedPolicyDocumentException");
    expect((await client.send(new GetKeyPolicyCommand({ KeyId: keyId }))).Policy).toBe(policy);
  });

  test("key policies: only an Allow for the caller's principal allows, any matching Deny wins, attestation conditions need a Recipient", async () => {
    const client = kms();
    const admin = { Effect: "Allow", Principal: { AWS: ROLE }, Action: ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey", "kms:Encrypt"], Resource: "*" };
    const create = async (statements: object[]) => (await client.send(new CreateKeyCommand({ Policy: JSON.stringify({ Version: "2012-10-17", Statement: [admin, ...statements] }) }))).KeyMetadata!.KeyId!;

    const othersOnly = await create([{ Effect: "Allow", Principal: { AWS: OTHER_ROLE }, Action: "kms:Decrypt", Resource: "*" }]);
    const blob1 = (await client.send(new EncryptCommand({ KeyId: othersOnly, Plaintext: Buffer.from("x") }))).CiphertextBlob!;
    expect((await failure(client.send(new DecryptCommand({ CiphertextBlob: blob1 })))).name).toBe("AccessDeniedException");
    expect(text((await kms(otherCredentials).send(new DecryptCommand({ CiphertextBlob: blob1 }))).Plaintext)).toBe("x");

    const denied = await create([{ Effect: "Allow", Principal: "*", Action: "kms:*", Resource: "*" }, { Effect: "Deny", Principal: { AWS: ROLE }, Action: "kms:Decrypt", Resource: "*" }]);
    const blob2 = (await client.send(new EncryptCommand({ KeyId: denied, Plaintext: Buffer.from("x") }))).CiphertextBlob!;
    const refusal = await failure(client.send(new DecryptCommand({ CiphertextBlob: blob2 })));
    expect(refusal.name).toBe("AccessDeniedException");
    expect(refusal.message).toContain("explicit deny");

    const attested = await create([{ Effect: "Allow", Principal: { AWS: ROLE }, Action: "kms:Decrypt", Resource: "*", Condition: { StringEqualsIgnoreCase: { "kms:RecipientAttestation:PCR0": "00".repeat(48) } } }]);
    const blob3 = (await client.send(new EncryptCommand({ KeyId: attested, Plaintext: Buffer.from("x") }))).CiphertextBlob!;
    expect((await failure(client.send(new DecryptCommand({ CiphertextBlob: blob3 })))).name).toBe("AccessDeniedException");
    // A Recipient whose document is not a valid attestation document: ValidationException, and no plaintext.
    const bogus = await failure(client.send(new DecryptCommand({ CiphertextBlob: blob3, Recipient: { KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256", AttestationDocument: Buffer.from("not a COSE_Sign1") } })));
    expect(bogus.name).toBe("ValidationException");
  });

  test("the default key policy lets the account's own principals in (through IAM), not another account's", async () => {
    const keyId = (await kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const stranger = store.issue("arn:aws:iam::999999999999:role/strongroom-parent", HOUR);
    const refusal = await failure(kms(stranger).send(new DescribeKeyCommand({ KeyId: keyId })));
    expect(refusal.name).toBe("AccessDeniedException");
    expect(refusal.message).toContain("arn:aws:iam::999999999999:role/strongroom-parent");
    expect((await kms(otherCredentials).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyId).toBe(keyId);
  });

  test("disabled keys refuse with DisabledException until enabled again", async () => {
    const client = kms();
    const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const blob = (await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") }))).CiphertextBlob!;
    await client.send(new DisableKeyCommand({ KeyId: keyId }));
    expect((await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata).toMatchObject({ Enabled: false, KeyState: "Disabled" });
    for (const command of [new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") }), new DecryptCommand({ CiphertextBlob: blob }), new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256" })]) {
      expect((await failure(client.send(command as DecryptCommand))).name).toBe("DisabledException");
    }
    await client.send(new EnableKeyCommand({ KeyId: keyId }));
    expect(text((await client.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext)).toBe("x");
  });

  test("unknown keys and aliases are NotFoundException", async () => {
    const client = kms();
    for (const keyId of ["12345678-1234-1234-1234-123456789012", `arn:aws:kms:${REGION}:${ACCOUNT}:key/12345678-1234-1234-1234-123456789012`, "alias/nothing", "garbage"]) {
      expect((await failure(client.send(new DescribeKeyCommand({ KeyId: keyId })))).name).toBe("NotFoundException");
      expect((await failure(client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("x") })))).name).toBe("NotFoundException");
    }
    // A key of this simulator, named by another account's ARN, is not found either.
    const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    expect((await failure(client.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:${REGION}:999999999999:key/${keyId}` })))).name).toBe("NotFoundException");
  });

  test("requests are refused before any operation when SigV4 does not verify", async () => {
    const wrongSecret = await failure(kms({ ...credentials, secretAccessKey: "not-the-secret" }).send(new GenerateRandomCommand({ NumberOfBytes: 8 })));
    expect(wrongSecret.name).toBe("InvalidSignatureException");
    expect(wrongSecret.$metadata?.httpStatusCode).toBe(400);
    const unknown = await failure(kms({ accessKeyId: "ASIAUNKNOWNUNKNOWN22", secretAccessKey: "x", sessionToken: "y" }).send(new CreateKeyCommand({})));
    expect(unknown.name).toBe("UnrecognizedClientException");
    const revoked = store.issue(ROLE, HOUR);
    store.revoke(revoked.accessKeyId);
    expect((await failure(kms(revoked).send(new ListKeysCommand({}))))?.name).toBe("UnrecognizedClientException");
  });

  test("request bodies are bounded", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpsRequest(
        { host: "127.0.0.1", port: simulator.port, servername: NAME, ca: ca.certificatePem, method: "POST", path: "/", headers: { "content-length": String(1024 * 1024), "x-amz-target": "TrentService.Decrypt" }, agent: false },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on("error", reject);
      request.flushHeaders();
    });
    expect(status).toBe(413);
  });

  test("keys, policies and state persist across a restart on the same directory (0600 state file)", async () => {
    const dir = join(root, "restart");
    const first = await start(dir);
    const client = kms(credentials, first);
    const keyId = (await client.send(new CreateKeyCommand({ Description: "survives" }))).KeyMetadata!.KeyId!;
    const blob = (await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from("kept"), EncryptionContext: { a: "b" } }))).CiphertextBlob!;
    const disabled = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await client.send(new DisableKeyCommand({ KeyId: disabled }));
    await first.close();
    const path = join(dir, KMS_STATE_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).not.toContain("kept");

    const second = await start(dir);
    try {
      const again = kms(credentials, second);
      expect((await again.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Description).toBe("survives");
      expect(text((await again.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { a: "b" } }))).Plaintext)).toBe("kept");
      expect((await again.send(new DescribeKeyCommand({ KeyId: disabled }))).KeyMetadata?.KeyState).toBe("Disabled");
    } finally {
      await second.close();
    }
    // A state file open to others is refused.
    chmodSync(path, 0o644);
    await expect(start(dir)).rejects.toThrow(/open to group or others/);
  });
});
