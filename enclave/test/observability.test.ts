import { Writable } from "node:stream";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SecretKey } from "@chainsafe/blst";
import { interopSecretKey } from "@strongroom/keystore";
import type { RunningSigner } from "@strongroom/enclave";
import { pino } from "pino";
import { randaoBody, startTestSigner } from "./harness.ts";

const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString("hex")}`;
const publicKey = (i: number) => hex(SecretKey.fromBytes(interopSecretKey(i)).toPublicKey().toBytes());
const attestation = (root: string) => ({
  type: "ATTESTATION",
  fork_info: randaoBody(370000)["fork_info"],
  attestation: { slot: "11840000", index: "0", beacon_block_root: `0x${root.repeat(32)}`, source: { epoch: "369999", root: `0x${"00".repeat(32)}` }, target: { epoch: "370000", root: `0x${"00".repeat(32)}` } },
});

const logLines: string[] = [];
let signer: RunningSigner;
beforeAll(async () => {
  const sink = new Writable({ write: (chunk, _enc, done) => void (logLines.push(chunk.toString()), done()) });
  signer = await startTestSigner({ interopKeys: 2, canaryKeys: [publicKey(1)], metrics: { host: "127.0.0.1", port: 0 }, log: pino({ level: "debug" }, sink) });
  await signer.keysLoaded;
});
afterAll(() => signer.close());

const sign = (key: string, body: unknown) =>
  fetch(`${signer.url}/api/v1/eth2/sign/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("metrics count requests by route, type and status, slashing refusals by rule, canaries and keys", async () => {
  expect((await sign(publicKey(0), randaoBody(370000))).status).toBe(200);
  expect((await sign(publicKey(0), attestation("01"))).status).toBe(200);
  expect((await sign(publicKey(0), attestation("02"))).status).toBe(412);
  expect((await sign(`0x${"ab".repeat(48)}`, randaoBody(370000))).status).toBe(404);
  expect((await sign(publicKey(1), randaoBody(370000))).status).toBe(200);
  expect((await fetch(`${signer.url}/upcheck`)).status).toBe(200);

  const res = await fetch(`${signer.metricsUrl}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}.*+?^$()|[\]\\]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
  expect(value('strongroom_requests_total{route="sign",type="RANDAO_REVEAL",status="200"}')).toBe(2);
  expect(value('strongroom_requests_total{route="sign",type="ATTESTATION",status="412"}')).toBe(1);
  expect(value('strongroom_requests_total{route="sign",type="RANDAO_REVEAL",status="404"}')).toBe(1);
  expect(value('strongroom_requests_total{route="upcheck",type="",status="200"}')).toBe(1);
  expect(value('strongroom_slashing_refusals_total{rule="double_vote"}')).toBe(1);
  expect(value(`strongroom_canary_signing_total{pubkey="${publicKey(1)}"}`)).toBe(1);
  expect(value("strongroom_keys_active")).toBe(2);
  expect(value('strongroom_signing_duration_seconds_count{type="ATTESTATION"}')).toBe(1);
  expect(value("strongroom_slashing_db_duration_seconds_count")).toBeGreaterThanOrEqual(2);
  expect(text).toMatch(/^strongroom_process_cpu_seconds_total /m);
  for (const i of [0, 1]) expect(text).not.toContain(Buffer.from(interopSecretKey(i)).toString("hex"));
  expect((await fetch(`${signer.metricsUrl}/other`)).status).toBe(404);
});

test("one log line per request with route, type, key, status and latency", async () => {
  await sign(publicKey(0), randaoBody(370005));
  const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === "request");
  expect(lines.at(-1)).toMatchObject({ route: "sign", method: "POST", type: "RANDAO_REVEAL", publicKey: publicKey(0), status: 200, ms: expect.any(Number) });
  for (const i of [0, 1]) expect(logLines.join("")).not.toContain(Buffer.from(interopSecretKey(i)).toString("hex"));
});
