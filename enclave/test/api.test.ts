import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PublicKey, Signature, verify } from "@chainsafe/blst";
import { createBeaconConfig } from "@lodestar/config";
import { chainConfig } from "@lodestar/config/default";
import { DOMAIN_RANDAO } from "@lodestar/params";
import { computeSigningRoot } from "@lodestar/state-transition";
import { ssz } from "@lodestar/types";
import { encryptKeystore, interopSecretKey } from "@strongroom/keystore";
import { SecretKey } from "@chainsafe/blst";
import type { RunningSigner } from "@strongroom/enclave";
import { request } from "undici";
import { MAINNET_GVR, randaoBody, startTestSigner } from "./harness.ts";

const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString("hex")}`;
const interopPublicKey = (i: number) => hex(SecretKey.fromBytes(interopSecretKey(i)).toPublicKey().toBytes());

/** The RANDAO signing root by Lodestar's own domain and root code: an independent reference. */
function referenceRandaoRoot(epoch: number): Uint8Array {
  const config = createBeaconConfig(chainConfig, Buffer.from(MAINNET_GVR.slice(2), "hex"));
  const slot = epoch * 32;
  return computeSigningRoot(ssz.Epoch, epoch, config.getDomain(slot, DOMAIN_RANDAO, slot));
}

const attestation = (source: number, target: number, blockRootByte: string) => ({
  type: "ATTESTATION",
  fork_info: randaoBody(370000)["fork_info"],
  attestation: {
    slot: String(target * 32),
    index: "0",
    beacon_block_root: `0x${blockRootByte.repeat(32)}`,
    source: { epoch: String(source), root: `0x${"02".repeat(32)}` },
    target: { epoch: String(target), root: `0x${"03".repeat(32)}` },
  },
});

let signer: RunningSigner;
let base: string;
const key0 = interopPublicKey(0);

beforeAll(async () => {
  signer = await startTestSigner();
  base = signer.url;
});
afterAll(() => signer.close());

interface Call {
  method?: string;
  path: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/**
 * undici's request() sends exactly the given headers (fetch would add
 * `accept: *\/*`), so the absent-Accept rule is really exercised.
 */
async function call({ method = "POST", path, body, rawBody, headers = {} }: Call): Promise<Response> {
  const res = await request(`${base}${path}`, {
    method: method as "POST",
    headers: { "content-type": "application/json", ...headers },
    body: rawBody ?? (body === undefined ? null : JSON.stringify(body)),
  });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(res.headers)) if (typeof value === "string") responseHeaders.set(name, value);
  return new Response(bytes.length === 0 ? null : bytes, { status: res.statusCode, headers: responseHeaders });
}

describe("signing responses", () => {
  test.each([
    { accept: "application/json", json: true },
    { accept: "*/*", json: true },
    { accept: "application/*", json: true },
    { accept: "text/plain, application/json;q=0.5", json: true },
    { accept: "application/json;q=0, text/plain", json: false },
    { accept: "text/plain", json: false },
    { accept: undefined, json: false },
  ])("Accept $accept gives JSON: $json", async ({ accept, json }) => {
    const headers: Record<string, string> = accept === undefined ? {} : { accept };
    const res = await call({ path: `/api/v1/eth2/sign/${key0}`, body: randaoBody(370000), headers });
    expect(res.status).toBe(200);
    const text = await res.text();
    const signature = json ? (JSON.parse(text) as { signature: string }).signature : text;
    expect(res.headers.get("content-type")).toContain(json ? "application/json" : "text/plain");
    expect(signature).toMatch(/^0x[0-9a-f]{192}$/);
    const valid = verify(referenceRandaoRoot(370000), PublicKey.fromHex(key0), Signature.fromHex(signature));
    expect(valid).toBe(true);
  });

  test("Lodestar and Lighthouse fork_info habits give the same signature", async () => {
    const sign = async (habit: "lodestar" | "lighthouse") =>
      (await call({ path: `/api/v1/eth2/sign/${key0}`, body: randaoBody(370001, habit) })).text();
    expect(await sign("lodestar")).toBe(await sign("lighthouse"));
  });

  test.each([
    ["with 0x", key0],
    ["without 0x", key0.slice(2)],
    ["upper case", key0.toUpperCase().replace("0X", "0x")],
    ["upper case without 0x", key0.slice(2).toUpperCase()],
  ])("identifier %s is accepted", async (_name, identifier) => {
    const res = await call({ path: `/api/v1/eth2/sign/${identifier}`, body: randaoBody(370000) });
    expect(res.status).toBe(200);
  });

  test.each(["signing_root", "signingRoot"])("a correct %s is accepted and a wrong one is a 400", async (field) => {
    const right = hex(referenceRandaoRoot(370000));
    const ok = await call({ path: `/api/v1/eth2/sign/${key0}`, body: { ...randaoBody(370000), [field]: right } });
    expect(ok.status).toBe(200);
    const wrong = await call({ path: `/api/v1/eth2/sign/${key0}`, body: { ...randaoBody(370000), [field]: `0x${"11".repeat(32)}` } });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { message: string }).message).toMatch(/signing root/i);
  });

  test("unknown fields are ignored and the type is case-insensitive", async () => {
    const body = { ...randaoBody(370000), type: "randao_reveal", unexpected: { nested: [1, 2, 3] }, another: "x" };
    const res = await call({ path: `/api/v1/eth2/sign/${key0}`, body });
    expect(res.status).toBe(200);
  });
});

describe("error statuses", () => {
  const huge = "x".repeat(2 << 20);
  test.each<[string, Call, number, RegExp]>([
    ["malformed JSON", { path: `/api/v1/eth2/sign/${key0}`, rawBody: "{\"type\":" }, 400, /not valid JSON/],
    ["empty body", { path: `/api/v1/eth2/sign/${key0}`, rawBody: "" }, 400, /empty/],
    ["unknown type", { path: `/api/v1/eth2/sign/${key0}`, body: { ...randaoBody(1), type: "NOPE" } }, 400, /type/i],
    ["missing payload", { path: `/api/v1/eth2/sign/${key0}`, body: { type: "RANDAO_REVEAL", fork_info: randaoBody(1)["fork_info"] } }, 400, /randao_reveal/],
    ["malformed identifier", { path: "/api/v1/eth2/sign/0x1234", body: randaoBody(1) }, 400, /not a BLS public key/],
    ["unknown key", { path: `/api/v1/eth2/sign/0x${"ab".repeat(48)}`, body: randaoBody(1) }, 404, /no key/],
    ["wrong content type", { path: `/api/v1/eth2/sign/${key0}`, body: randaoBody(1), headers: { "content-type": "text/plain" } }, 415, /application\/json/],
    ["body too large", { path: `/api/v1/eth2/sign/${key0}`, rawBody: huge }, 413, /exceeds/],
    ["unknown endpoint", { method: "GET", path: "/api/v1/eth2/nothing" }, 404, /no such endpoint/],
    ["wrong method", { method: "GET", path: `/api/v1/eth2/sign/${key0}` }, 405, /not allowed/],
  ])("%s", async (_name, request, status, message) => {
    const res = await call(request);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(((await res.json()) as { message: string }).message).toMatch(message);
  });

  test("slashing protection: a repeat signs again, a double vote is a 412 naming the rule", async () => {
    const first = await call({ path: `/api/v1/eth2/sign/${key0}`, body: attestation(369999, 370000, "01") });
    expect(first.status).toBe(200);
    const repeat = await call({ path: `/api/v1/eth2/sign/${key0}`, body: attestation(369999, 370000, "01") });
    expect(repeat.status).toBe(200);
    expect(await repeat.text()).toBe(await first.text());
    const doubleVote = await call({ path: `/api/v1/eth2/sign/${key0}`, body: attestation(369999, 370000, "09") });
    expect(doubleVote.status).toBe(412);
    expect(((await doubleVote.json()) as { message: string }).message).toMatch(/double_vote/);
    const surrounding = await call({ path: `/api/v1/eth2/sign/${key0}`, body: attestation(369990, 370001, "01") });
    expect(surrounding.status).toBe(412);
    expect(((await surrounding.json()) as { message: string }).message).toMatch(/surrounding_vote/);
  });

  test("with --slashing-protection-enabled=false nothing is checked", async () => {
    const unprotected = await startTestSigner({ slashingProtection: undefined, interopKeys: 1 });
    try {
      for (const root of ["01", "09"]) {
        const ok = await fetch(`${unprotected.url}/api/v1/eth2/sign/${key0}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(attestation(369999, 370000, root)),
        });
        expect(ok.status).toBe(200);
      }
    } finally {
      await unprotected.close();
    }
  });
});

describe("status endpoints", () => {
  test("upcheck, healthcheck and publicKeys", async () => {
    const up = await call({ method: "GET", path: "/upcheck" });
    expect(up.status).toBe(200);
    expect(await up.text()).toBe("OK");
    await signer.keysLoaded;
    const health = await call({ method: "GET", path: "/healthcheck" });
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: "UP",
      checks: [
        { id: "keys-check", status: "UP", data: { active: 4, done: true } },
        { id: "slashing-protection", status: "UP", data: { database: expect.stringMatching(/pglite/) } },
      ],
    });
    const keys = await call({ method: "GET", path: "/api/v1/eth2/publicKeys" });
    expect(await keys.json()).toEqual([0, 1, 2, 3].map(interopPublicKey));
  });
});

describe("Key Manager API", () => {
  const password = "correct horse battery staple";
  const fresh = new Uint8Array(32);
  fresh[31] = 42; // a small valid secret key, distinct from the interop keys
  const freshPublicKey = hex(SecretKey.fromBytes(fresh).toPublicKey().toBytes());
  const keystore = () => JSON.stringify(encryptKeystore(fresh.slice(), new TextEncoder().encode(password), { kdf: { function: "pbkdf2", c: 1024 } }));

  test("a bulk import of 200 keystores: every key is imported and signs", async () => {
    const bulk = await startTestSigner({ interopKeys: 0 });
    try {
      const indices = Array.from({ length: 200 }, (_, i) => 100 + i);
      const passwordBytes = new TextEncoder().encode(password);
      const body = {
        keystores: indices.map((i) => JSON.stringify(encryptKeystore(interopSecretKey(i), passwordBytes, { kdf: { function: "pbkdf2", c: 1024 } }))),
        passwords: indices.map(() => password),
      };
      const imported = await fetch(`${bulk.url}/eth/v1/keystores`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      expect(imported.status).toBe(200);
      expect(((await imported.json()) as { data: { status: string }[] }).data).toEqual(indices.map(() => ({ status: "imported", message: "" })));
      const signed = await fetch(`${bulk.url}/api/v1/eth2/sign/${interopPublicKey(299)}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(randaoBody(370000)) });
      expect(signed.status).toBe(200);
    } finally {
      await bulk.close();
    }
  });

  test("import, duplicate, wrong password, list, sign, delete", async () => {
    const imported = await call({ path: "/eth/v1/keystores", body: { keystores: [keystore()], passwords: [password] } });
    expect(imported.status).toBe(200);
    expect(await imported.json()).toEqual({ data: [{ status: "imported", message: "" }] });

    const again = await call({ path: "/eth/v1/keystores", body: { keystores: [keystore(), "{nonsense"], passwords: [password, "x"] } });
    const againBody = (await again.json()) as { data: { status: string; message: string }[] };
    expect(againBody.data.map((d) => d.status)).toEqual(["duplicate", "error"]);

    const list = (await (await call({ method: "GET", path: "/eth/v1/keystores" })).json()) as { data: { validating_pubkey: string; readonly: boolean }[] };
    expect(list.data).toContainEqual(expect.objectContaining({ validating_pubkey: freshPublicKey, readonly: false }));
    expect(list.data).toContainEqual(expect.objectContaining({ validating_pubkey: key0, readonly: true }));

    const signed = await call({ path: `/api/v1/eth2/sign/${freshPublicKey}`, body: randaoBody(370000) });
    expect(signed.status).toBe(200);
    const attested = await call({ path: `/api/v1/eth2/sign/${freshPublicKey}`, body: attestation(369999, 370000, "01") });
    expect(attested.status).toBe(200);

    const deleted = await call({ method: "DELETE", path: "/eth/v1/keystores", body: { pubkeys: [freshPublicKey, `0x${"cd".repeat(48)}`, key0] } });
    const deletedBody = (await deleted.json()) as { data: { status: string }[]; slashing_protection: string };
    expect(deletedBody.data.map((d) => d.status)).toEqual(["deleted", "not_found", "error"]);
    const interchange = JSON.parse(deletedBody.slashing_protection) as {
      metadata: { genesis_validators_root: string };
      data: { pubkey: string; signed_attestations: { source_epoch: string; target_epoch: string }[] }[];
    };
    expect(interchange.metadata.genesis_validators_root).toBe(MAINNET_GVR);
    expect(interchange.data.map((d) => d.pubkey)).toEqual([freshPublicKey]);
    expect(interchange.data[0]!.signed_attestations).toContainEqual(expect.objectContaining({ source_epoch: "369999", target_epoch: "370000" }));

    const gone = await call({ path: `/api/v1/eth2/sign/${freshPublicKey}`, body: randaoBody(370000) });
    expect(gone.status).toBe(404);

    // Deleted keys are disabled in the database; importing one again (with its history) enables it again.
    const back = await call({ path: "/eth/v1/keystores", body: { keystores: [keystore()], passwords: [password], slashing_protection: deletedBody.slashing_protection } });
    expect(await back.json()).toEqual({ data: [{ status: "imported", message: "" }] });
    expect((await call({ path: `/api/v1/eth2/sign/${freshPublicKey}`, body: attestation(369999, 370000, "01") })).status).toBe(200);
    expect((await call({ path: `/api/v1/eth2/sign/${freshPublicKey}`, body: attestation(369999, 370000, "07") })).status).toBe(412);
    expect((await call({ path: `/api/v1/eth2/sign/${freshPublicKey}`, body: attestation(370000, 370001, "01") })).status).toBe(200);

    const malformed = await call({ path: "/eth/v1/keystores", body: { keystores: [], passwords: [], slashing_protection: '{"metadata":{}}' } });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { message: string }).message).toMatch(/interchange_format_version/);
  });

  test("a wrong password is a per-key error", async () => {
    const other = new Uint8Array(32);
    other[31] = 43;
    const otherKeystore = JSON.stringify(encryptKeystore(other, new TextEncoder().encode(password), { kdf: { function: "pbkdf2", c: 1024 } }));
    const res = await call({ path: "/eth/v1/keystores", body: { keystores: [otherKeystore], passwords: ["wrong"] } });
    const body = (await res.json()) as { data: { status: string; message: string }[] };
    expect(body.data[0]).toMatchObject({ status: "error", message: expect.stringMatching(/password/) });
  });

  test.each([
    [{ keystores: "x", passwords: [] }, /keystores/],
    [{ keystores: ["a"], passwords: [] }, /pair up/],
    [{ pubkeys: 3 }, /keystores/],
  ])("malformed import %j is a 400", async (body, message) => {
    const res = await call({ path: "/eth/v1/keystores", body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(message);
  });
});
