import { afterAll, beforeAll, expect, test } from "vitest";
import { Pool } from "undici";
import { startStandardSigner, type StandardSigner } from "./support/standard-signer.ts";
import { ONE_OF_EACH_SIGNING_TYPE } from "./support/mainnet-requests.ts";
import { pick, seededRandom } from "./support/random.ts";

/** One valid body per signing type, and for the other routes: the seeds that the mutations below break. */
const VALID_BODIES: Record<string, unknown>[] = [
  ...ONE_OF_EACH_SIGNING_TYPE,
  { keystores: ["{}"], passwords: ["x"] },
  { pubkeys: [`0x${"ab".repeat(48)}`] },
  { name: "fuzzed token", policies: ["admin"], expires_at: "2099-01-01T00:00:00Z" },
  { name: "fuzzed", rules: [{ effect: "allow", scopes: ["sign"], keys: [`0x${"ab".repeat(48)}`], operations: ["BLOCK_V2"], cidrs: ["10.0.0.0/8", "::1"] }] },
];

const BAD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, 2 ** 64, "", "-1", "+1", " 1", "1e3", "18446744073709551616",
  "99999999999999999999999999999999999999", "0x", "0xzz", `0x${"ab".repeat(4096)}`, "x".repeat(10_000),
  [], {}, [[[[]]]], { a: { b: { c: {} } } }, "RANDAO_REVEAL", "\u0000\uffff",
];

function mutate(random: () => number, value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0 || random() < 0.3) return pick(random, BAD_VALUES);
    const copy = [...value];
    const i = Math.floor(random() * copy.length);
    copy[i] = mutate(random, copy[i]);
    return copy;
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0 || random() < 0.15) return pick(random, BAD_VALUES);
    const [key, child] = pick(random, entries);
    const copy: Record<string, unknown> = { ...value };
    if (random() < 0.25) delete copy[key];
    else copy[key] = mutate(random, child);
    return copy;
  }
  return pick(random, BAD_VALUES);
}

function randomBytes(random: () => number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
}

function deepNesting(random: () => number): string {
  const depth = pick(random, [1_000, 50_000, 200_000]);
  return random() < 0.5 ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

interface Attack {
  readonly method: string;
  readonly path: string;
  readonly body?: string | Buffer;
  readonly contentType?: string;
  readonly authorization?: string;
}

const PATHS = (key: string) => [
  `/api/v1/eth2/sign/${key}`,
  `/api/v1/eth2/sign/${key.slice(2).toUpperCase()}`,
  `/api/v1/eth2/sign/0x${"ab".repeat(48)}`,
  "/api/v1/eth2/sign/%zz",
  "/api/v1/eth2/sign/",
  "/api/v1/eth2/publicKeys",
  "/eth/v1/keystores",
  "/upcheck",
  "/healthcheck",
  "/../../etc/passwd",
  "/api/v1/strongroom/tokens",
  "/api/v1/strongroom/tokens/tok_0123456789abcdef",
  "/api/v1/strongroom/tokens/%zz",
  "/api/v1/strongroom/policies",
  "/api/v1/strongroom/policies/fuzzed",
  `/api/v1/strongroom/policies/${"p".repeat(300)}`,
  "/api/v1/strongroom/signing",
  "/api/v1/strongroom/signing/resume",
  `/api/v1/strongroom/slashing-protection?pubkeys=${key},0xzz`,
  "/api/v1/strongroom/slashing-protection?pubkeys=",
  "/metrics",
];

/** Authorization headers: none, the administrator's, and every way of getting one wrong. */
function authorization(random: () => number, adminToken: string): string | undefined {
  const printable = (length: number) => Array.from({ length }, () => String.fromCharCode(0x21 + Math.floor(random() * 94))).join("");
  const base64 = (text: string) => Buffer.from(text, "latin1").toString("base64");
  return pick(random, [
    undefined,
    undefined,
    `Bearer ${adminToken}`,
    `Basic ${base64(`operator:${adminToken}`)}`,
    "Bearer",
    "Bearer ",
    "Bearer   \t",
    `Bearer ${adminToken} extra`,
    `Bearer ${adminToken.slice(0, -1)}!`,
    `Bearer ${adminToken}A`,
    `bEaReR ${printable(46)}`,
    `Basic ${base64(adminToken)}`,
    `Basic ${printable(60)}`,
    "Basic ====",
    `Basic ${base64(`:${printable(46)}`)}`,
    `Basic ${base64(`\u00ff\u0000:${adminToken}`)}`,
    `Negotiate ${printable(100)}`,
    printable(Math.floor(random() * 200)),
    `Bearer ${printable(2000)}`,
    `Bearer sr_${"A".repeat(43)}`,
  ]);
}

function attack(random: () => number, key: string, adminToken: string): Attack {
  const path = pick(random, PATHS(key));
  const method = pick(random, ["POST", "POST", "POST", "GET", "DELETE", "PUT"]);
  const seed = pick(random, VALID_BODIES);
  const kind = random();
  let body: string | Buffer;
  if (kind < 0.45) body = JSON.stringify(mutate(random, seed));
  else if (kind < 0.6) {
    const text = JSON.stringify(seed);
    body = text.slice(0, Math.floor(random() * text.length));
  } else if (kind < 0.75) body = randomBytes(random, Math.floor(random() * 2048));
  else if (kind < 0.85) body = deepNesting(random);
  else if (kind < 0.87) body = Buffer.alloc((1 << 20) + 1 + Math.floor(random() * (1 << 20)), 0x7b);
  else body = JSON.stringify({ ...seed, type: pick(random, ["", "block", "ATTESTATION ", "sign", 7, null]) });
  const contentType = pick(random, ["application/json", "application/json", "application/json; charset=utf-8", "text/plain", undefined]);
  const credentials = authorization(random, adminToken);
  return { method, path, body, ...(contentType !== undefined && { contentType }), ...(credentials !== undefined && { authorization: credentials }) };
}

let signer: StandardSigner;
let pool: Pool;
let url: string;
let key0: string;
let adminToken: string;

beforeAll(async () => {
  signer = await startStandardSigner(2, ["--log-level=warn"]);
  url = signer.url;
  pool = new Pool(url, { connections: 8 });
  key0 = signer.publicKeys[0]!;
  adminToken = signer.adminToken;
});

afterAll(async () => {
  await pool?.close();
  await signer?.cli.stop();
});

test("2,000 malformed requests, with and without credentials, to every route: no 5xx, no crash, and the signer still signs", async () => {
  const random = seededRandom(20261121);
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let managementAnswered = 0;
  for (let batch = 0; batch < 250; batch++) {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const a = attack(random, key0, adminToken);
        const headers: Record<string, string> = {
          ...(a.contentType !== undefined && { "content-type": a.contentType }),
          ...(a.authorization !== undefined && { authorization: a.authorization }),
        };
        const res = await pool.request({ method: a.method as "POST", path: a.path, body: a.body ?? null, headers });
        await res.body.dump();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (a.path.startsWith("/api/v1/strongroom/") && res.statusCode < 300) managementAnswered++;
        if (res.statusCode >= 500) failures.push(`${a.method} ${a.path} → ${res.statusCode}: ${String(a.body).slice(0, 200)}`);
      }),
    );
  }
  expect(failures).toEqual([]);
  expect([...statuses.values()].reduce((a, b) => a + b)).toBe(2000);
  // The mix reached authentication, policy, the parser, the size limit and the content-type check, not only the router.
  for (const status of [200, 400, 401, 403, 404, 413, 415]) expect(statuses.get(status) ?? 0).toBeGreaterThan(0);
  // The administrator's token got through to the management handlers, so their parsers were fuzzed too.
  expect(managementAnswered).toBeGreaterThan(0);

  expect(signer.cli.child.exitCode).toBeNull();
  const res = await fetch(`${url}/api/v1/eth2/sign/${key0}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(VALID_BODIES[0]),
  });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { signature: string }).signature).toMatch(/^0x[0-9a-f]{192}$/);
});

test("garbage that is not HTTP at all gets a 400 and the server stays up", async () => {
  const { connect } = await import("node:net");
  const { port } = new URL(url);
  for (const garbage of ["\x00\x01\x02\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", `POST /upcheck HTTP/1.1\r\n${"x: y\r\n".repeat(20000)}\r\n`]) {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), "127.0.0.1", () => socket.end(garbage));
      let data = "";
      socket.on("data", (chunk) => (data += chunk.toString()));
      socket.on("close", () => resolve(data));
      socket.on("error", () => resolve(data));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 4\d\d/);
  }
  expect((await fetch(`${url}/upcheck`)).status).toBe(200);
});
