// The EIP-3076 conformance suite (shared/vectors/eip3076) driven through the
// HTTP signing API with the interop keys, against every backend.
//
// Strategy: complete history with a low watermark, matching each check's
// `should_succeed_complete` exactly (see packages/slashing/README.md).
//
// A vector's signing roots are arbitrary bytes, but a real request's root is
// computed from its payload. So each (slot or epochs, vector root) becomes a
// payload that carries the vector root (as the header's parent_root or the
// attestation's beacon_block_root): equal vector roots give equal real roots.
// A check's zero root is used as is: two identical checks are the same
// message, and signing it again is safe (the suite expects that in
// multiple_interchanges_multiple_validators_repeat_idem.json). Imported
// entries with a zero or absent root stay unknown and never match anything.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { networkFromConfigYaml, parseSigningRequest, type Network } from "@strongroom/eth2";
import { interopSecretKey } from "@strongroom/keystore";
import { startSigner } from "@strongroom/enclave";
import { pino } from "pino";
import { isZeroRoot, loadVectors, type VectorFile } from "../packages/slashing/test/vectors.ts";
import { dynamoFixture, pgliteFixture, postgresFixture, type BackendFixture } from "./support/slashing-backends.ts";
import { openTestAuth } from "../enclave/test/harness.ts";

// Every fork from genesis, so that BLOCK_V2 carries a block header at any slot.
const NETWORK_YAML = `
PRESET_BASE: 'mainnet'
CONFIG_NAME: 'vectors'
GENESIS_FORK_VERSION: 0x00000000
ALTAIR_FORK_VERSION: 0x01000000
ALTAIR_FORK_EPOCH: 0
BELLATRIX_FORK_VERSION: 0x02000000
BELLATRIX_FORK_EPOCH: 0
CAPELLA_FORK_VERSION: 0x03000000
CAPELLA_FORK_EPOCH: 0
DENEB_FORK_VERSION: 0x04000000
DENEB_FORK_EPOCH: 0
ELECTRA_FORK_VERSION: 0x05000000
ELECTRA_FORK_EPOCH: 0
FULU_FORK_VERSION: 0x06000000
FULU_FORK_EPOCH: 0
`;
const FORK = { previous_version: "0x06000000", current_version: "0x06000000", epoch: "0" };
const ZERO = `0x${"00".repeat(32)}`;

const payloadRoot = (root: string | undefined) => root ?? ZERO;

function blockRequest(gvr: string, slot: string, root: string): Record<string, unknown> {
  return {
    type: "BLOCK_V2",
    fork_info: { fork: FORK, genesis_validators_root: gvr },
    beacon_block: { version: "FULU", block_header: { slot, proposer_index: "0", parent_root: root, state_root: ZERO, body_root: ZERO } },
  };
}

function attestationRequest(gvr: string, source: string, target: string, root: string): Record<string, unknown> {
  return {
    type: "ATTESTATION",
    fork_info: { fork: FORK, genesis_validators_root: gvr },
    attestation: { slot: "0", index: "0", beacon_block_root: root, source: { epoch: source, root: ZERO }, target: { epoch: target, root: ZERO } },
  };
}

const realRoot = (network: Network, request: Record<string, unknown>) => `0x${Buffer.from(parseSigningRequest(request, network).signingRoot).toString("hex")}`;

/** The step's interchange with every known vector root replaced by the real root of its translated payload. */
function translateInterchange(network: Network, gvr: string, interchange: unknown): unknown {
  const source = interchange as { metadata: unknown; data?: { signed_blocks?: { slot: string; signing_root?: string }[]; signed_attestations?: { source_epoch: string; target_epoch: string; signing_root?: string }[] }[] };
  if (!Array.isArray(source.data)) return interchange;
  return {
    ...source,
    data: source.data.map((v) => ({
      ...v,
      signed_blocks: v.signed_blocks?.map((b) =>
        isZeroRoot(b.signing_root) ? b : { ...b, signing_root: realRoot(network, blockRequest(gvr, b.slot, b.signing_root!)) },
      ),
      signed_attestations: v.signed_attestations?.map((a) =>
        isZeroRoot(a.signing_root) ? a : { ...a, signing_root: realRoot(network, attestationRequest(gvr, a.source_epoch, a.target_epoch, a.signing_root!)) },
      ),
    })),
  };
}

async function runVectorFile(file: VectorFile, dbUrl: string): Promise<void> {
  const gvr = file.genesis_validators_root;
  const network = { ...networkFromConfigYaml(NETWORK_YAML, "vectors.yaml"), genesisValidatorsRoot: new Uint8Array(Buffer.from(gvr.slice(2), "hex")) };
  const signer = await startSigner({
    network,
    listen: { host: "127.0.0.1", port: 0 },
    keySources: {},
    inMemoryKeys: [0, 1, 2].map((i) => ({ secretKey: interopSecretKey(i), source: `interop ${i}` })),
    slashingProtection: { url: dbUrl, timeoutMs: 10_000 },
    auth: openTestAuth(),
    signingThreads: 1,
    decryptionThreads: 1,
    log: pino({ level: "silent" }),
  });
  const post = (path: string, body: unknown) =>
    fetch(`${signer.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  try {
    for (const [i, step] of file.steps.entries()) {
      const imported = await post("/eth/v1/keystores", {
        keystores: [],
        passwords: [],
        slashing_protection: JSON.stringify(translateInterchange(network, gvr, step.interchange)),
      });
      if (!step.should_succeed) {
        expect(imported.status, `step ${i}: the import must be refused`).toBe(400);
        continue;
      }
      expect(imported.status, `step ${i}: import: ${await imported.clone().text()}`).toBe(200);
      for (const block of step.blocks) {
        const res = await post(`/api/v1/eth2/sign/${block.pubkey}`, blockRequest(gvr, block.slot, payloadRoot(block.signing_root)));
        expect(res.status, `step ${i} block at ${block.slot} (${block.signing_root ?? "no root"}): ${await res.clone().text()}`).toBe(
          block.should_succeed_complete ? 200 : 412,
        );
      }
      for (const att of step.attestations) {
        const res = await post(`/api/v1/eth2/sign/${att.pubkey}`, attestationRequest(gvr, att.source_epoch, att.target_epoch, payloadRoot(att.signing_root)));
        expect(res.status, `step ${i} attestation ${att.source_epoch}->${att.target_epoch}: ${await res.clone().text()}`).toBe(
          att.should_succeed_complete ? 200 : 412,
        );
      }
    }
  } finally {
    await signer.close();
  }
}

const vectors = loadVectors();

describe.each([
  ["PGlite", pgliteFixture],
  ["PostgreSQL", postgresFixture],
  ["DynamoDB", dynamoFixture],
] as const)("EIP-3076 vectors through the HTTP API on %s", (_name, startFixture) => {
  let fixture: BackendFixture;
  beforeAll(async () => {
    fixture = await startFixture();
  });
  afterAll(() => fixture?.stop());

  test.each(vectors.map((v) => [v.name, v] as const))("%s", async (_file, vector) => {
    await runVectorFile(vector, await fixture.freshUrl());
  });
});
