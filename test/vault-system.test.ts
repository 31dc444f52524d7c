// The vault in the split system, as `make sim` runs it: the enclave's master
// key split 2 of 3 across simulated KMS keys whose policy pins the image's
// PCR0, validator keys sealed in DynamoDB, every ceremony through the real
// CLI over attested TLS. Then the boundary audit, extended: with the
// simulator's KMS backing keys the test rebuilds every secret the vault
// holds (data keys, shares, master key) and looks for each in everything the
// parent relayed or stored.
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient, ScanCommand, UpdateItemCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import { DisableKeyCommand, EnableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { blsPublicKey, interopSecretKey } from "@strongroom/keystore";
import { readAuditRecording } from "@strongroom/parent";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { openBlob } from "../packages/sim/src/kms/ciphertext.ts";
import { openKmsShare } from "../packages/vault/src/kms-share.ts";
import { combineShares } from "../packages/vault/src/shamir.ts";
import { kmsShareContext, parseVaultState, type VaultStateDocument } from "../packages/vault/src/vault-state.ts";
import { ONE_OF_EACH_SIGNING_TYPE } from "./support/mainnet-requests.ts";
import { startSimulation, type RunningSimulation } from "./support/simulation.ts";

const KEYS = [0, 1, 2, 3].map((i) => `0x${Buffer.from(blsPublicKey(interopSecretKey(i), "interop")).toString("hex")}`);
const RANDAO = ONE_OF_EACH_SIGNING_TYPE.find((body) => body["type"] === "RANDAO_REVEAL")!;
const PASSPHRASES = { alice: "alice's vault passphrase, long enough", carol: "carol keeps another passphrase here", wrong: "not anybody's passphrase at all" };
const BOB_SLOT = Buffer.alloc(20, 0xb0);

let sim: RunningSimulation;
let auditFile: string;
let secretsDir: string;
let kms: KMSClient;
let dynamo: DynamoDBClient;

async function sign(key: string, token?: string): Promise<number> {
  const response = await fetch(`${sim.gatewayUrl}/api/v1/eth2/sign/${key}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...(token !== undefined && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(RANDAO),
  });
  await response.arrayBuffer();
  return response.status;
}

/** A management call as the configured administrator. */
async function manage(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${sim.gatewayUrl}/api/v1/strongroom/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${sim.adminToken}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** A token made through the API (kept in the vault's state table), allowed to sign with the first key only. */
let apiToken: string;

async function operator(...args: string[]): Promise<{ code: number | null; json: Record<string, unknown>; stderr: string }> {
  const run = await sim.operator(args);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(run.stdout) as Record<string, unknown>;
  } catch {
    // Not every command prints JSON (and a failing one prints none).
  }
  return { code: run.code, json, stderr: run.stderr };
}

const status = async () => (await operator("operator", "status")).json as { state: string; reason?: string; generation?: number; operators: { ids: string[] }; keys: { loaded: number; loading: boolean; failed: { public_key: string; reason: string }[] } };

async function healthcheck(): Promise<{ status: number; vault: { status: string; data: { state: string; reason?: string } } }> {
  const response = await fetch(`${sim.gatewayUrl}/healthcheck`);
  const body = (await response.json()) as { checks: { id: string; status: string; data: { state: string; reason?: string } }[] };
  return { status: response.status, vault: body.checks.find((check) => check.id === "vault")! };
}

/** SIGKILL the enclave and wait for the parent to have started another one. */
async function killEnclave(): Promise<void> {
  const old = sim.pid("enclave");
  process.kill(old, "SIGKILL");
  await vi.waitFor(() => expect(sim.pid("enclave")).not.toBe(old), { timeout: 60_000, interval: 250 });
}

async function waitUntilSigning(keys: readonly string[] = KEYS): Promise<void> {
  await vi.waitFor(async () => {
    for (const key of keys) expect(await sign(key)).toBe(200);
  }, { timeout: 90_000, interval: 500 });
}

async function scan(table: string): Promise<Record<string, AttributeValue>[]> {
  return (await dynamo.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items ?? [];
}

function secretFile(name: string, content: string | Buffer): string {
  const path = join(secretsDir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

beforeAll(async () => {
  auditFile = join("/tmp", `vault-audit-${process.pid}-${Date.now()}.ndjson`);
  secretsDir = mkdtempSync("/tmp/srvault-");
  sim = await startSimulation([`--audit-file=${auditFile}`, "--demo-keys=4"]);
  kms = new KMSClient(await sim.awsClientConfig(sim.kms.url));
  dynamo = new DynamoDBClient(await sim.awsClientConfig(sim.dynamoUrl));
});

afterAll(async () => {
  kms?.destroy();
  dynamo?.destroy();
  await sim?.stop();
});

describe("the vault in the split system", () => {
  test("first boot: initialised 2 of 3 over KMS, and the demo keys are sealed in DynamoDB, where nothing is in clear", async () => {
    const now = await status();
    expect(now).toMatchObject({ state: "unsealed", generation: 1, kms: { threshold: 2, keys: sim.kms.keyIds }, keys: { loaded: 4, failed: [] } });
    const listed = await operator("keys", "list");
    expect(listed.code).toBe(0);
    expect((listed.json["data"] as { public_key: string; status: string; loaded: boolean }[]).map((k) => [k.public_key, k.status, k.loaded]).sort()).toEqual(KEYS.map((k) => [k, "active", true]).sort());

    const items = await scan("strongroom-vault-keys");
    expect(items.map((item) => `0x${item["pk"]!.S}`).sort()).toEqual([...KEYS].sort());
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(["createdAt", "pk", "sealed", "status", "updatedAt"]);
      expect(item["sealed"]!.B).toHaveLength(61);
    }
    const [state, ...others] = await scan("strongroom-vault-state");
    expect(others).toEqual([]);
    expect(state!["pk"]!.S).toBe("signer-state");
    expect(Object.keys(JSON.parse(state!["state"]!.S!) as object)).toEqual(["vault"]);
  });

  test("the enclave killed: the parent restarts it, it comes up sealed and unseals itself by attested KMS, and every key signs again; tokens made through the API survive", async () => {
    expect((await manage("policies", { name: "first-key", rules: [{ effect: "allow", scopes: ["sign"], keys: [KEYS[0]], operations: "*", cidrs: "*" }] })).status).toBe(201);
    const created = await manage("tokens", { name: "validator client", policies: ["first-key"] });
    expect(created.status).toBe(201);
    apiToken = created.json["token"] as string;
    expect([await sign(KEYS[0]!, apiToken), await sign(KEYS[1]!, apiToken)]).toEqual([200, 403]);

    await killEnclave();
    await waitUntilSigning();
    expect(sim.logLines("enclave.log", "vault unsealed").map((line) => line["via"])).toEqual(["kms"]);
    expect(sim.logLines("enclave.log", "vault opened").at(-1)).toMatchObject({ state: "sealed" });
    // The token and its policy came back with the unseal (an unknown token would be a 401).
    await vi.waitFor(async () => expect([await sign(KEYS[0]!, apiToken), await sign(KEYS[1]!, apiToken)]).toEqual([200, 403]), { timeout: 10_000, interval: 250 });
    const [item] = (await scan("strongroom-vault-state")).filter((i) => i["pk"]!.S === "auth-state");
    const body = JSON.parse((JSON.parse(item!["state"]!.S!) as { body: string }).body) as { tokens: { name: string; hmac: string }[] };
    expect(body.tokens.map((t) => t.name)).toEqual(["validator client"]);
    expect(item!["state"]!.S).not.toContain(apiToken.slice(3));
  });

  test("one KMS key disabled still unseals (2 of 3); two disabled stay sealed and /healthcheck and operator status say why", async () => {
    const [first, second] = sim.kms.keyIds;
    await kms.send(new DisableKeyCommand({ KeyId: first }));
    await killEnclave();
    await waitUntilSigning();

    await kms.send(new DisableKeyCommand({ KeyId: second }));
    await killEnclave();
    await vi.waitFor(async () => expect((await healthcheck()).vault.data.reason ?? "").toMatch(/recovered 1 of the 2 shares/), { timeout: 60_000, interval: 500 });
    const health = await healthcheck();
    expect(health.status).toBe(503);
    expect(health.vault).toMatchObject({ status: "DOWN", data: { state: "sealed" } });
    expect(health.vault.data.reason).toContain(`(${first}): DisabledException`);
    expect(health.vault.data.reason).toContain(`(${second}): DisabledException`);
    expect((await status()).reason).toBe(health.vault.data.reason);
    expect(await sign(KEYS[0]!)).toBe(503);

    await kms.send(new EnableKeyCommand({ KeyId: first }));
    await kms.send(new EnableKeyCommand({ KeyId: second }));
    const unsealed = await operator("operator", "unseal", "--kms");
    expect(unsealed.code).toBe(0);
    await waitUntilSigning();
  });

  test("rotation adds three operators (passphrases and an HMAC-SHA1 token), 2 of 3; every key stays usable", async () => {
    const rotated = await operator(
      "operator",
      "rotate",
      `--operator=alice:passphrase:alice-pass=file:${secretFile("alice", PASSPHRASES.alice)}`,
      `--operator=bob:hmac-sha1:bob-yubikey=file:${secretFile("bob-slot", BOB_SLOT.toString("hex"))}`,
      `--operator=carol:passphrase:carol-pass=file:${secretFile("carol", PASSPHRASES.carol)}`,
      "--operator-threshold=2",
    );
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json).toMatchObject({ state: "unsealed", generation: 2, operators: { threshold: 2, ids: ["alice", "bob", "carol"] }, kms: { threshold: 2 } });
    for (const key of KEYS) expect(await sign(key)).toBe(200);
  });

  test("seal: signing is refused at once; a wrong passphrase is refused; alice's passphrase and bob's token unseal it and the keys sign", async () => {
    const sealed = await operator("operator", "seal");
    expect(sealed.json).toMatchObject({ state: "sealed", keys: { loaded: 0 }, tokens: { available: false, reason: "the vault is sealed" } });
    for (const key of KEYS) expect(await sign(key)).toBe(503);
    // Tokens are kept under the vault: none works while it is sealed (the administrator, configuration, does).
    expect(await sign(KEYS[0]!, apiToken)).toBe(401);

    const wrong = await operator("operator", "unseal", "--operator=carol", `--passphrase=file:${secretFile("wrong", PASSPHRASES.wrong)}`);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("wrong credential");

    const alice = await operator("operator", "unseal", "--operator=alice", `--passphrase=file:${join(secretsDir, "alice")}`);
    expect(alice.json).toEqual({ received: 1, threshold: 2, state: "sealed" });
    expect(await sign(KEYS[0]!)).toBe(503);
    const bob = await operator("operator", "unseal", "--operator=bob", `--hmac-sha1=file:${join(secretsDir, "bob-slot")}`);
    expect(bob.json).toEqual({ received: 2, threshold: 2, state: "unsealed" });
    await waitUntilSigning();
    expect(sim.logLines("enclave.log", "vault unsealed").at(-1)).toMatchObject({ via: "operators" });
    await vi.waitFor(async () => expect(await sign(KEYS[0]!, apiToken)).toBe(200), { timeout: 10_000, interval: 250 });
  });

  test("a corrupted ciphertext in DynamoDB keeps only that key out, with a logged reason", async () => {
    const victim = KEYS[2]!;
    const [item] = (await scan("strongroom-vault-keys")).filter((i) => `0x${i["pk"]!.S}` === victim);
    const damaged = Buffer.from(item!["sealed"]!.B!);
    damaged[30]! ^= 0x01;
    await dynamo.send(new UpdateItemCommand({ TableName: "strongroom-vault-keys", Key: { pk: { S: victim.slice(2) } }, UpdateExpression: "SET sealed = :s", ExpressionAttributeValues: { ":s": { B: damaged } } }));

    await operator("operator", "seal");
    expect((await operator("operator", "unseal", "--kms")).code).toBe(0);
    await waitUntilSigning(KEYS.filter((key) => key !== victim));
    await vi.waitFor(async () => expect((await status()).keys).toMatchObject({ loading: false, loaded: 3 }), { timeout: 30_000, interval: 500 });
    expect(await sign(victim)).toBe(404);
    const now = await status();
    expect(now.keys.failed).toEqual([{ public_key: victim, reason: expect.stringMatching(/does not open under this vault's master key/) }]);
    expect(sim.logLines("enclave.log", "a sealed key stays out of the signer").at(-1)).toMatchObject({ publicKey: victim, reason: expect.stringMatching(/altered or sealed by another vault/) });
    expect((await healthcheck()).vault).toMatchObject({ status: "DOWN", data: { state: "unsealed" } });
  });
});

describe("boundary audit, extended to the vault", () => {
  let everything: Buffer;
  let vault: VaultStateDocument;
  let dynamoDump: Buffer;
  const secrets: { what: string; bytes: Buffer }[] = [];

  beforeAll(async () => {
    const state = (await scan("strongroom-vault-state")).find((item) => item["pk"]!.S === "signer-state");
    vault = parseVaultState((JSON.parse(state!["state"]!.S!) as { vault: unknown }).vault);
    const items = [...(await scan("strongroom-vault-keys")), ...(await scan("strongroom-vault-state"))];
    dynamoDump = Buffer.concat(items.flatMap((item) => Object.values(item).map((value) => (value.B !== undefined ? Buffer.from(value.B) : Buffer.from(value.S ?? value.N ?? "")))));

    // What only the enclave should ever hold, rebuilt with the simulator's KMS backing keys.
    const kmsState = JSON.parse(readFileSync(join(sim.dir, "kms", "kms-state.json"), "utf8")) as { keys: { keyId: string; backingKey: string }[] };
    const shares = vault.kms!.shares.map((record) => {
      const key = kmsState.keys.find((k) => record.keyId.endsWith(k.keyId))!;
      const dataKey = openBlob(key.keyId, Buffer.from(key.backingKey, "base64"), Buffer.from(record.ciphertext, "base64"), kmsShareContext(vault.vaultId, record.index))!;
      secrets.push({ what: `KMS data key ${record.index}`, bytes: Buffer.from(dataKey) });
      const value = openKmsShare(dataKey, vault.vaultId, record);
      secrets.push({ what: `share ${record.index}`, bytes: Buffer.from(value) });
      return { index: record.index, value };
    });
    secrets.push({ what: "master key", bytes: Buffer.from(combineShares(shares, 2)) });
    for (const i of [0, 1, 2, 3]) secrets.push({ what: `validator key ${i}`, bytes: Buffer.from(interopSecretKey(i)) });
    for (const [who, passphrase] of Object.entries(PASSPHRASES)) secrets.push({ what: `passphrase of ${who}`, bytes: Buffer.from(passphrase) });
    const bobChallenge = vault.operators!.shares.find((s) => s.operatorId === "bob")!.wrapped[0]!;
    expect(bobChallenge.kind).toBe("hmac-sha1");
    secrets.push({ what: "bob's slot secret", bytes: BOB_SLOT });
    secrets.push({ what: "bob's HMAC-SHA1 response", bytes: createHmac("sha1", BOB_SLOT).update(Buffer.from((bobChallenge as { kdf: { challenge: string } }).kdf.challenge, "hex")).digest() });
    secrets.push({ what: "administrator token", bytes: Buffer.from(sim.adminToken) });
    secrets.push({ what: "token made through the API", bytes: Buffer.from(apiToken) });

    expect(await sim.stop()).toBe(0);
    const streams = readAuditRecording(auditFile);
    const logs = ["enclave.log", "parent.log", "gateway.log"].map((file) => readFileSync(join(sim.dir, file)));
    everything = Buffer.concat([...streams.flatMap((s) => [s.toEnclave, s.fromEnclave]), ...logs, Buffer.from(sim.cli.stdout()), Buffer.from(sim.cli.stderr()), dynamoDump]);
  });

  test("the rebuilt master key is the vault's (its key-check value matches), so the search below looks for the real secrets", () => {
    const master = secrets.find((s) => s.what === "master key")!.bytes;
    expect(createHmac("sha256", master).update("strongroom-key-check").digest("base64")).toBe(vault.keyCheck);
  });

  test("no master key, share, KMS plaintext, validator key, passphrase, HMAC secret or response, or token in what the parent relayed, logged or stored", () => {
    for (const { what, bytes } of secrets) {
      for (const form of [bytes, Buffer.from(bytes.toString("hex")), Buffer.from(bytes.toString("hex").toUpperCase()), Buffer.from(bytes.toString("base64")), Buffer.from(bytes.toString("base64url"))]) {
        expect(everything.includes(form), `${what} appeared (${form.length} bytes)`).toBe(false);
      }
    }
  });
});
