// slashing: attestations signed per second through the HTTP API with slashing
// protection on PGlite, a real PostgreSQL on this machine and dynalite; p50/p99
// at half the maximum; and, on the same PostgreSQL, strongroom's one-call
// check-and-record against the same records written with a Web3Signer-style
// multi-query transaction (the round-trip saving, as a ratio).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openSlashingProtection } from "@strongroom/slashing";
import { startCli } from "../support/cli-process.ts";
import { interopKeyConfigDir } from "../support/interop-key-files.ts";
import { encodePost, LeanHttpClient } from "../support/lean-http.ts";
import { closedLoop, openLoop } from "../support/load.ts";
import { attestationRequest, MAINNET_GVR } from "../support/mainnet-requests.ts";
import { startPostgresServer } from "../support/postgres-server.ts";
import { dynamoFixture } from "../support/slashing-backends.ts";

const KEYS = 64;
const CONNECTIONS = 16;
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 6);

/** Attestations round-robin over the keys, each key's target rising by one epoch per request. */
function* attestationStream(publicKeys: string[], firstTarget: bigint): Generator<Buffer> {
  for (let round = 0n; ; round++) {
    for (const key of publicKeys) {
      const target = firstTarget + round;
      yield encodePost(`/api/v1/eth2/sign/${key}`, JSON.stringify(attestationRequest(target - 1n, target, 1)));
    }
  }
}

/** One signer process on `dbUrl`, measured through its HTTP API. */
async function throughApi(name: string, dbUrl: string, firstTarget: bigint, env: NodeJS.ProcessEnv = {}) {
  process.stderr.write(`slashing: ${name} through the HTTP API\n`);
  const keys = interopKeyConfigDir(KEYS);
  const signer = startCli(["signer", "--auth-unauthenticated-policy=loopback", "--http-port=0", `--key-config-path=${keys.dir}`, `--slashing-protection-db-url=${dbUrl}`], env);
  try {
    const url = (await signer.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
    await signer.waitForOutput(/key loading finished/);
    const client = await LeanHttpClient.open(Number(new URL(url).port), CONNECTIONS);
    const requests = attestationStream(keys.publicKeys, firstTarget);
    const send = async () => {
      const status = await client.send(requests.next().value as Buffer);
      if (status !== 200) throw new Error(`attestation refused with ${status}`);
    };
    await closedLoop(send, CONNECTIONS, 2); // warm-up: registers every validator
    const max = await closedLoop(send, CONNECTIONS, SECONDS);
    const latency = await openLoop(send, max / 2, SECONDS);
    client.close();
    return { backend: name, attestationsPerSecond: Math.round(max), latencyAtHalfMaxMs: { rate: Math.round(max / 2), ...latency } };
  } finally {
    await signer.stop();
  }
}

/**
 * The same records written the way Web3Signer's DbSlashingProtection does it:
 * a transaction of separate statements, each a round trip (BEGIN, advisory
 * lock, enabled check, GVR, double vote, low watermark, surrounding,
 * surrounded, high watermark, insert, COMMIT).
 */
async function web3signerStyleAttestation(client: pg.PoolClient, validatorId: number, source: bigint, target: bigint, root: Buffer): Promise<void> {
  const s = source.toString();
  const t = target.toString();
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(1, $1)", [validatorId]);
    await client.query("SELECT enabled FROM validators WHERE id = $1", [validatorId]);
    await client.query("SELECT genesis_validators_root FROM metadata WHERE id = 1");
    await client.query("SELECT signing_root FROM signed_attestations WHERE validator_id = $1 AND target_epoch = $2", [validatorId, t]);
    await client.query("SELECT source_epoch, target_epoch FROM low_watermarks WHERE validator_id = $1", [validatorId]);
    await client.query("SELECT 1 FROM signed_attestations WHERE validator_id = $1 AND source_epoch < $2 AND target_epoch > $3 LIMIT 1", [validatorId, s, t]);
    await client.query("SELECT 1 FROM signed_attestations WHERE validator_id = $1 AND source_epoch > $2 AND target_epoch < $3 LIMIT 1", [validatorId, s, t]);
    await client.query("SELECT high_watermark_epoch FROM metadata WHERE id = 1");
    await client.query("INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root) VALUES ($1, $2, $3, $4)", [validatorId, s, t, root]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  }
}

/** Database level, same concurrency, same records: strongroom's one call against the multi-statement transaction. */
async function roundTripComparison(dbUrl: string) {
  const gvr = new Uint8Array(Buffer.from(MAINNET_GVR.slice(2), "hex"));
  const keys = Array.from({ length: KEYS }, (_, i) => new Uint8Array(48).fill(i + 1));
  const root = new Uint8Array(32).fill(7);
  const db = await openSlashingProtection(dbUrl);
  await db.ensureGenesisValidatorsRoot(gvr);
  // Each key's targets rise by one per write, round-robin over the keys.
  const measure = (write: (key: number, target: bigint) => Promise<void>) => {
    const next = new Array<bigint>(KEYS).fill(1_000n);
    let i = 0;
    return closedLoop(
      () => {
        const key = i++ % KEYS;
        return write(key, next[key]!++);
      },
      CONNECTIONS,
      SECONDS,
    );
  };
  const strongroom = await measure(async (key, target) => {
    const decision = await db.checkAndRecordAttestation({ publicKey: keys[key]!, sourceEpoch: target - 1n, targetEpoch: target, signingRoot: root, genesisValidatorsRoot: gvr });
    if (!decision.allowed) throw new Error(`refused: ${decision.rule}`);
  });
  await db.close();

  const pool = new pg.Pool({ connectionString: dbUrl, max: CONNECTIONS });
  pool.on("error", () => undefined); // idle clients see the server go away at the end
  const ids = await Promise.all(
    keys.map(async (key) => (await pool.query<{ id: number }>("SELECT id FROM validators WHERE public_key = $1", [Buffer.from(key)])).rows[0]!.id),
  );
  const web3signer = await measure(async (key, target) => {
    const client = await pool.connect();
    try {
      await web3signerStyleAttestation(client, ids[key]!, target + 1_000_000n - 1n, target + 1_000_000n, Buffer.from(root));
    } finally {
      client.release();
    }
  });
  await pool.end();
  return {
    strongroomOneCallPerSecond: Math.round(strongroom),
    web3signerStyleTransactionPerSecond: Math.round(web3signer),
    roundTripsPerAttestation: { strongroom: 1, web3signerStyle: 11 },
    speedup: Number((strongroom / web3signer).toFixed(2)),
  };
}

const results: unknown[] = [];
const pgliteDir = mkdtempSync(join(tmpdir(), "strongroom-bench-pglite-"));
results.push(await throughApi("PGlite", `pglite://${pgliteDir}`, 400_000n));

const server = await startPostgresServer();
let comparison: unknown;
try {
  results.push(await throughApi("PostgreSQL", await server.createDatabase("bench_api"), 400_000n));
  comparison = await roundTripComparison(await server.createDatabase("bench_round_trips"));
} finally {
  await server.dispose();
}

const dynamo = await dynamoFixture();
try {
  results.push(await throughApi("DynamoDB (dynalite)", await dynamo.freshUrl(), 400_000n, { AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench" }));
} finally {
  await dynamo.stop();
}

console.log(JSON.stringify({ name: "slashing", keys: KEYS, connections: CONNECTIONS, seconds: SECONDS, throughApi: results, postgresRoundTrips: comparison }));
