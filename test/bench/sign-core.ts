// sign-core: signatures per second through the HTTP API (RANDAO_REVEAL, 64
// keys, keep-alive connections, loopback) against the raw @chainsafe/blst rate
// on every core; then p50/p99 latency at half of the measured API maximum.
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Pool } from "undici";
import { startCli } from "../support/cli-process.ts";

const KEYS = 64;
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

async function signOnce(pool: Pool, key: string, epoch: number): Promise<void> {
  const res = await pool.request({
    method: "POST",
    path: `/api/v1/eth2/sign/${key}`,
    headers: { "content-type": "application/json", accept: "application/json" },
    body: randaoBody(epoch),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`sign failed: ${res.statusCode} ${text}`);
}

/** Closed loop: `concurrency` requests always in flight for SECONDS. */
async function maxApiRate(pool: Pool, keys: string[], concurrency: number): Promise<number> {
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      for (let i = lane; performance.now() < end; i += concurrency) {
        await signOnce(pool, keys[i % keys.length]!, 370000 + (i % 1000));
        done++;
      }
    }),
  );
  return done / SECONDS;
}

/** Open loop at a fixed rate: latency is measured from the scheduled send time. */
async function latencyAt(pool: Pool, keys: string[], rate: number): Promise<{ p50: number; p99: number }> {
  const total = Math.floor(rate * SECONDS);
  const start = performance.now();
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(signOnce(pool, keys[i % keys.length]!, 370000 + i).then(() => void latencies.push(performance.now() - due)));
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
  const pool = new Pool(url, { connections: 16, pipelining: 1 });
  await maxApiRate(pool, keys, 32); // warm-up
  const api = await maxApiRate(pool, keys, 64);
  const latency = await latencyAt(pool, keys, api / 2);
  await pool.close();
  console.log(
    JSON.stringify({
      name: "sign-core",
      cores,
      keys: KEYS,
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
