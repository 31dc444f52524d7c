// Signing through the HTTP API on a real PostgreSQL: one database round trip
// per block and per attestation (counted on the wire), and the records land
// where Web3Signer's own queries look for them.
import { SecretKey } from "@chainsafe/blst";
import { afterAll, beforeAll, expect, test } from "vitest";
import pg from "pg";
import { namedNetwork, parseSigningRequest } from "@strongroom/eth2";
import { interopSecretKey } from "@strongroom/keystore";
import { startSigner, type RunningSigner } from "@strongroom/enclave";
import { pino } from "pino";
import { attestationRequest, blockRequest, MAINNET_GVR } from "./support/mainnet-requests.ts";
import { startPgWireProxy, type PgWireProxy } from "./support/pg-wire-proxy.ts";
import { startPostgresServer, type PostgresServer } from "./support/postgres-server.ts";
import { openTestAuth } from "../enclave/test/harness.ts";

let server: PostgresServer;
let proxy: PgWireProxy;
let signer: RunningSigner;
let databaseUrl: string;
const secret = interopSecretKey(5);
const publicKey = `0x${Buffer.from(SecretKey.fromBytes(secret).toPublicKey().toBytes()).toString("hex")}`;

beforeAll(async () => {
  server = await startPostgresServer();
  databaseUrl = await server.createDatabase("through_http");
  proxy = await startPgWireProxy({ host: "127.0.0.1", port: server.port });
  const viaProxy = new URL(databaseUrl);
  viaProxy.port = String(proxy.port);
  signer = await startSigner({
    network: namedNetwork("mainnet"),
    listen: { host: "127.0.0.1", port: 0 },
    keySources: {},
    inMemoryKeys: [{ secretKey: secret.slice(), source: "interop 5" }],
    slashingProtection: { url: viaProxy.href, timeoutMs: 5_000 },
    auth: openTestAuth(),
    signingThreads: 1,
    log: pino({ level: "silent" }),
  });
});

afterAll(async () => {
  await signer?.close();
  await proxy?.close();
  await server?.dispose();
});

const sign = (body: Record<string, unknown>) =>
  fetch(`${signer.url}/api/v1/eth2/sign/${publicKey}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("one round trip per signing, for a new validator and a known one, and for a refusal", async () => {
  const cases: [string, Record<string, unknown>, number][] = [
    ["first attestation (registers the validator)", attestationRequest(369_999n, 370_000n, 1), 200],
    ["attestation", attestationRequest(370_000n, 370_001n, 1), 200],
    ["block", blockRequest(11_840_032n, 1), 200],
    ["repeat of the block", blockRequest(11_840_032n, 1), 200],
    ["double proposal", blockRequest(11_840_032n, 2), 412],
    ["double vote", attestationRequest(370_000n, 370_001n, 2), 412],
  ];
  for (const [name, body, status] of cases) {
    proxy.reset();
    const res = await sign(body);
    expect(res.status, name).toBe(status);
    expect(proxy.roundTrips(), name).toBe(1);
  }
});

test("Web3Signer's queries find the signed records and the block watermark", async () => {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const network = namedNetwork("mainnet");
    const blockRoot = Buffer.from(parseSigningRequest(blockRequest(11_840_032n, 1), network).signingRoot);
    const attestationRoot = Buffer.from(parseSigningRequest(attestationRequest(370_000n, 370_001n, 1), network).signingRoot);
    // The statements of Web3Signer's DAOs (ValidatorsDao, SignedBlocksDao, SignedAttestationsDao, LowWatermarkDao, MetadataDao).
    const [validator] = (await client.query("SELECT id, public_key, enabled FROM validators WHERE public_key = $1", [Buffer.from(publicKey.slice(2), "hex")])).rows;
    expect(validator.enabled).toBe(true);
    const block = await client.query("SELECT validator_id, slot, signing_root FROM signed_blocks WHERE validator_id = $1 AND slot = $2 AND signing_root = $3", [
      validator.id,
      "11840032",
      blockRoot,
    ]);
    expect(block.rows).toHaveLength(1);
    const attestation = await client.query(
      "SELECT validator_id, source_epoch, target_epoch, signing_root FROM signed_attestations WHERE validator_id = $1 AND target_epoch = $2 AND signing_root = $3",
      [validator.id, "370001", attestationRoot],
    );
    expect(attestation.rows).toEqual([{ validator_id: validator.id, source_epoch: "370000", target_epoch: "370001", signing_root: attestationRoot }]);
    const watermark = await client.query("SELECT validator_id, slot, target_epoch, source_epoch FROM low_watermarks WHERE validator_id = $1", [validator.id]);
    expect(watermark.rows[0]).toMatchObject({ slot: "11840032" });
    const metadata = await client.query("SELECT genesis_validators_root FROM metadata WHERE id = $1", [1]);
    expect(`0x${metadata.rows[0].genesis_validators_root.toString("hex")}`).toBe(MAINNET_GVR);
  } finally {
    await client.end();
  }
});
