// sign-core: signatures per second through the HTTP API (RANDAO_REVEAL, 64
// keys, keep-alive connections, loopback) against the raw @chainsafe/blst rate
// on every core; then p50/p99 latency at half of the measured API maximum;
// then the same load with auth on (one token whose policy lists the 64 keys)
// against the same load without a token (the loopback unauthenticated policy),
// in alternating rounds so that drift on a shared machine hits both alike.
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { startStandardSigner } from "../support/standard-signer.ts";
import { encodePost, LeanHttpClient } from "../support/lean-http.ts";
import { closedLoop, openLoop } from "../support/load.ts";
import { randaoRequest } from "../support/mainnet-requests.ts";

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

/** Pre-encoded requests: every key signs a spread of epochs, so no two consecutive requests are alike. */
function requestsFor(keys: string[], headers: Record<string, string> = {}): Buffer[] {
  return Array.from({ length: 4096 }, (_, i) =>
    encodePost(`/api/v1/eth2/sign/${keys[i % keys.length]}`, JSON.stringify(randaoRequest(BigInt(370000 + i))), "application/json", headers),
  );
}

/** A token whose one policy allows signing with exactly these keys from loopback, made through the management API. */
async function tokenFor(url: string, adminToken: string, keys: string[]): Promise<string> {
  const manage = (path: string, body: unknown) =>
    fetch(`${url}/api/v1/strongroom/${path}`, { method: "POST", headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const policy = await manage("policies", { name: "bench", rules: [{ effect: "allow", scopes: ["sign", "public_keys"], keys, operations: "*", cidrs: ["127.0.0.0/8", "::1"] }] });
  if (policy.status !== 201) throw new Error(`policy: ${policy.status} ${await policy.text()}`);
  const token = await manage("tokens", { name: "bench", policies: ["bench"] });
  if (token.status !== 201) throw new Error(`token: ${token.status} ${await token.text()}`);
  return ((await token.json()) as { token: string }).token;
}

/** Sends the requests in turn, failing on anything but 200. */
function sender(client: LeanHttpClient, requests: Buffer[]): () => Promise<void> {
  let next = 0;
  return async () => {
    const status = await client.send(requests[next++ % requests.length]!);
    if (status !== 200) throw new Error(`sign failed with status ${status}`);
  };
}

const raw = await rawBlstRate();
const signer = await startStandardSigner(KEYS, ["--log-level=warn"]);
try {
  const { url, adminToken } = signer;
  const keys = [...signer.publicKeys];
  const requests = requestsFor(keys);
  const client = await LeanHttpClient.open(Number(new URL(url).port), CONNECTIONS);
  const send = sender(client, requests);
  await closedLoop(send, CONNECTIONS, 2); // warm-up
  const api = await closedLoop(send, CONNECTIONS, SECONDS);
  const latency = await openLoop(send, api / 2, SECONDS);

  const sendWithToken = sender(client, requestsFor(keys, { authorization: `Bearer ${await tokenFor(url, adminToken, keys)}` }));
  await closedLoop(sendWithToken, CONNECTIONS, 1); // warm-up of the authenticated path
  const rounds = { withoutAuth: [] as number[], withAuth: [] as number[] };
  for (let round = 0; round < 3; round++) {
    rounds.withoutAuth.push(await closedLoop(send, CONNECTIONS, SECONDS / 2));
    rounds.withAuth.push(await closedLoop(sendWithToken, CONNECTIONS, SECONDS / 2));
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
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
      auth: {
        policyKeys: keys.length,
        withoutAuthSignaturesPerSecond: Math.round(mean(rounds.withoutAuth)),
        withAuthSignaturesPerSecond: Math.round(mean(rounds.withAuth)),
        withToWithoutRatio: Number((mean(rounds.withAuth) / mean(rounds.withoutAuth)).toFixed(3)),
        goalRatio: 0.95,
        rounds,
      },
    }),
  );
} finally {
  await signer.cli.stop();
}
