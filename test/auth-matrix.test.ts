// The auth matrix over real HTTP: tokens × policies × scopes × keys × signing
// operations × source addresses × expiry, each request's status compared with
// an oracle written out by hand from the policies below (not from the
// evaluator). Sources are real: the signer listens on [::] and the client
// binds 127.0.0.1, 127.0.0.2 or ::1 as its local address.
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Pool } from "undici";
import { SecretKey } from "@chainsafe/blst";
import { interopSecretKey } from "@strongroom/keystore";
import type { RunningSigner, TokenStore } from "@strongroom/enclave";
import { openTestAuth, startTestSigner } from "../enclave/test/harness.ts";
import { aggregationSlotRequest, attestationRequest, blockRequest, randaoRequest, voluntaryExitRequest } from "./support/mainnet-requests.ts";

const publicKeyOf = (i: number) => `0x${Buffer.from(SecretKey.fromBytes(interopSecretKey(i)).toPublicKey().toBytes()).toString("hex")}`;
/** K0–K2 are loaded; K3 is not (an allowed request for it is a 404). */
const [K0, K1, K2, K3] = [0, 1, 2, 3].map(publicKeyOf) as [string, string, string, string];
const KEYS = [K0, K1, K2, K3];
const LOADED = [K0, K1, K2];

const SOURCES = ["127.0.0.1", "127.0.0.2", "::1"] as const;
type Source = (typeof SOURCES)[number];

const OPERATIONS = {
  RANDAO_REVEAL: randaoRequest(370_000n),
  ATTESTATION: attestationRequest(369_999n, 370_000n, 7),
  BLOCK_V2: blockRequest(11_840_000n, 7),
  VOLUNTARY_EXIT: voluntaryExitRequest(370_000n, 42),
  AGGREGATION_SLOT: aggregationSlotRequest(11_840_000n),
} as const;
type Operation = keyof typeof OPERATIONS;

// ---------------------------------------------------------------------------
// The policies, and the oracle: what each one allows, written out plainly.

const POLICIES = [
  {
    // A validator client: its two keys, everything but exits, from loopback IPv4.
    name: "vc",
    rules: [
      { effect: "allow", scopes: ["sign", "public_keys"], keys: [K0, K1], operations: "*", cidrs: ["127.0.0.0/8"] },
      { effect: "deny", scopes: ["sign"], keys: "*", operations: ["VOLUNTARY_EXIT"], cidrs: "*" },
    ],
  },
  // An exit workflow: exits only, for K2, only from ::1.
  { name: "exit-only", rules: [{ effect: "allow", scopes: ["sign"], keys: [K2], operations: ["VOLUNTARY_EXIT"], cidrs: ["::1"] }] },
  // Monitoring: metrics only, only from 127.0.0.2.
  { name: "monitoring", rules: [{ effect: "allow", scopes: ["metrics"], keys: "*", operations: "*", cidrs: ["127.0.0.2/32"] }] },
  // Key management for K1 and K2, but never deleting or importing K1.
  {
    name: "km",
    rules: [
      { effect: "allow", scopes: ["keymanager_read", "keymanager_write", "slashing_export"], keys: [K1, K2], operations: "*", cidrs: "*" },
      { effect: "deny", scopes: ["keymanager_write"], keys: [K1], operations: "*", cidrs: "*" },
    ],
  },
  // A deny across policies: combined with vc, it takes K1's signing away from ::1 and 127.0.0.2.
  // (Not "::/0": IPv4 lives in IPv6 as ::ffff:0:0/96, so ::/0 would match every source.)
  { name: "no-k1-off-host", rules: [{ effect: "deny", scopes: ["sign"], keys: [K1], operations: "*", cidrs: ["127.0.0.2/32", "::1"] }] },
  { name: "admin", rules: [{ effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: "*" }] },
] as const;

type Scope = "sign" | "public_keys" | "keymanager_read" | "keymanager_write" | "slashing_export" | "manage" | "metrics";
interface Ask {
  scope: Scope;
  key?: string;
  operation?: Operation;
  source: Source;
}

const ipv4 = (s: Source) => s !== "::1";
const ORACLE: Record<string, (ask: Ask) => boolean> = {
  vc: ({ scope, key, operation, source }) =>
    (scope === "sign" || scope === "public_keys") && (key === K0 || key === K1) && ipv4(source) && !(scope === "sign" && operation === "VOLUNTARY_EXIT"),
  "exit-only": ({ scope, key, operation, source }) => scope === "sign" && key === K2 && operation === "VOLUNTARY_EXIT" && source === "::1",
  monitoring: ({ scope, source }) => scope === "metrics" && source === "127.0.0.2",
  km: ({ scope, key }) => (scope === "keymanager_read" || scope === "slashing_export" || scope === "keymanager_write") && (key === K1 || key === K2) && !(scope === "keymanager_write" && key === K1),
  admin: () => true,
};
/** Deny-only policies: true when they refuse. */
const DENIES: Record<string, (ask: Ask) => boolean> = {
  "no-k1-off-host": ({ scope, key, source }) => scope === "sign" && key === K1 && source !== "127.0.0.1",
};

function oracle(policies: readonly string[], ask: Ask): boolean {
  if (policies.some((p) => DENIES[p]?.(ask))) return false;
  return policies.some((p) => ORACLE[p]?.(ask));
}

// ---------------------------------------------------------------------------
// The tokens.

interface Credential {
  name: string;
  /** The Authorization header; undefined: none. */
  header?: string;
  /** Policies, for a valid token; undefined: expect 401. */
  policies?: readonly string[];
}

let signer: RunningSigner;
let auth: TokenStore;
const credentials: Credential[] = [];

const bearer = (token: Buffer) => `Bearer ${token.toString("ascii")}`;
const basic = (token: Buffer) => `Basic ${Buffer.from(`validator:${token.toString("ascii")}`).toString("base64")}`;

beforeAll(async () => {
  auth = openTestAuth(null);
  for (const policy of POLICIES) await auth.putPolicy(policy);
  const token = async (policies: string[]) => (await auth.createToken(policies.join("+"), policies)).token;
  credentials.push(
    { name: "vc (Bearer)", header: bearer(await token(["vc"])), policies: ["vc"] },
    { name: "vc (Basic)", header: basic(await token(["vc"])), policies: ["vc"] },
    { name: "exit-only", header: bearer(await token(["exit-only"])), policies: ["exit-only"] },
    { name: "monitoring", header: bearer(await token(["monitoring"])), policies: ["monitoring"] },
    { name: "vc+km", header: bearer(await token(["vc", "km"])), policies: ["vc", "km"] },
    { name: "vc+no-k1-off-host", header: bearer(await token(["vc", "no-k1-off-host"])), policies: ["vc", "no-k1-off-host"] },
    { name: "admin+no-k1-off-host", header: bearer(await token(["admin", "no-k1-off-host"])), policies: ["admin", "no-k1-off-host"] },
    { name: "no credentials" },
    { name: "unknown token", header: `Bearer sr_${"Q".repeat(43)}` },
    { name: "not a token", header: "Bearer hunter2" },
    { name: "unsupported scheme", header: `Digest ${"x".repeat(20)}` },
  );
  const revoked = await auth.createToken("revoked", ["admin"]);
  await auth.revokeToken(revoked.id);
  credentials.push({ name: "revoked admin token", header: bearer(revoked.token) });
  signer = await startTestSigner({ interopKeys: 3, listen: { host: "::", port: 0 }, auth, slashingProtection: { url: "pglite:memory", timeoutMs: 10_000 } });
});
afterAll(() => signer?.close());

// ---------------------------------------------------------------------------
// Requests.

interface Answer {
  status: number;
  body: string;
}

function call(method: string, path: string, source: Source, header: string | undefined, body?: unknown): Promise<Answer> {
  const port = Number(new URL(signer.url.replace("[::]", "[::1]")).port);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      {
        host: source === "::1" ? "::1" : "127.0.0.1",
        localAddress: source,
        port,
        method,
        path,
        headers: { accept: "application/json", ...(payload !== undefined && { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) }), ...(header !== undefined && { authorization: header }) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

interface Probe {
  label: string;
  ask: Omit<Ask, "source">;
  send: (source: Source, header: string | undefined) => Promise<Answer>;
  /** The status of an allowed request. */
  allowed: number;
}

const PROBES: Probe[] = [
  ...KEYS.flatMap((key) =>
    (Object.keys(OPERATIONS) as Operation[]).map((operation) => ({
      label: `sign ${operation} ${key.slice(0, 10)}`,
      ask: { scope: "sign" as const, key, operation },
      send: (source: Source, header: string | undefined) => call("POST", `/api/v1/eth2/sign/${key}`, source, header, OPERATIONS[operation]),
      allowed: LOADED.includes(key) ? 200 : 404,
    })),
  ),
  ...KEYS.map((key) => ({
    label: `delete ${key.slice(0, 10)}`,
    ask: { scope: "keymanager_write" as const, key },
    // Keys loaded at start are read-only: an allowed delete answers 200 with a per-key error, nothing is removed.
    send: (source: Source, header: string | undefined) => call("DELETE", "/eth/v1/keystores", source, header, { pubkeys: [key] }),
    allowed: 200,
  })),
  ...KEYS.map((key) => ({
    label: `slashing export ${key.slice(0, 10)}`,
    ask: { scope: "slashing_export" as const, key },
    send: (source: Source, header: string | undefined) => call("GET", `/api/v1/strongroom/slashing-protection?pubkeys=${key}`, source, header),
    allowed: 200,
  })),
  { label: "list tokens", ask: { scope: "manage" }, send: (source, header) => call("GET", "/api/v1/strongroom/tokens", source, header), allowed: 200 },
  { label: "list policies", ask: { scope: "manage" }, send: (source, header) => call("GET", "/api/v1/strongroom/policies", source, header), allowed: 200 },
  { label: "metrics", ask: { scope: "metrics" }, send: (source, header) => call("GET", "/metrics", source, header), allowed: 200 },
];

/** Keys on which `policies` hold `scope` from `source`, in the order the signer lists them; undefined: on none at all (403). */
function expectedListing(policies: readonly string[], scope: Scope, source: Source): string[] | undefined {
  const anyKey = [...KEYS, publicKeyOf(9)].some((key) => oracle(policies, { scope, key, source }));
  if (!anyKey) return undefined;
  return LOADED.filter((key) => oracle(policies, { scope, key, source }));
}

describe.each(SOURCES)("from %s", (source) => {
  test("every credential × every scope, key and operation", async () => {
    let allowedCount = 0;
    let forbiddenCount = 0;
    for (const credential of credentials) {
      for (const probe of PROBES) {
        const answer = await probe.send(source, credential.header);
        const where = `${credential.name} → ${probe.label} from ${source}: ${answer.status} ${answer.body.slice(0, 200)}`;
        if (credential.policies === undefined) {
          // Open routes aside, a request without valid credentials is a 401, whatever it asks.
          expect(answer.status, where).toBe(401);
          continue;
        }
        const allowed = oracle(credential.policies, { ...probe.ask, source });
        expect(answer.status, where).toBe(allowed ? probe.allowed : 403);
        if (allowed) allowedCount++;
        else forbiddenCount++;
      }
      for (const [scope, path, keysOf] of [
        ["public_keys", "/api/v1/eth2/publicKeys", (body: unknown) => body as string[]],
        ["keymanager_read", "/eth/v1/keystores", (body: unknown) => (body as { data: { validating_pubkey: string }[] }).data.map((k) => k.validating_pubkey)],
      ] as const) {
        const answer = await call("GET", path, source, credential.header);
        const where = `${credential.name} → GET ${path} from ${source}: ${answer.status} ${answer.body.slice(0, 200)}`;
        if (credential.policies === undefined) {
          expect(answer.status, where).toBe(401);
          continue;
        }
        const expected = expectedListing(credential.policies, scope, source);
        if (expected === undefined) {
          expect(answer.status, where).toBe(403);
        } else {
          expect(answer.status, where).toBe(200);
          expect(keysOf(JSON.parse(answer.body)).sort(), where).toEqual([...expected].sort());
        }
      }
    }
    // The matrix is not degenerate from any source.
    expect(allowedCount).toBeGreaterThan(10);
    expect(forbiddenCount).toBeGreaterThan(10);
  });
});

test("open routes need no token; a 401 carries a challenge and never quotes the credentials", async () => {
  for (const path of ["/upcheck", "/healthcheck"]) {
    for (const credential of credentials) expect((await call("GET", path, "127.0.0.1", credential.header)).status).not.toBe(401);
  }
  const refused = await new Promise<{ status: number; challenge: string | undefined; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port: Number(new URL(signer.url.replace("[::]", "[::1]")).port), path: "/api/v1/eth2/publicKeys", headers: { authorization: "Bearer sr_secretsecretsecret" } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, challenge: res.headers["www-authenticate"], body }));
    });
    req.on("error", reject);
    req.end();
  });
  expect(refused.status).toBe(401);
  expect(refused.challenge).toMatch(/^Bearer realm="strongroom", Basic realm="strongroom"$/);
  expect(refused.body).not.toContain("secretsecret");
});

test("policy changes and revocation apply to the next request", async () => {
  const created = await auth.createToken("changing", ["vc"]);
  const header = bearer(created.token);
  expect((await call("POST", `/api/v1/eth2/sign/${K0}`, "127.0.0.1", header, OPERATIONS.RANDAO_REVEAL)).status).toBe(200);
  await auth.putPolicy({ ...POLICIES[0], rules: [...POLICIES[0].rules, { effect: "deny", scopes: ["sign"], keys: [K0], operations: "*", cidrs: "*" }] });
  try {
    expect((await call("POST", `/api/v1/eth2/sign/${K0}`, "127.0.0.1", header, OPERATIONS.RANDAO_REVEAL)).status).toBe(403);
    expect((await call("POST", `/api/v1/eth2/sign/${K1}`, "127.0.0.1", header, OPERATIONS.RANDAO_REVEAL)).status).toBe(200);
  } finally {
    await auth.putPolicy(POLICIES[0]);
  }
  await auth.revokeToken(created.id);
  expect((await call("POST", `/api/v1/eth2/sign/${K1}`, "127.0.0.1", header, OPERATIONS.RANDAO_REVEAL)).status).toBe(401);
});

test("expiry: a token works until its expiry and is a 401 from then on", async () => {
  const expiresAt = Date.now() + 1_500;
  const header = bearer((await auth.createToken("expiring", ["admin"], new Date(expiresAt))).token);
  expect((await call("GET", "/api/v1/strongroom/tokens", "::1", header)).status).toBe(200);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 50)));
  const after = await call("GET", "/api/v1/strongroom/tokens", "::1", header);
  expect(after.status).toBe(401);
  expect(after.body).toMatch(/token expired/);
});

test("refusals are counted by reason", async () => {
  const admin = (await auth.createToken("metrics reader", ["admin"])).token;
  const text = (await call("GET", "/metrics", "127.0.0.1", bearer(admin))).body;
  for (const reason of ["missing", "malformed", "unknown", "expired", "forbidden"]) {
    expect(text).toMatch(new RegExp(`strongroom_auth_refusals_total\\{reason="${reason}"\\} [1-9]`));
  }
});

test("one keep-alive connection, several tokens: each request is judged by its own token, and revocation is immediate", async () => {
  const pool = new Pool(signer.url.replace("[::]", "127.0.0.1"), { connections: 1, pipelining: 1 });
  const sockets = new Set<unknown>();
  pool.on("connect", (_origin, [client]) => sockets.add(client));
  const signAs = async (header: string | undefined, key: string) => {
    const res = await pool.request({
      method: "POST",
      path: `/api/v1/eth2/sign/${key}`,
      headers: { "content-type": "application/json", ...(header !== undefined && { authorization: header }) },
      body: JSON.stringify(OPERATIONS.RANDAO_REVEAL),
    });
    await res.body.dump();
    return res.statusCode;
  };
  try {
    const vc = await auth.createToken("keep-alive vc", ["vc"]);
    const exit = await auth.createToken("keep-alive exit", ["exit-only"]);
    const vcHeader = bearer(vc.token);
    expect(await signAs(vcHeader, K0)).toBe(200);
    expect(await signAs(vcHeader, K0)).toBe(200);
    // Another token on the same connection is authenticated afresh: exit-only may sign exits only, and only from ::1.
    expect(await signAs(bearer(exit.token), K0)).toBe(403);
    expect(await signAs(`${vcHeader.slice(0, -1)}${vcHeader.endsWith("A") ? "B" : "A"}`, K0)).toBe(401);
    expect(await signAs(undefined, K0)).toBe(401);
    expect(await signAs(vcHeader, K1)).toBe(200);
    await auth.putPolicy({ ...POLICIES[0], rules: [...POLICIES[0].rules, { effect: "deny", scopes: ["sign"], keys: [K1], operations: "*", cidrs: "*" }] });
    try {
      expect(await signAs(vcHeader, K1)).toBe(403);
    } finally {
      await auth.putPolicy(POLICIES[0]);
    }
    await auth.revokeToken(vc.id);
    expect(await signAs(vcHeader, K0)).toBe(401);
    expect(sockets.size).toBe(1);
  } finally {
    await pool.close();
  }
});
