// A real signer process with small admission limits: a flood gets 503 with
// Retry-After, memory stays bounded, /upcheck keeps answering, every admitted
// request is answered correctly, and slow clients are cut off without
// blocking others.
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { PublicKey, Signature, verify } from "@chainsafe/blst";
import { Pool } from "undici";
import { namedNetwork, parseSigningRequest } from "@strongroom/eth2";
import { startCli, type CliProcess } from "./support/cli-process.ts";
import { interopKeyConfigDir } from "./support/interop-key-files.ts";
import { randaoRequest } from "./support/mainnet-requests.ts";

const FLOOD = 4_000;
/**
 * Each flood request carries this much padding (an unknown field, ignored):
 * 256 MiB over the flood, so a signer that buffered what it cannot admit would
 * grow far past the bound below.
 */
const PADDING = "x".repeat(64 << 10);
/**
 * The signer's resident memory may grow by at most half the flood's payload
 * (heap and buffers at work included; about 70 MiB was seen here).
 */
const MEMORY_BOUND_MIB = 128;

let signer: CliProcess;
let url: string;
const keys = interopKeyConfigDir(4);

beforeAll(async () => {
  signer = startCli([
    "signer",
    "--auth-unauthenticated-policy=loopback",
    "--http-port=0",
    `--key-config-path=${keys.dir}`,
    "--slashing-protection-in-memory",
    "--signing-threads=1",
    "--max-concurrent-signings=2",
    "--max-queued-signings=8",
    "--queue-deadline-ms=200",
    "--http-header-timeout-ms=500",
    "--http-request-timeout-ms=1000",
  ]);
  url = (await signer.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
  await signer.waitForOutput(/key loading finished/);
});
afterAll(() => signer?.stop());

const residentMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${signer.child.pid}/status`, "utf8"))![1]) / 1024;

test("a flood beyond the limits: 503 with Retry-After, bounded memory, upcheck answers, admitted requests are right", async () => {
  const pool = new Pool(url, { connections: 128 });
  const network = namedNetwork("mainnet");
  const flood = (count: number, onAnswer: (status: number, retryAfter: unknown, key: string, body: Record<string, unknown>, text: string) => void) =>
    Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const key = keys.publicKeys[i % keys.publicKeys.length]!;
        const body = { ...randaoRequest(BigInt(370_000 + i)), padding: PADDING };
        const res = await pool.request({ method: "POST", path: `/api/v1/eth2/sign/${key}`, headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(body) });
        onAnswer(res.statusCode, res.headers["retry-after"], key, body, await res.body.text());
      }),
    );
  // A first flood brings the heap and the connection buffers to their working size; the bound is on growth beyond it.
  await flood(FLOOD / 4, () => undefined);
  const before = residentMiB();
  let peak = before;
  const statuses = new Map<number, number>();
  const upcheckLatencies: number[] = [];
  let flooding = true;
  const watcher = (async () => {
    while (flooding) {
      const start = performance.now();
      const res = await fetch(`${url}/upcheck`);
      expect(res.status).toBe(200);
      upcheckLatencies.push(performance.now() - start);
      peak = Math.max(peak, residentMiB());
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  await flood(FLOOD, (status, retryAfter, key, body, text) => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status === 503) {
      expect(retryAfter).toBe("1");
      expect(JSON.parse(text).message).toMatch(/overloaded/);
    } else {
      // Admitted: the signature is right for this very request.
      expect(status).toBe(200);
      const root = parseSigningRequest(body, network).signingRoot;
      expect(verify(root, PublicKey.fromHex(key), Signature.fromHex(JSON.parse(text).signature))).toBe(true);
    }
  });
  flooding = false;
  await watcher;
  await pool.close();

  expect(statuses.get(503) ?? 0).toBeGreaterThan(FLOOD / 10);
  expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
  expect([...statuses.keys()].sort()).toEqual([200, 503]);
  expect(peak - before).toBeLessThan(MEMORY_BOUND_MIB);
  expect(upcheckLatencies.length).toBeGreaterThan(0);
  expect(signer.child.exitCode).toBeNull();
});

/** Opens a raw connection, sends `parts` with `gapMs` between them, and reports how long until the server closed it. */
function trickle(parts: string[], gapMs: number): Promise<{ closedAfterMs: number; reply: string }> {
  return new Promise((resolve) => {
    const { port } = new URL(url);
    const start = performance.now();
    let reply = "";
    const socket = connect(Number(port), "127.0.0.1");
    let i = 0;
    const timer = setInterval(() => {
      if (i < parts.length && !socket.destroyed) socket.write(parts[i++]!);
    }, gapMs);
    socket.on("data", (chunk) => (reply += chunk.toString()));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ closedAfterMs: performance.now() - start, reply });
    });
  });
}

test("slow-header and slow-body clients are cut off while others are served", async () => {
  const key = keys.publicKeys[0]!;
  const headerParts = [`POST /api/v1/eth2/sign/${key} HTTP/1.1\r\n`, ...Array.from({ length: 100 }, (_, i) => `x-slow-${i}: y\r\n`)];
  const body = JSON.stringify(randaoRequest(1n));
  const bodyParts = [
    `POST /api/v1/eth2/sign/${key} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    ...body.split(""),
  ];
  const slowHeaders = trickle(headerParts, 50);
  const slowBody = trickle(bodyParts, 50);

  // Meanwhile, ordinary clients are served at once.
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${url}/api/v1/eth2/sign/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(randaoRequest(BigInt(i))) });
    expect(res.status).toBe(200);
  }

  const [headers, bodies] = await Promise.all([slowHeaders, slowBody]);
  // Cut off near the 500 ms header and 1 s request deadlines, long before they could finish (5 s and more of trickling).
  expect(headers.closedAfterMs).toBeLessThan(3_000);
  expect(headers.reply).toMatch(/^HTTP\/1\.1 408/);
  expect(bodies.closedAfterMs).toBeLessThan(4_000);
  expect(bodies.reply).not.toMatch(/^HTTP\/1\.1 200/);
});
