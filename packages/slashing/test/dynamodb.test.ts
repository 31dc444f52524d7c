// The DynamoDB backend against dynalite (DynamoDB's protocol, in memory): the
// backend contract, two instances racing on one table, failing closed, and
// refusing a foreign table.
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { createHash } from "node:crypto";
import type { Server } from "node:http";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import dynalite from "dynalite";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openSlashingProtection, SlashingDatabaseError, SlashingProtectionError, type SlashingProtection } from "../src/index.ts";
import { describeSlashingBackend } from "./contract.ts";

process.env["AWS_ACCESS_KEY_ID"] ??= "strongroom-test";
process.env["AWS_SECRET_ACCESS_KEY"] ??= "strongroom-test";

const GVR = new Uint8Array(32).fill(0x47);
const key = (n: number) => new Uint8Array(48).fill(n);
const root = (...parts: (string | number | bigint)[]) => new Uint8Array(createHash("sha256").update(parts.join("/")).digest());

async function startDynalite(port = 0): Promise<Server> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  return server;
}
const portOf = (server: Server) => (server.address() as AddressInfo).port;
async function stop(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

let server: Server;
let tables = 0;
const location = (table = `strongroom_${tables++}`, port = portOf(server)) => `dynamodb://${table}?region=us-east-1&endpoint=http://127.0.0.1:${port}`;
/** Generous: the contract's concurrency cases put a hundred requests on one dynalite, in this very process. */
const open = (url = location()) => openSlashingProtection(url, { operationTimeoutMs: 30_000 });

beforeAll(async () => {
  server = await startDynalite();
});
afterAll(async () => {
  await stop(server);
});

describeSlashingBackend("DynamoDB (dynalite)", () => open());

describe("DynamoDB backend", () => {
  test("two instances on one table, hundreds of conflicting requests at once: no slashable pair, one root per slot, all recorded", async () => {
    const url = location();
    const instances = [await open(url), await open(url)] as const;
    try {
      await instances[0].ensureGenesisValidatorsRoot(GVR);
      const validators = [key(1), key(2)];
      // A first block per validator sets its low watermark to slot 0, so that every later slot may be signed once.
      for (const publicKey of validators) {
        expect(await instances[1].checkAndRecordBlock({ publicKey, slot: 0n, signingRoot: root("genesis"), genesisValidatorsRoot: GVR })).toEqual({ allowed: true });
      }
      // xorshift32: reproducible, and exact in 32-bit integer arithmetic.
      let seed = 0x9e3779b9;
      const random = (below: number) => {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) % below;
      };
      const attestations = validators.flatMap((publicKey, v) =>
        Array.from({ length: 300 }, () => {
          const target = BigInt(1 + random(40));
          const back = BigInt(random(8));
          const source = target > back ? target - back : 0n;
          // Two variants per vote, so that identical requests (repeats) race as well as different ones.
          return { v, publicKey, source, target, signingRoot: root(v, source, target, random(2)) };
        }),
      );
      const blocks = validators.flatMap((publicKey, v) =>
        Array.from({ length: 100 }, () => {
          const slot = BigInt(1 + random(10));
          return { v, publicKey, slot, signingRoot: root("block", v, slot, random(3)) };
        }),
      );
      const started = performance.now();
      const [attestationResults, blockResults] = await Promise.all([
        Promise.all(
          attestations.map(async (a, i) => ({
            ...a,
            decision: await instances[i % 2]!.checkAndRecordAttestation({
              publicKey: a.publicKey,
              sourceEpoch: a.source,
              targetEpoch: a.target,
              signingRoot: a.signingRoot,
              genesisValidatorsRoot: GVR,
            }),
          })),
        ),
        Promise.all(
          blocks.map(async (x, i) => ({
            ...x,
            decision: await instances[(i + 1) % 2]!.checkAndRecordBlock({ publicKey: x.publicKey, slot: x.slot, signingRoot: x.signingRoot, genesisValidatorsRoot: GVR }),
          })),
        ),
      ]);
      const elapsed = performance.now() - started;

      const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
      const exported = await instances[1].exportInterchange(validators);
      for (const [v, publicKey] of validators.entries()) {
        const allowed = attestationResults.filter((a) => a.v === v && a.decision.allowed);
        expect(allowed.length).toBeGreaterThan(5);
        for (const x of allowed) {
          for (const y of allowed) {
            const doubleVote = x.target === y.target && hex(x.signingRoot) !== hex(y.signingRoot);
            const surround = x.source < y.source && x.target > y.target;
            expect(doubleVote || surround, `validator ${v}: ${x.source}->${x.target} vs ${y.source}->${y.target}`).toBe(false);
          }
        }
        const record = exported.data.find((d) => hex(d.publicKey) === hex(publicKey))!;
        const recorded = new Set(record.signedAttestations.map((a) => `${a.sourceEpoch}/${a.targetEpoch}/${a.signingRoot && hex(a.signingRoot)}`));
        for (const a of allowed) expect(recorded.has(`${a.source}/${a.target}/${hex(a.signingRoot)}`)).toBe(true);

        for (let slot = 1n; slot <= 10n; slot++) {
          const requested = blockResults.filter((x) => x.v === v && x.slot === slot);
          if (requested.length === 0) continue;
          const roots = new Set(requested.filter((x) => x.decision.allowed).map((x) => hex(x.signingRoot)));
          expect(roots.size, `validator ${v} slot ${slot}`).toBe(1);
          const stored = record.signedBlocks.find((x) => x.slot === slot);
          expect(stored?.signingRoot && hex(stored.signingRoot)).toBe([...roots][0]);
        }
      }
      console.info(`${attestations.length + blocks.length} concurrent checks on two instances settled in ${Math.round(elapsed)} ms`);
    } finally {
      await Promise.all(instances.map((db) => db.close()));
    }
  });

  test("a pending record left by a check that never committed protects nothing and cannot be overwritten", async () => {
    const url = location();
    const db = await open(url);
    try {
      await db.ensureGenesisValidatorsRoot(GVR);
      const att = (source: bigint, target: bigint, signingRoot: Uint8Array) =>
        db.checkAndRecordAttestation({ publicKey: key(3), sourceEpoch: source, targetEpoch: target, signingRoot, genesisValidatorsRoot: GVR });
      expect(await att(1n, 2n, root(1))).toEqual({ allowed: true });
      // As if another instance had written its record, then lost its race or died before committing.
      const client = new DynamoDBClient({ region: "us-east-1", endpoint: `http://127.0.0.1:${portOf(server)}` });
      const pk = `v#${Buffer.from(key(3)).toString("hex")}`;
      const sk = (target: bigint, source: bigint) => `a#${target.toString().padStart(20, "0")}#${source.toString().padStart(20, "0")}`;
      await client.send(
        new PutItemCommand({
          TableName: url.slice("dynamodb://".length, url.indexOf("?")),
          Item: { pk: { S: pk }, sk: { S: sk(9n, 3n) }, src: { N: "3" }, tgt: { N: "9" }, signingRoot: { B: root(9) }, pending: { S: "dead-writer" } },
        }),
      );
      client.destroy();
      // 2->10 would surround 3->9, which was never committed: allowed.
      expect(await att(2n, 10n, root(2))).toEqual({ allowed: true });
      // Its very key cannot be taken over, and its root was never known to be signed: not even the same root repeats.
      expect(await att(3n, 9n, root(9))).toMatchObject({ allowed: false, rule: "double_vote" });
      const exported = await db.exportInterchange([key(3)]);
      expect(exported.data[0]!.signedAttestations.map((a) => `${a.sourceEpoch}->${a.targetEpoch}`)).toEqual(["1->2", "2->10"]);
    } finally {
      await db.close();
    }
  });

  test("fails closed within the timeout when DynamoDB is gone or hangs, and serves again once it is back", async () => {
    const TIMEOUT_MS = 400;
    let own = await startDynalite();
    const port = portOf(own);
    const url = location("failclosed", port);
    const db = await openSlashingProtection(url, { operationTimeoutMs: TIMEOUT_MS });
    const block = (slot: bigint) => db.checkAndRecordBlock({ publicKey: key(4), slot, signingRoot: root("b", slot), genesisValidatorsRoot: GVR });
    const attestation = (target: bigint) =>
      db.checkAndRecordAttestation({ publicKey: key(4), sourceEpoch: target - 1n, targetEpoch: target, signingRoot: root("a", target), genesisValidatorsRoot: GVR });
    const operations: [string, () => Promise<unknown>][] = [
      ["ping", () => db.ping()],
      ["ensure", () => db.ensureGenesisValidatorsRoot(GVR)],
      ["block", () => block(20n)],
      ["attestation", () => attestation(20n)],
      ["export", () => db.exportInterchange()],
      ["import", () => db.importInterchange({ genesisValidatorsRoot: GVR, data: [{ publicKey: key(5), signedBlocks: [{ slot: 1n }], signedAttestations: [] }] })],
      ["disable", () => db.setValidatorsEnabled([key(6)], false)],
      ["prune", () => db.prune(10n, 32n)],
    ];
    const expectFailClosed = async (situation: string) => {
      for (const [name, run] of operations) {
        const started = performance.now();
        await expect(run(), `${name} (${situation})`).rejects.toBeInstanceOf(SlashingDatabaseError);
        expect(performance.now() - started, `${name} (${situation})`).toBeLessThan(TIMEOUT_MS + 1_000);
      }
    };
    let hang: ReturnType<typeof createServer> | undefined;
    const sockets: Socket[] = [];
    try {
      await db.ensureGenesisValidatorsRoot(GVR);
      expect(await block(10n)).toEqual({ allowed: true });
      expect(await attestation(10n)).toEqual({ allowed: true });

      await stop(own);
      await expectFailClosed("connection refused");

      // Something on the port that accepts connections and never answers.
      hang = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => hang!.listen(port, "127.0.0.1", () => resolve()));
      await expectFailClosed("no answer");
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hang!.close(() => resolve()));
      hang = undefined;

      // DynamoDB is back (empty: its table is made again by another instance starting, its root recorded again).
      own = await startDynalite(port);
      await (await openSlashingProtection(url)).close();
      await db.ensureGenesisValidatorsRoot(GVR);
      expect(await block(11n)).toEqual({ allowed: true });
      expect(await attestation(11n)).toEqual({ allowed: true });
      await db.ping();
    } finally {
      for (const socket of sockets) socket.destroy();
      hang?.close();
      await db.close();
      await stop(own);
    }
  });

  test("a table with another key schema is refused with a clear message", async () => {
    const client = new DynamoDBClient({ region: "us-east-1", endpoint: `http://127.0.0.1:${portOf(server)}` });
    await client.send(
      new CreateTableCommand({
        TableName: "not_strongroom",
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      }),
    );
    client.destroy();
    const opening = open(location("not_strongroom"));
    await expect(opening).rejects.toBeInstanceOf(SlashingProtectionError);
    await expect(opening).rejects.toThrow(
      'DynamoDB table "not_strongroom" has the key schema id (S, HASH), but strongroom\'s slashing protection needs pk (string, partition key) and sk (string, sort key)',
    );
  });

  test("URLs: credentials, unknown parameters and bad table names are refused before any connection", async () => {
    for (const [url, problem] of [
      ["dynamodb://user:secret@table1?region=us-east-1", /no credentials in the URL/],
      ["dynamodb://table1?region=us-east-1&tabel=x", /unknown parameter "tabel"/],
      ["dynamodb://t?region=us-east-1", /table name/],
      ["dynamodb://table1?endpoint=ftp://host", /endpoint must be an http\(s\) URL/],
    ] as const) {
      await expect(openSlashingProtection(url)).rejects.toThrow(problem);
    }
    const db: SlashingProtection = await open();
    expect(db.description).toMatch(/^dynamodb:\/\/strongroom_\d+\?region=us-east-1&endpoint=http:\/\/127\.0\.0\.1:\d+$/);
    await db.close();
    await expect(db.ping()).rejects.toBeInstanceOf(SlashingDatabaseError);
  });
});
