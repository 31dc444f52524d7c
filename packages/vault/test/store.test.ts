import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MAX_STATE_BYTES, openValidatorKey, sealValidatorKey, VaultConflictError, VaultError, VaultStore } from "../src/index.ts";
import { startVaultTables, type VaultTables } from "./support/dynalite.ts";

let tables: VaultTables<VaultStore>;
let client: DynamoDBClient;

beforeAll(async () => {
  tables = await startVaultTables("vault", VaultStore);
  client = tables.client;
});

afterAll(() => tables?.close());

const freshStore = () => tables.freshStore();

const master = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 1) & 0xff);
function validator(n: number): { publicKey: Uint8Array; secretKey: Uint8Array; sealed: Uint8Array } {
  const publicKey = new Uint8Array(48);
  new DataView(publicKey.buffer).setUint32(0, n);
  publicKey[47] = 0xaa;
  const secretKey = new Uint8Array(32);
  new DataView(secretKey.buffer).setUint32(28, n + 1);
  return { publicKey, secretKey, sealed: sealValidatorKey(master, publicKey, secretKey) };
}
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

async function refusal(run: () => Promise<unknown>): Promise<string> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(VaultError);
  return (caught as Error).message;
}

describe("validator keys table", () => {
  test("put, get, list, set status, delete", async () => {
    let clock = Date.parse("2025-01-02T03:04:05.000Z");
    const store = await tables.freshStore({ now: () => new Date(clock) });
    await store.ensureTables(); // idempotent
    const a = validator(1);
    const b = validator(2);
    await store.putKey(a.publicKey, a.sealed);
    await store.putKey(`0x${hex(b.publicKey).toUpperCase()}`, b.sealed, { status: "inactive" });

    const got = await store.getKey(`0x${hex(a.publicKey)}`);
    expect(got).toEqual({
      publicKey: a.publicKey,
      publicKeyHex: hex(a.publicKey),
      sealed: a.sealed,
      status: "active",
      createdAt: "2025-01-02T03:04:05.000Z",
      updatedAt: "2025-01-02T03:04:05.000Z",
    });
    expect(openValidatorKey(master, got!.publicKey, got!.sealed)).toEqual(a.secretKey);

    const listed = await store.listKeys();
    expect(listed.map((k) => [k.publicKeyHex, k.status])).toEqual([
      [hex(a.publicKey), "active"],
      [hex(b.publicKey), "inactive"],
    ]);
    expect(listed.every((k) => !("sealed" in k))).toBe(true);

    clock += 60_000;
    await store.setStatus(a.publicKey, "inactive");
    const updated = await store.getKey(a.publicKey);
    expect(updated).toMatchObject({ status: "inactive", createdAt: "2025-01-02T03:04:05.000Z", updatedAt: "2025-01-02T03:05:05.000Z" });

    expect(await store.deleteKey(a.publicKey)).toBe(true);
    expect(await store.deleteKey(a.publicKey)).toBe(false);
    expect(await store.getKey(a.publicKey)).toBeUndefined();
    expect((await store.listKeys()).map((k) => k.publicKeyHex)).toEqual([hex(b.publicKey)]);
    expect(await refusal(() => store.setStatus(a.publicKey, "active"))).toMatch(/is not in the store/);
  });

  test("a second put of the same public key is refused and leaves the first", async () => {
    const store = await freshStore();
    const a = validator(7);
    await store.putKey(a.publicKey, a.sealed);
    const other = sealValidatorKey(master, a.publicKey, new Uint8Array(32).fill(9));
    expect(await refusal(() => store.putKey(a.publicKey, other))).toBe(`validator key 0x${hex(a.publicKey)} is already in the store; delete it first to replace it`);
    expect((await store.getKey(a.publicKey))!.sealed).toEqual(a.sealed);
  });

  test("inputs are checked", async () => {
    const store = await freshStore();
    const a = validator(1);
    expect(await refusal(() => store.putKey(a.publicKey.subarray(1), a.sealed))).toMatch(/public key must be 48 bytes/);
    expect(await refusal(() => store.putKey("0x1234", a.sealed))).toMatch(/public key/);
    expect(await refusal(() => store.putKey(a.publicKey, a.sealed.subarray(1)))).toMatch(/61-byte envelope/);
    expect(await refusal(() => store.setStatus(a.publicKey, "revoked" as "active"))).toMatch(/status/);
    expect(await refusal(() => store.loadActive(() => {}, { segments: 0 }))).toMatch(/segments/);
    expect(() => new VaultStore({ client, keysTable: "same", stateTable: "same" })).toThrow(VaultError);
  });

  test("a malformed item planted by the parent is refused by shape", async () => {
    const store = await freshStore();
    const at = { S: "2025-01-01T00:00:00.000Z" };
    const item = { pk: { S: "ab".repeat(48) }, sealed: { B: new Uint8Array(10) }, status: { S: "active" }, createdAt: at, updatedAt: at };
    await client.send(new PutItemCommand({ TableName: store.keysTable, Item: item }));
    expect(await refusal(() => store.getKey("ab".repeat(48)))).toMatch(/sealed key must be a 61-byte envelope/);
    expect(await refusal(() => store.loadActive(() => {}))).toMatch(/sealed key must be a 61-byte envelope/);
  });

  test("1,000 keys: the parallel scan delivers every active key exactly once, and no inactive one", async () => {
    const store = await freshStore();
    const all = Array.from({ length: 1000 }, (_, i) => validator(i));
    for (let i = 0; i < all.length; i += 50) {
      await Promise.all(all.slice(i, i + 50).map((v, j) => store.putKey(v.publicKey, v.sealed, { status: (i + j) % 10 === 0 ? "inactive" : "active" })));
    }
    const expected = new Map(all.filter((_, i) => i % 10 !== 0).map((v) => [hex(v.publicKey), v]));

    for (const options of [{ segments: 8 }, { segments: 3, pageSize: 37 }]) {
      const seen = new Map<string, number>();
      let opened = 0;
      const count = await store.loadActive((publicKey, sealed) => {
        const key = hex(publicKey);
        seen.set(key, (seen.get(key) ?? 0) + 1);
        const v = expected.get(key);
        expect(v).toBeDefined();
        expect(openValidatorKey(master, publicKey, sealed)).toEqual(v!.secretKey);
        opened++;
      }, options);
      expect(count).toBe(900);
      expect(opened).toBe(900);
      expect(seen.size).toBe(900);
      expect([...seen.values()].every((times) => times === 1)).toBe(true);
    }

    const listed = await store.listKeys({ pageSize: 128 });
    expect(listed.length).toBe(1000);
    expect(listed.filter((k) => k.status === "inactive").length).toBe(100);
  });

  test("loadActive: an error in onKey stops the scan and is thrown", async () => {
    const store = await freshStore();
    for (let i = 0; i < 40; i++) {
      const v = validator(i);
      await store.putKey(v.publicKey, v.sealed);
    }
    let calls = 0;
    const failure = new Error("consumer broke");
    await expect(
      store.loadActive(
        async () => {
          calls++;
          if (calls === 3) throw failure;
        },
        { segments: 4, pageSize: 2 },
      ),
    ).rejects.toBe(failure);
    expect(calls).toBeLessThan(40);
  });

  test("a table with another key schema is refused; a missing table is a clear error", async () => {
    const names = tables.nextNames();
    const other = new VaultStore({ client, ...names });
    expect(await refusal(() => other.listKeys())).toMatch(/Scan on DynamoDB table "vault_keys_\d+" failed: ResourceNotFoundException/);
    await client.send(
      new CreateTableCommand({
        TableName: names.keysTable,
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      }),
    );
    expect(await refusal(() => other.ensureTables())).toMatch(/key schema id \(HASH\); the vault needs a single string partition key "pk"/);
    await client.send(new DeleteTableCommand({ TableName: names.keysTable }));
  });
});

describe("signer-state table", () => {
  test("round trip with versions", async () => {
    const store = await freshStore();
    expect(await store.readState()).toBeUndefined();
    const first = { shares: { threshold: 2, operators: ["alice", "bob"] }, tokens: [{ id: "t1", policy: "sign" }], note: "ünïcödé" };
    expect(await store.writeState(first, undefined)).toBe(1);
    expect(await store.readState()).toEqual({ state: first, version: 1 });
    const second = { ...first, tokens: [] };
    expect(await store.writeState(second, 1)).toBe(2);
    expect(await store.readState()).toEqual({ state: second, version: 2 });
  });

  test("optimistic concurrency: of two writers on the same version, one wins and one must re-read", async () => {
    const store = await freshStore();
    await store.writeState({ n: 0 }, undefined);
    const { version } = (await store.readState())!;
    const results = await Promise.allSettled([store.writeState({ n: "a" }, version), store.writeState({ n: "b" }, version)]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won.length).toBe(1);
    expect(lost.length).toBe(1);
    expect(lost[0]!.reason).toBeInstanceOf(VaultError);
    expect((lost[0]!.reason as Error).message).toMatch(/no longer at version 1 .* re-read it and retry/);
    const now = (await store.readState())!;
    expect(now.version).toBe(2);
    expect(now.state).toEqual(results[0]!.status === "fulfilled" ? { n: "a" } : { n: "b" });
    // A stale version stays refused; the current one works.
    expect(await refusal(() => store.writeState({ n: "c" }, 1))).toMatch(/re-read/);
    expect(await store.writeState({ n: "c" }, 2)).toBe(3);
  });

  test("two first writers: attribute_not_exists lets one in", async () => {
    const store = await freshStore();
    const results = await Promise.allSettled([store.writeState({ w: 1 }, undefined), store.writeState({ w: 2 }, undefined)]);
    expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
    expect((lost.reason as Error).message).toMatch(/already exists .* re-read it and retry/);
  });

  test("other state items live beside the signer state, each with its own version", async () => {
    const store = await freshStore();
    expect(await store.writeState({ vault: 1 }, undefined)).toBe(1);
    expect(await store.readState("auth-state")).toBeUndefined();
    expect(await store.writeState({ auth: 1 }, undefined, "auth-state")).toBe(1);
    expect(await store.writeState({ auth: 2 }, 1, "auth-state")).toBe(2);
    expect(await store.readState()).toEqual({ state: { vault: 1 }, version: 1 });
    expect(await store.readState("auth-state")).toEqual({ state: { auth: 2 }, version: 2 });
    const stale = await store.writeState({ auth: 3 }, 1, "auth-state").catch((error: unknown) => error);
    expect(stale).toBeInstanceOf(VaultConflictError);
    expect((stale as Error).message).toMatch(/auth-state is no longer at version 1/);
    // Item names come from code, never from requests; one shaped like a validator key is refused.
    expect(await refusal(() => store.readState("a".repeat(96)))).toMatch(/state item name/);
    expect(await refusal(() => store.writeState({}, undefined, "Auth State"))).toMatch(/state item name/);
  });

  test("size bound and serialisability", async () => {
    const store = await freshStore();
    const big = { blob: "x".repeat(MAX_STATE_BYTES) };
    expect(await refusal(() => store.writeState(big, undefined))).toMatch(/over the 358400-byte limit/);
    const fits = { blob: "x".repeat(MAX_STATE_BYTES - 20) };
    expect(await store.writeState(fits, undefined)).toBe(1);
    expect((await store.readState())!.state).toEqual(fits);
    expect(await refusal(() => store.writeState({ n: 1n }, 1))).toMatch(/not JSON-serialisable/);
    expect(await refusal(() => store.writeState(undefined, 1))).toMatch(/not JSON-serialisable/);
    expect(await refusal(() => store.writeState({}, 0))).toMatch(/expectedVersion/);
  });
});
