// Tokens and policies kept beside the vault: two signer instances on one
// state table (real dynalite, real Vault with an operator passphrase), what
// each sees while sealed and unsealed, and a parent that edits, forges or
// rolls back the stored item.
import { createHash, createHmac, randomBytes } from "node:crypto";
import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { Vault, VaultStore } from "@strongroom/vault";
import pino from "pino";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { AuthUnavailableError, CONFIGURED_ADMINISTRATOR_ID, TokenStore, type Authentication } from "../src/auth/index.ts";
import { AUTH_STATE_ITEM, shareAuthThroughVault } from "../src/vault/shared-auth.ts";
import { startVaultTables, type VaultTables } from "../../packages/vault/test/support/dynalite.ts";

const PASSPHRASE = "alice's long enough passphrase";
const ADMIN_TOKEN = `sr_${"A".repeat(43)}`;
const SIGNER_POLICY = { name: "vc", rules: [{ effect: "allow", scopes: ["sign"], keys: "*", operations: "*", cidrs: "*" }] };

let tables: VaultTables<VaultStore>;
const stops: (() => void)[] = [];

beforeAll(async () => {
  tables = await startVaultTables("shared_auth", VaultStore);
});

afterAll(async () => {
  for (const stop of stops) stop();
  await tables?.close();
});

const passphrase = () => new Uint8Array(Buffer.from(PASSPHRASE));
const bearer = (token: Buffer | string) => `Bearer ${token.toString()}`;
const okId = (auth: Authentication) => (auth.kind === "ok" ? auth.tokenId : auth.kind === "invalid" ? auth.code : auth.kind);

/** One signer instance: its own Vault object and token store on the shared tables. */
async function instance(store: VaultStore) {
  const vault = await Vault.open({ store, nsmRandom: async () => new Uint8Array(randomBytes(64)) });
  const tokens = TokenStore.detached("the vault is not unsealed yet", { administratorSha256: createHash("sha256").update(ADMIN_TOKEN).digest() });
  stops.push(shareAuthThroughVault({ vault, store, tokens, log: pino({ level: "silent" }), refreshMs: 100 }));
  const attached = () => vi.waitFor(() => expect(tokens.availability()).toEqual({ attached: true }), { timeout: 5_000 });
  const unseal = async () => {
    await vault.submitOperatorCredential("alice", { kind: "passphrase", passphrase: passphrase() });
    await attached();
  };
  return { vault, tokens, unseal, attached };
}

async function initialised() {
  const store = await tables.freshStore();
  const first = await instance(store);
  await first.vault.init({ kmsKeys: [], kmsThreshold: 0, operators: [{ id: "alice", credentials: [{ kind: "passphrase", credentialId: "alice-pass", passphrase: passphrase() }] }], operatorThreshold: 1 });
  await first.attached();
  return { store, first };
}

/** The stored auth-state item, as DynamoDB holds it. */
async function storedItem(store: VaultStore) {
  const out = await tables.client.send(new GetItemCommand({ TableName: store.stateTable, Key: { pk: { S: AUTH_STATE_ITEM } }, ConsistentRead: true }));
  return out.Item!;
}

test("tokens made on one instance work on another once it is unsealed, and only then; the configured administrator works throughout", async () => {
  const { store, first } = await initialised();
  await first.tokens.putPolicy(SIGNER_POLICY);
  const created = await first.tokens.createToken("validator client", ["vc"]);
  expect(okId(first.tokens.authenticate(bearer(created.token)))).toBe(created.id);

  const second = await instance(store);
  expect(second.vault.state).toBe("sealed");
  expect(() => second.vault.deriveKey("auth token hmac")).toThrow(/the vault is sealed/);
  expect(second.tokens.authenticate(bearer(created.token))).toMatchObject({ kind: "invalid", code: "unavailable", reason: expect.stringMatching(/not unsealed/) });
  expect(okId(second.tokens.authenticate(bearer(ADMIN_TOKEN)))).toBe(CONFIGURED_ADMINISTRATOR_ID);
  expect(() => second.tokens.listTokens()).toThrow(AuthUnavailableError);
  await expect(second.tokens.createToken("x", ["vc"])).rejects.toThrow(/not available/);

  await second.unseal();
  expect(okId(second.tokens.authenticate(bearer(created.token)))).toBe(created.id);
  expect(second.tokens.listPolicies()).toEqual(first.tokens.listPolicies());

  // Revoked on the second instance: the first refuses it within its refresh.
  expect(await second.tokens.revokeToken(created.id)).toBe(true);
  expect(okId(second.tokens.authenticate(bearer(created.token)))).toBe("unknown");
  await vi.waitFor(() => expect(okId(first.tokens.authenticate(bearer(created.token)))).toBe("unknown"), { timeout: 5_000 });

  // A seal forgets every token at once; the administrator stays.
  const another = await first.tokens.createToken("another", ["vc"]);
  first.vault.seal();
  expect(first.tokens.authenticate(bearer(another.token))).toMatchObject({ kind: "invalid", code: "unavailable", reason: expect.stringMatching(/sealed/) });
  expect(okId(first.tokens.authenticate(bearer(ADMIN_TOKEN)))).toBe(CONFIGURED_ADMINISTRATOR_ID);
  await first.unseal();
  expect(okId(first.tokens.authenticate(bearer(another.token)))).toBe(another.id);
});

test("changes made at once on two instances both land (the loser re-reads and applies its change again)", async () => {
  const { store, first } = await initialised();
  await first.tokens.putPolicy(SIGNER_POLICY);
  const second = await instance(store);
  await second.unseal();
  const made = await Promise.all([
    first.tokens.createToken("a", ["vc"]),
    second.tokens.createToken("b", ["vc"]),
    first.tokens.createToken("c", ["vc"]),
    second.tokens.putPolicy({ ...SIGNER_POLICY, name: "other" }),
  ]);
  await first.tokens.reload();
  await second.tokens.reload();
  for (const tokens of [first.tokens, second.tokens]) {
    expect(tokens.listTokens().map((t) => t.name).sort()).toEqual(["a", "b", "c"]);
    expect(tokens.listPolicies().map((p) => p.name).sort()).toEqual(["other", "vc"]);
    for (const created of made.slice(0, 3) as { id: string; token: Buffer }[]) expect(okId(tokens.authenticate(bearer(created.token)))).toBe(created.id);
  }
  // What DynamoDB holds is the HMAC of each token, never the token.
  const stored = JSON.stringify(await storedItem(store));
  for (const created of made.slice(0, 3) as { token: Buffer }[]) expect(stored).not.toContain(created.token.toString().slice(3));
});

test("a parent that adds a token of its own, edits the state or puts back an older copy is refused", async () => {
  const { store, first } = await initialised();
  await first.tokens.putPolicy(SIGNER_POLICY);
  const genuine = await first.tokens.createToken("genuine", ["vc"]);
  const older = await storedItem(store);

  // A token the parent made up, added to the body with the HMAC it can compute (not under the vault's key), the MAC kept.
  const forged = `sr_${randomBytes(32).toString("base64url")}`;
  const sealed = JSON.parse(older["state"]!.S!) as { body: string; mac: string };
  const body = JSON.parse(sealed.body) as { tokens: object[]; policies: object[] };
  body.tokens.push({ id: "tok_00000000000000ff", name: "parent", hmac: createHmac("sha256", randomBytes(32)).update(forged).digest("hex"), policies: ["vc"], createdAt: new Date().toISOString() });
  body.policies.push({ name: "admin", rules: [{ effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: "*" }] });
  const version = Number(older["version"]!.N) + 1;
  await tables.client.send(
    new PutItemCommand({ TableName: store.stateTable, Item: { ...older, state: { S: JSON.stringify({ body: JSON.stringify(body), mac: sealed.mac }) }, version: { N: String(version) } } }),
  );
  const restarted = await instance(store);
  await restarted.vault.submitOperatorCredential("alice", { kind: "passphrase", passphrase: passphrase() });
  await vi.waitFor(() => expect(restarted.tokens.availability()).toMatchObject({ attached: false, reason: expect.stringMatching(/fails its authentication check/) }), { timeout: 5_000 });
  expect(okId(restarted.tokens.authenticate(bearer(forged)))).toBe("unavailable");
  expect(okId(restarted.tokens.authenticate(bearer(genuine.token)))).toBe("unavailable");
  expect(okId(restarted.tokens.authenticate(bearer(ADMIN_TOKEN)))).toBe(CONFIGURED_ADMINISTRATOR_ID);
  // The running instance refuses the edit too and keeps what it had.
  await expect(first.tokens.reload()).rejects.toThrow(/fails its authentication check/);
  expect(okId(first.tokens.authenticate(bearer(genuine.token)))).toBe(genuine.id);

  // The genuine item, with its version moved (the MAC binds the version).
  await tables.client.send(new PutItemCommand({ TableName: store.stateTable, Item: { ...older, version: { N: String(version + 1) } } }));
  await expect(first.tokens.reload()).rejects.toThrow(/fails its authentication check/);

  // Put back as it was, then the token revoked; the older copy (still authentic) put back again is a rollback.
  await tables.client.send(new PutItemCommand({ TableName: store.stateTable, Item: older }));
  await first.tokens.reload();
  expect(await first.tokens.revokeToken(genuine.id)).toBe(true);
  await tables.client.send(new PutItemCommand({ TableName: store.stateTable, Item: older }));
  await expect(first.tokens.reload()).rejects.toThrow(/went back from version 3 to 2/);
  expect(okId(first.tokens.authenticate(bearer(genuine.token)))).toBe("unknown");
});
