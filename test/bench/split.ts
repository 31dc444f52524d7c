// split: attestations per second with slashing protection through the whole
// split path under the simulator — client → gateway → parent → enclave →
// egress → PostgreSQL (a real server) — and p50/p99 latency at half that
// maximum; in the same run the standard-mode API rate (the sign-core figure)
// for the ratio; and CPU time per signature in each process of the path, the
// enclave's apart from the others.
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { blsPublicKey, interopSecretKey } from "@strongroom/keystore";
import { encodePost, LeanHttpClient } from "../support/lean-http.ts";
import { closedLoop, openLoop } from "../support/load.ts";
import { attestationRequest, randaoRequest } from "../support/mainnet-requests.ts";
import { startPostgresServer } from "../support/postgres-server.ts";
import { startSimulation } from "../support/simulation.ts";
import { startStandardSigner } from "../support/standard-signer.ts";

const KEYS = 32;
const CONNECTIONS = 16;
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 8);
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Processes whose command line contains `text` (the simulator's directory names its processes). */
function pidsWith(text: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(text);
      } catch {
        return false;
      }
    });
}

/** Every key attests to a new target epoch each time: each request is a real check-and-record in PostgreSQL. */
function attestationSender(client: LeanHttpClient, keys: readonly string[]): () => Promise<void> {
  let next = 0;
  return async () => {
    const i = next++;
    const target = 600_000n + BigInt(Math.floor(i / keys.length));
    const status = await client.send(encodePost(`/api/v1/eth2/sign/${keys[i % keys.length]}`, JSON.stringify(attestationRequest(target - 1n, target, i)), "application/json"));
    if (status !== 200) throw new Error(`attestation failed with status ${status}`);
  };
}

async function standardRate(): Promise<number> {
  const signer = await startStandardSigner(KEYS, ["--log-level=warn"]);
  try {
    const client = await LeanHttpClient.open(Number(new URL(signer.url).port), CONNECTIONS);
    let next = 0;
    const requests = Array.from({ length: 4096 }, (_, i) =>
      encodePost(`/api/v1/eth2/sign/${signer.publicKeys[i % KEYS]}`, JSON.stringify(randaoRequest(BigInt(370_000 + i))), "application/json"),
    );
    const send = async () => {
      if ((await client.send(requests[next++ % requests.length]!)) !== 200) throw new Error("sign failed");
    };
    await closedLoop(send, CONNECTIONS, 2);
    const rate = await closedLoop(send, CONNECTIONS, SECONDS);
    client.close();
    return rate;
  } finally {
    await signer.cli.stop();
  }
}

const signCore = await standardRate();
const postgres = await startPostgresServer();
const sim = await startSimulation([`--database-url=${await postgres.createDatabase("bench")}`, `--demo-keys=${KEYS}`, "--log-level=warn"]);
try {
  const keys = Array.from({ length: KEYS }, (_, i) => `0x${Buffer.from(blsPublicKey(interopSecretKey(i), "interop")).toString("hex")}`);
  const client = await LeanHttpClient.open(Number(new URL(sim.gatewayUrl).port), CONNECTIONS);
  const send = attestationSender(client, keys);
  await closedLoop(send, CONNECTIONS, 2); // warm-up: connections, pools, JIT

  const processes = {
    enclave: [sim.pid("enclave")],
    parent: [sim.pid("parent")],
    gateway: pidsWith(`${sim.dir}/pcrs.json`),
    postgres: postgres.pid === undefined ? [] : [postgres.pid, ...pidsWith(`postgres: `)],
  };
  const before = Object.fromEntries(Object.entries(processes).map(([name, pids]) => [name, pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)]));
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  let signed = 0;
  const counted = async () => {
    await send();
    signed++;
  };
  const rate = await closedLoop(counted, CONNECTIONS, SECONDS);
  const elapsed = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  const cpuMsPerSignature: Record<string, number> = {};
  for (const [name, pids] of Object.entries(processes)) {
    const used = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - before[name]!;
    cpuMsPerSignature[name] = Number(((used * 1000) / signed).toFixed(3));
  }
  cpuMsPerSignature["benchClient"] = Number(((clientCpu.user + clientCpu.system) / 1000 / signed).toFixed(3));

  const latency = await openLoop(send, rate / 2, SECONDS);
  client.close();
  console.log(
    JSON.stringify({
      name: "split",
      cores: availableParallelism(),
      keys: KEYS,
      connections: CONNECTIONS,
      seconds: SECONDS,
      path: "client → gateway → parent → enclave (simulated) → egress → PostgreSQL",
      attestationsPerSecond: Math.round(rate),
      latencyAtHalfMaxMs: { rate: Math.round(rate / 2), ...latency },
      signCoreSignaturesPerSecond: Math.round(signCore),
      splitToSignCoreRatio: Number((rate / signCore).toFixed(3)),
      cpuMsPerSignature,
      enclaveCpuMsPerSignature: cpuMsPerSignature["enclave"],
      otherProcessesCpuMsPerSignature: Number(
        Object.entries(cpuMsPerSignature)
          .filter(([name]) => name !== "enclave")
          .reduce((sum, [, ms]) => sum + ms, 0)
          .toFixed(3),
      ),
      measuredSeconds: Number(elapsed.toFixed(2)),
    }),
  );
} finally {
  await sim.stop();
  await postgres.dispose();
}
