// The split system end to end, as `make sim` runs it: validator client →
// gateway → parent → simulated enclave, the enclave's slashing database a real
// PostgreSQL reached through the parent's egress proxy over TLS; and the
// boundary audit: everything the parent relayed, recorded, holds no secret
// and is TLS after the first handshake bytes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encryptKeystore, interopSecretKey, blsPublicKey } from "@strongroom/keystore";
import { readAuditRecording, type AuditStream } from "@strongroom/parent";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { attestationRequest, blockRequest, ONE_OF_EACH_SIGNING_TYPE } from "./support/mainnet-requests.ts";
import { startPostgresServer, type PostgresServer } from "./support/postgres-server.ts";
import { startSimulation, type RunningSimulation } from "./support/simulation.ts";
import { tlsRecordTypes } from "./support/tls-records.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const publicKey = (index: number) => `0x${hex(blsPublicKey(interopSecretKey(index), "interop"))}`;
/** A key the test imports itself, with a password it knows, to look for both in the recording. */
const IMPORTED_INDEX = 20;
const IMPORT_PASSWORD = "a keystore password the parent must never see 42";

let postgres: PostgresServer;
let sim: RunningSimulation;
let auditFile: string;
const tokens: string[] = [];

async function call(path: string, init: { method?: string; body?: unknown; token?: string; accept?: string } = {}) {
  const response = await fetch(`${sim.gatewayUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      accept: init.accept ?? "application/json",
      ...(init.body !== undefined && { "content-type": "application/json" }),
      ...(init.token !== undefined && { authorization: `Bearer ${init.token}` }),
    },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  return { status: response.status, text: await response.text() };
}

const sign = (key: string, body: unknown, token?: string) => call(`/api/v1/eth2/sign/${key}`, { body, ...(token !== undefined && { token }) });

beforeAll(async () => {
  postgres = await startPostgresServer();
  const url = await postgres.createDatabase("split");
  auditFile = join("/tmp", `audit-${process.pid}-${Date.now()}.ndjson`);
  sim = await startSimulation([`--database-url=${url}`, `--audit-file=${auditFile}`, "--demo-keys=4"]);
  tokens.push(sim.adminToken);
});

afterAll(async () => {
  await sim?.stop();
  await postgres?.dispose();
});

describe("gateway → parent → enclave", () => {
  test("every signing type signs through the whole split path", async () => {
    for (const body of ONE_OF_EACH_SIGNING_TYPE) {
      const answer = await sign(publicKey(0), body);
      expect({ type: body["type"], status: answer.status }).toEqual({ type: body["type"], status: 200 });
      expect(JSON.parse(answer.text)).toEqual({ signature: expect.stringMatching(/^0x[0-9a-f]{192}$/) });
    }
  });

  test("blocks and attestations are checked and recorded in PostgreSQL through the egress proxy; conflicts are refused with 412", async () => {
    const key = publicKey(1);
    expect((await sign(key, blockRequest(12_000_000n, 1))).status).toBe(200);
    expect((await sign(key, blockRequest(12_000_000n, 2))).status).toBe(412);
    expect((await sign(key, attestationRequest(375_000n, 375_001n, 1))).status).toBe(200);
    expect((await sign(key, attestationRequest(375_000n, 375_001n, 2))).status).toBe(412);
    expect((await sign(key, attestationRequest(374_999n, 375_002n, 3))).status).toBe(412); // surrounds the first

    const client = new pg.Client({ connectionString: postgres.url("split") });
    await client.connect();
    try {
      const blocks = await client.query("SELECT b.slot FROM signed_blocks b JOIN validators v ON v.id = b.validator_id WHERE v.public_key = $1", [Buffer.from(key.slice(2), "hex")]);
      expect(blocks.rows.map((row: { slot: string }) => String(row.slot))).toEqual(["12000000"]);
      const attestations = await client.query(
        "SELECT a.source_epoch, a.target_epoch FROM signed_attestations a JOIN validators v ON v.id = a.validator_id WHERE v.public_key = $1",
        [Buffer.from(key.slice(2), "hex")],
      );
      expect(attestations.rows.map((row: { source_epoch: string; target_epoch: string }) => [String(row.source_epoch), String(row.target_epoch)])).toEqual([["375000", "375001"]]);
    } finally {
      await client.end();
    }
  });

  test("tokens: the administrator creates a policy and a token over aTLS; the token signs only what its policy allows", async () => {
    const policy = await call("/api/v1/strongroom/policies", {
      token: sim.adminToken,
      body: { name: "vc-2", rules: [{ effect: "allow", scopes: ["sign"], keys: [publicKey(2)], operations: "*", cidrs: "*" }] },
    });
    expect(policy.status).toBe(201);
    const created = await call("/api/v1/strongroom/tokens", { token: sim.adminToken, body: { name: "validator client 2", policies: ["vc-2"] } });
    expect(created.status).toBe(201);
    const { token } = JSON.parse(created.text) as { token: string };
    tokens.push(token);
    expect((await sign(publicKey(2), ONE_OF_EACH_SIGNING_TYPE[0], token)).status).toBe(200);
    expect((await sign(publicKey(3), ONE_OF_EACH_SIGNING_TYPE[0], token)).status).toBe(403);
    expect((await sign(publicKey(2), ONE_OF_EACH_SIGNING_TYPE[0], `sr_${"A".repeat(43)}`)).status).toBe(401);
    // Management is not for the loopback unauthenticated policy, even from this host.
    expect((await call("/api/v1/strongroom/tokens")).status).toBe(403);
  });

  test("a keystore imported through the gateway is usable at once", async () => {
    const password = Buffer.from(IMPORT_PASSWORD);
    const keystore = encryptKeystore(interopSecretKey(IMPORTED_INDEX), password, { kdf: { function: "pbkdf2", c: 4096 } });
    const imported = await call("/eth/v1/keystores", { token: sim.adminToken, body: { keystores: [JSON.stringify(keystore)], passwords: [IMPORT_PASSWORD] } });
    expect(imported.status).toBe(200);
    expect(JSON.parse(imported.text)).toEqual({ data: [{ status: "imported", message: "" }] });
    expect((await sign(publicKey(IMPORTED_INDEX), ONE_OF_EACH_SIGNING_TYPE[0])).status).toBe(200);
  });

  test("metrics: the enclave's through the gateway with a token, and the parent's endpoint with both", async () => {
    const viaApi = await call("/metrics", { token: sim.adminToken, accept: "text/plain" });
    expect(viaApi.status).toBe(200);
    expect(viaApi.text).toMatch(/strongroom_requests_total\{[^}]*type="BLOCK_V2"[^}]*status="412"/);
    const [running] = sim.logLines("parent.log", "parent running");
    const parentMetrics = await (await fetch(String(running!["metrics"]))).text();
    expect(parentMetrics).toMatch(/^strongroom_parent_enclave_serving 1$/m);
    expect(parentMetrics).toMatch(/^strongroom_parent_enclave_metrics_up 1$/m);
    expect(parentMetrics).toMatch(/strongroom_requests_total\{/); // the enclave's, relayed over vsock 5002
  });
});

describe("boundary audit: what the parent relayed", () => {
  let streams: AuditStream[];
  let everything: Buffer;

  beforeAll(async () => {
    // Stopping flushes the recording (the parent closes it last).
    expect(await sim.stop()).toBe(0);
    streams = readAuditRecording(auditFile);
    const logs = ["enclave.log", "parent.log", "gateway.log"].map((file) => readFileSync(join(sim.dir, file)));
    everything = Buffer.concat([...streams.flatMap((s) => [s.toEnclave, s.fromEnclave]), ...logs, Buffer.from(sim.cli.stdout()), Buffer.from(sim.cli.stderr())]);
  });

  test("the recording covers ingress, the database egress and the enclave's logs", () => {
    const channels = new Set(streams.map((s) => s.channel.replace(/:\d+$/, "")));
    expect(channels).toEqual(new Set(["ingress", "egress:localhost", "logs"]));
    expect(streams.filter((s) => s.channel === "ingress").length).toBeGreaterThan(2);
  });

  test("no validator secret key, keystore password or token appears, raw, hex or base64", () => {
    const secrets: Buffer[] = [...[0, 1, 2, 3, IMPORTED_INDEX].map((i) => Buffer.from(interopSecretKey(i))), Buffer.from(IMPORT_PASSWORD), ...tokens.map((t) => Buffer.from(t))];
    for (const secret of secrets) {
      for (const form of [secret, Buffer.from(secret.toString("hex")), Buffer.from(secret.toString("hex").toUpperCase()), Buffer.from(secret.toString("base64")), Buffer.from(secret.toString("base64url"))]) {
        expect(everything.includes(form), `a secret appeared as ${form.length} bytes`).toBe(false);
      }
    }
  });

  test("every ingress stream is a PROXY v2 header and then TLS records; application data is all the enclave answers after its handshake", () => {
    for (const stream of streams.filter((s) => s.channel === "ingress" && s.toEnclave.length > 0)) {
      const header = stream.toEnclave.subarray(0, 16);
      expect(header.subarray(0, 12)).toEqual(Buffer.from("0d0a0d0a000d0a515549540a", "hex"));
      const toEnclave = tlsRecordTypes(stream.toEnclave.subarray(16 + header.readUInt16BE(14)));
      const fromEnclave = tlsRecordTypes(stream.fromEnclave);
      expect(toEnclave[0]).toBe(22); // ClientHello
      expect(fromEnclave[0]).toBe(22); // ServerHello
      // TLS 1.3: after the two hellos (and an optional compatibility ChangeCipherSpec) everything is encrypted.
      expect(toEnclave.slice(1).every((type) => type === 23 || type === 20 || type === 21)).toBe(true);
      expect(fromEnclave.slice(1).every((type) => type === 23 || type === 20 || type === 21)).toBe(true);
    }
  });

  test("every database egress stream is PostgreSQL's SSLRequest, its 'S', and then TLS records; every vault egress stream (DynamoDB, KMS) is TLS from its first byte", () => {
    const databasePort = /^slashing-protection-db-url: "postgres:\/\/[^:/]+:(\d+)\//m.exec(readFileSync(join(sim.dir, "enclave.yaml"), "utf8"))![1];
    const egress = streams.filter((s) => s.channel.startsWith("egress:") && s.fromEnclave.length > 0);
    const database = egress.filter((s) => s.channel === `egress:localhost:${databasePort}`);
    const vault = egress.filter((s) => s.channel !== `egress:localhost:${databasePort}`);
    expect(database.length).toBeGreaterThan(0);
    expect(vault.length).toBeGreaterThan(0);
    for (const stream of vault) {
      const out = tlsRecordTypes(stream.fromEnclave);
      const back = tlsRecordTypes(stream.toEnclave);
      expect(out[0]).toBe(22);
      expect(back[0]).toBe(22);
      expect(out.slice(1).every((type) => type === 23 || type === 20 || type === 21)).toBe(true);
    }
    for (const stream of database) {
      expect(stream.fromEnclave.subarray(0, 8)).toEqual(Buffer.from("0000000804d2162f", "hex"));
      expect(stream.toEnclave.subarray(0, 1).toString("latin1")).toBe("S");
      const out = tlsRecordTypes(stream.fromEnclave.subarray(8));
      const back = tlsRecordTypes(stream.toEnclave.subarray(1));
      expect(out[0]).toBe(22);
      expect(back[0]).toBe(22);
      expect(out.includes(23) && back.includes(23)).toBe(true);
    }
  });
});
