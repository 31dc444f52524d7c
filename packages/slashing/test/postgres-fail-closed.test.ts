// Fail closed with bounded time: when PostgreSQL stops or the network hangs,
// every operation rejects with SlashingDatabaseError within the operation
// timeout and nothing crashes; when it comes back, the same backend instance
// works again. A server of its own, since the tests stop it.
import { afterAll, beforeAll, expect, test } from "vitest";
import { startPgWireProxy } from "../../../test/support/pg-wire-proxy.ts";
import { startPostgresServer, type PostgresServer } from "../../../test/support/postgres-server.ts";
import { openSlashingProtection, SlashingDatabaseError, type SlashingProtection } from "../src/index.ts";

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgresServer();
});
afterAll(async () => {
  await server?.dispose();
});

const TIMEOUT_MS = 500;
/** Timer and scheduling slack on a busy CI machine. */
const SLACK_MS = 400;
const GVR = new Uint8Array(32).fill(0x47);
const key = new Uint8Array(48).fill(1);
const root = (n: number) => new Uint8Array(32).fill(n);
const block = (db: SlashingProtection, slot: bigint) => db.checkAndRecordBlock({ publicKey: key, slot, signingRoot: root(1), genesisValidatorsRoot: GVR });
const attestation = (db: SlashingProtection, target: bigint) =>
  db.checkAndRecordAttestation({ publicKey: key, sourceEpoch: target - 1n, targetEpoch: target, signingRoot: root(1), genesisValidatorsRoot: GVR });

/** Every operation rejects with SlashingDatabaseError, each within the timeout. */
async function expectAllFailClosed(db: SlashingProtection): Promise<void> {
  const operations: [string, () => Promise<unknown>][] = [
    ["block", () => block(db, 50n)],
    ["attestation", () => attestation(db, 50n)],
    ["ping", () => db.ping()],
    ["genesis validators root", () => db.ensureGenesisValidatorsRoot(GVR)],
    ["disable", () => db.setValidatorsEnabled([new Uint8Array(48).fill(9)], false)],
    ["export", () => db.exportInterchange()],
    ["import", () => db.importInterchange({ genesisValidatorsRoot: GVR, data: [] })],
  ];
  for (const [name, operation] of operations) {
    const started = performance.now();
    await expect(operation(), name).rejects.toBeInstanceOf(SlashingDatabaseError);
    expect(performance.now() - started, name).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  }
}

test("a stopped server: operations fail closed in bounded time; restarted: the same instance signs again", async () => {
  const db = await openSlashingProtection(await server.createDatabase("stopped"), { operationTimeoutMs: TIMEOUT_MS });
  try {
    await db.ensureGenesisValidatorsRoot(GVR);
    expect(await block(db, 10n)).toEqual({ allowed: true });
    await server.stop();
    await expectAllFailClosed(db);
    await server.restart();
    expect(await block(db, 11n)).toEqual({ allowed: true });
    expect(await attestation(db, 11n)).toEqual({ allowed: true });
    expect(await block(db, 11n)).toEqual({ allowed: true }); // a repeat: the record survived
  } finally {
    await db.close();
  }
});

test("a hung network: operations give up within the timeout; when it recovers, the same instance signs again", async () => {
  const proxy = await startPgWireProxy({ host: "127.0.0.1", port: server.port });
  const url = (await server.createDatabase("hung")).replace(`:${server.port}/`, `:${proxy.port}/`);
  const db = await openSlashingProtection(url, { operationTimeoutMs: TIMEOUT_MS });
  try {
    await db.ensureGenesisValidatorsRoot(GVR);
    expect(await block(db, 10n)).toEqual({ allowed: true });
    proxy.pause();
    await expectAllFailClosed(db);
    // Requests queued behind a stuck one for the same validator give up in time too.
    const started = performance.now();
    const queued = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => block(db, 20n + BigInt(i))));
    expect(queued.every((r) => r.status === "rejected" && r.reason instanceof SlashingDatabaseError)).toBe(true);
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    proxy.resume();
    expect(await block(db, 30n)).toEqual({ allowed: true });
  } finally {
    await db.close();
    await proxy.close();
  }
});
