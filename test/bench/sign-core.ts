// sign-core: signatures per second through the HTTP API (RANDAO_REVEAL, 64
// keys, keep-alive connections, loopback) against the raw @chainsafe/blst rate
// on every core; then p50/p99 latency at half of the measured API maximum.
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { startCli } from "../support/cli-process.ts";
import { encodePost, LeanHttpClient } from "../support/lean-http.ts";

const KEYS = 64;
const CONNECTIONS = 16;
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 8);
const cores = availableParallelism();

const RAW_WORKER = `
  const { parentPort, workerData } = require("node:worker_threads");
  const { SecretKey } = require(workerData.blst);
  const sk = SecretKey.fromKeygen(new Uint8Array(32).fill(1 + workerData.index));
  const message = new Uint8Array(32);
  let count = 0;
  const end = Date.now() + workerData.ms;
  while (Date.now() < end) { message[0] = count & 255; sk.sign(message).toBytes(); count++; }
  parentPort.postMessage(count);
`;

async function rawBlstRate(): Promise<number> {
  // The eval'd worker is CommonJS, so it gets the resolved path of blst's CommonJS entry.
  const blst = fileURLToPath(import.meta.resolve("@chainsafe/blst"));
  const counts = await Promise.all(
    Array.from({ length: cores }, (_, index) =>
      new Promise<number>((resolve, reject) => {
        const worker = new Worker(RAW_WORKER, { eval: true, workerData: { blst, index, ms: SECONDS * 1000 } });
        worker.once("message", (n: number) => void worker.terminate().then(() => resolve(n)));
        worker.once("error", reject);
      }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0) / SECONDS;
}

function randaoBody(epoch: number): string {
  return JSON.stringify({
    type: "RANDAO_REVEAL",
    fork_info: {
      fork: { previous_version: "0x04000000", current_version: "0x05000000", epoch: "364032" },
      genesis_validators_root: "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95",
    },
    randao_reveal: { epoch: String(epoch) },
  });
}

/** Pre-encoded requests: every key signs a spread of epochs, so no two consecutive requests are alike. */
function requestsFor(keys: string[]): Buffer[] {
  return Array.from({ length: 4096 }, (_, i) => encodePost(`/api/v1/eth2/sign/${keys[i % keys.length]}`, randaoBody(370000 + i)));
}

async function signOnce(client: LeanHttpClient, request: Buffer): Promise<void> {
  const status = await client.send(request);
  if (status !== 200) throw new Error(`sign failed with status ${status}`);
}

/** Closed loop: `concurrency` requests always in flight for SECONDS. */
async function maxApiRate(client: LeanHttpClient, requests: Buffer[], concurrency: number): Promise<number> {
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      for (let i = lane; performance.now() < end; i += concurrency) {
        await signOnce(client, requests[i % requests.length]!);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

/** Open loop at a fixed rate: latency is measured from the scheduled send time. */
async function latencyAt(client: LeanHttpClient, requests: Buffer[], rate: number): Promise<{ p50: number; p99: number }> {
  const total = Math.floor(rate * SECONDS);
  const start = performance.now();
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(signOnce(client, requests[i % requests.length]!).then(() => void latencies.push(performance.now() - due)));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2));
  return { p50: at(0.5), p99: at(0.99) };
}

const raw = await rawBlstRate();
const signer = startCli(["sim", "--http-port=0", `--demo-keys=${KEYS}`, "--log-level=warn"]);
try {
  const url = (await signer.waitForOutput(/endpoint:\s+(http:\/\/\S+)/))[1]!;
  const keys = (await (await fetch(`${url}/api/v1/eth2/publicKeys`)).json()) as string[];
  const requests = requestsFor(keys);
  const client = await LeanHttpClient.open(Number(new URL(url).port), CONNECTIONS);
  await maxApiRate(client, requests, CONNECTIONS); // warm-up
  const api = await maxApiRate(client, requests, CONNECTIONS);
  const latency = await latencyAt(client, requests, api / 2);
  client.close();
  console.log(
    JSON.stringify({
      name: "sign-core",
      cores,
      keys: KEYS,
      connections: CONNECTIONS,
      seconds: SECONDS,
      rawBlstSignaturesPerSecond: Math.round(raw),
      apiSignaturesPerSecond: Math.round(api),
      apiToRawRatio: Number((api / raw).toFixed(3)),
      goalRatio: 0.6,
      latencyAtHalfMaxMs: { rate: Math.round(api / 2), ...latency },
    }),
  );
} finally {
  await signer.stop();
}
