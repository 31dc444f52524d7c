// Faults in the split system under the simulator: a killed enclave, a killed
// parent, a database that goes away, a hostile control-channel message, and
// AWS credentials that expire under load.
import { encodeFrame } from "@strongroom/control";
import { blsPublicKey, interopSecretKey } from "@strongroom/keystore";
import { createSimulatedTransport } from "@strongroom/nitro";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { attestationRequest, blockRequest, randaoRequest } from "./support/mainnet-requests.ts";
import { startPostgresServer, type PostgresServer } from "./support/postgres-server.ts";
import { startSimulation, type RunningSimulation } from "./support/simulation.ts";

const KEYS = [0, 1, 2, 3].map((i) => `0x${Buffer.from(blsPublicKey(interopSecretKey(i), "interop")).toString("hex")}`);

interface Signed {
  readonly key: string;
  readonly body: Record<string, unknown>;
  readonly status: number;
  readonly text: string;
}

async function sign(sim: RunningSimulation, key: string, body: Record<string, unknown>): Promise<Signed> {
  try {
    const response = await fetch(`${sim.gatewayUrl}/api/v1/eth2/sign/${key}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    return { key, body, status: response.status, text: await response.text() };
  } catch (error) {
    return { key, body, status: 0, text: (error as Error).message };
  }
}

/**
 * An EIP-3076 checker of its own, over what the signer actually signed (200
 * answers): no two blocks of one validator at one slot with different
 * contents, no double vote, no surround vote.
 */
function slashableOffences(signed: readonly Signed[]): string[] {
  const offences: string[] = [];
  const ok = signed.filter((s) => s.status === 200);
  const blocks = new Map<string, string>();
  const votes = new Map<string, { source: bigint; target: bigint; data: string }[]>();
  for (const { key, body } of ok) {
    if (body["type"] === "BLOCK_V2") {
      const header = (body["beacon_block"] as { block_header: { slot: string } }).block_header;
      const id = `${key}@${header.slot}`;
      const content = JSON.stringify(header);
      if (blocks.has(id) && blocks.get(id) !== content) offences.push(`double block ${id}`);
      blocks.set(id, content);
    } else if (body["type"] === "ATTESTATION") {
      const data = body["attestation"] as { source: { epoch: string }; target: { epoch: string } };
      const vote = { source: BigInt(data.source.epoch), target: BigInt(data.target.epoch), data: JSON.stringify(data) };
      const previous = votes.get(key) ?? [];
      for (const other of previous) {
        if (other.target === vote.target && other.data !== vote.data) offences.push(`double vote ${key} target ${vote.target}`);
        if ((other.source < vote.source && vote.target < other.target) || (vote.source < other.source && other.target < vote.target)) offences.push(`surround vote ${key}`);
      }
      votes.set(key, [...previous, vote]);
    }
  }
  return offences;
}

describe("with PostgreSQL behind the parent's egress", () => {
  let postgres: PostgresServer;
  let sim: RunningSimulation;

  beforeAll(async () => {
    postgres = await startPostgresServer();
    sim = await startSimulation([`--database-url=${await postgres.createDatabase("faults")}`, "--demo-keys=4"]);
  });
  afterAll(async () => {
    await sim?.stop();
    await postgres?.dispose();
  });

  test("a malformed or an oversized control message is refused and logged; the enclave keeps signing", async () => {
    const transport = createSimulatedTransport({ simDir: sim.dir, cid: 3 });
    const stream = await transport.connect(16, 5001);
    const replies: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => replies.push(chunk));
    const ended = new Promise((resolve) => stream.once("end", resolve));
    stream.write(encodeFrame({ v: 1, id: 41, type: "bootstrap", config: { egress: "anywhere", proxyProtocol: false } }));
    stream.write(encodeFrame({ v: 1, id: 42, type: "seal" }));
    const oversized = Buffer.alloc(4);
    oversized.writeUInt32BE(1 << 30);
    await vi.waitFor(() => expect(Buffer.concat(replies).toString()).toContain('"id":42'));
    stream.write(oversized);
    await ended;
    stream.destroy();
    const answers = Buffer.concat(replies).toString();
    expect(answers).toMatch(/"id":41,"type":"error","message":"bootstrap.config.egress: expected a list/);
    expect(answers).toMatch(/"id":42,"type":"error","message":"control message: unknown type \\"seal\\""/);
    await vi.waitFor(() => expect(sim.logLines("enclave.log", "control message refused")).toHaveLength(3), { timeout: 5_000 });
    expect((await sign(sim, KEYS[0]!, randaoRequest(380_000n))).status).toBe(200);
  });

  test("the enclave killed mid-load: the parent restarts and re-bootstraps it, signing resumes, and nothing slashable was ever signed", async () => {
    const signed: Signed[] = [];
    let next = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const i = next++;
        const key = KEYS[i % KEYS.length]!;
        const epoch = 400_000n + BigInt(i);
        const body = i % 2 === 0 ? attestationRequest(epoch - 1n, epoch, i) : blockRequest(epoch * 32n, i);
        signed.push(await sign(sim, key, body));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    await vi.waitFor(() => expect(signed.filter((s) => s.status === 200).length).toBeGreaterThan(40), { timeout: 30_000 });
    const before = signed.filter((s) => s.status === 200);
    const enclavePid = sim.pid("enclave");
    process.kill(enclavePid, "SIGKILL");
    const killedAt = signed.length;
    // Signing resumes once the watchdog has restarted the enclave and it has unsealed its vault by attested KMS and loaded its sealed keys.
    await vi.waitFor(() => expect(signed.slice(killedAt).filter((s) => s.status === 200).length).toBeGreaterThan(40), { timeout: 90_000, interval: 500 });
    stop = true;
    await Promise.all(workers);

    expect(sim.pid("enclave")).not.toBe(enclavePid);
    expect(sim.logLines("parent.log", "restarting the enclave").length).toBeGreaterThan(0);
    expect(sim.logLines("enclave.log", "bootstrapped: serving").length).toBeGreaterThanOrEqual(2);
    // Nobody imported anything again: the new enclave unsealed itself and loaded the keys it had sealed.
    expect(sim.logLines("enclave.log", "vault unsealed").map((line) => line["via"])).toEqual(["kms"]);
    expect(sim.logLines("enclave.log", "sealed keys loaded").at(-1)).toMatchObject({ loaded: KEYS.length, failed: 0 });
    expect(sim.logLines("enclave.log", "key imported through the Key Manager API and sealed into the store").length).toBe(KEYS.length);
    // The failures in between were clean answers, never a hang or a dropped connection without one.
    for (const failure of signed.filter((s) => s.status !== 200)) expect([502, 503, 404]).toContain(failure.status);

    // The history survived the restart: what was signed before is refused if anything conflicting is asked now.
    const conflicting = before.slice(0, 10).map((s) => {
      const body = structuredClone(s.body);
      if (body["type"] === "BLOCK_V2") (body["beacon_block"] as { block_header: { body_root: string } }).block_header.body_root = `0x${"ee".repeat(32)}`;
      else (body["attestation"] as { beacon_block_root: string }).beacon_block_root = `0x${"ee".repeat(32)}`;
      return { key: s.key, body };
    });
    for (const { key, body } of conflicting) {
      const answer = await sign(sim, key, body);
      signed.push(answer);
      expect(answer.status).toBe(412);
    }
    expect(slashableOffences(signed)).toEqual([]);
  });

  test("PostgreSQL stopped: blocks and attestations are refused (503) until it returns; other types still sign", async () => {
    await postgres.stop();
    try {
      const block = await sign(sim, KEYS[2]!, blockRequest(14_000_000n, 1));
      expect(block.status).toBe(503);
      expect(JSON.parse(block.text)).toEqual({ message: expect.stringMatching(/slashing/i) });
      expect((await sign(sim, KEYS[2]!, attestationRequest(437_000n, 437_001n, 1))).status).toBe(503);
      expect((await sign(sim, KEYS[2]!, randaoRequest(437_001n))).status).toBe(200);
    } finally {
      await postgres.restart();
    }
    await vi.waitFor(async () => expect((await sign(sim, KEYS[2]!, blockRequest(14_000_001n, 1))).status).toBe(200), { timeout: 30_000, interval: 500 });
  });

  test("the parent killed: clients get clean errors, the parent comes back, adopts the running enclave, and signing recovers", async () => {
    const enclavePid = sim.pid("enclave");
    const parentPid = sim.pid("parent");
    process.kill(parentPid, "SIGKILL");
    const during = await sign(sim, KEYS[3]!, randaoRequest(438_000n));
    if (during.status !== 200) {
      expect(during.status).toBe(502);
      expect(JSON.parse(during.text)).toEqual({ message: expect.any(String) });
    }
    await vi.waitFor(() => expect(sim.pid("parent")).not.toBe(parentPid), { timeout: 10_000 });
    await vi.waitFor(async () => expect((await sign(sim, KEYS[3]!, randaoRequest(438_001n))).status).toBe(200), { timeout: 60_000, interval: 500 });
    expect(sim.pid("enclave")).toBe(enclavePid);
    expect(sim.logLines("parent.log", "adopted the enclave already running").length).toBeGreaterThan(0);
    expect((await sign(sim, KEYS[3]!, blockRequest(14_100_000n, 1))).status).toBe(200);
  });
});

describe("with DynamoDB behind a SigV4-checking front and short-lived credentials", () => {
  let sim: RunningSimulation;
  const LIFETIME_SECONDS = 12;

  beforeAll(async () => {
    sim = await startSimulation(["--slashing-backend=dynamodb", `--credentials-lifetime-seconds=${LIFETIME_SECONDS}`, "--demo-keys=2"]);
  });
  afterAll(() => sim?.stop());

  test("the parent refreshes and forwards credentials before they expire: no DynamoDB call fails across several lifetimes", async () => {
    const results: number[] = [];
    const until = Date.now() + 2.5 * LIFETIME_SECONDS * 1000;
    for (let i = 0; Date.now() < until; i++) {
      results.push((await sign(sim, KEYS[i % 2]!, attestationRequest(500_000n + BigInt(i), 500_001n + BigInt(i), i))).status);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(results.length).toBeGreaterThan(50);
    expect(results.filter((status) => status !== 200)).toEqual([]);
    expect(sim.logLines("parent.log", "forwarded refreshed AWS credentials to the enclave").length).toBeGreaterThanOrEqual(2);
  });
});
