import { Writable } from "node:stream";
import { afterEach, expect, test } from "vitest";
import { SecretKey } from "@chainsafe/blst";
import { interopSecretKey } from "@strongroom/keystore";
import type { RunningSigner } from "@strongroom/enclave";
import { pino } from "pino";
import { MAINNET_GVR, openTestAuth, randaoBody, startTestSigner } from "./harness.ts";

const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString("hex")}`;
const publicKey = (i: number) => hex(SecretKey.fromBytes(interopSecretKey(i)).toPublicKey().toBytes());
const HOODI_GVR = "0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f";

let signer: RunningSigner | undefined;
afterEach(() => signer?.close());

function capturingLogger(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => void (lines.push(chunk.toString()), done()) });
  return { log: pino({ level: "debug" }, sink), lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const sign = (key: string, body: unknown) =>
  fetch(`${signer!.url}/api/v1/eth2/sign/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("network guard: another network's genesis validators root is a 403 naming both, before slashing protection", async () => {
  signer = await startTestSigner({ interopKeys: 1 });
  const otherNetwork = { ...randaoBody(370000), fork_info: { ...(randaoBody(370000)["fork_info"] as object), genesis_validators_root: HOODI_GVR } };
  const refused = await sign(publicKey(0), otherNetwork);
  expect(refused.status).toBe(403);
  const { message } = (await refused.json()) as { message: string };
  expect(message).toContain(HOODI_GVR);
  expect(message).toContain(MAINNET_GVR);
  expect(message).toMatch(/mainnet/);
  // An attestation for another network never reaches the slashing database: the same message for mainnet still signs.
  const attestation = (gvr: string) => ({
    type: "ATTESTATION",
    fork_info: { fork: { previous_version: "0x04000000", current_version: "0x05000000", epoch: "364032" }, genesis_validators_root: gvr },
    attestation: { slot: "11840000", index: "0", beacon_block_root: `0x${"01".repeat(32)}`, source: { epoch: "369999", root: `0x${"00".repeat(32)}` }, target: { epoch: "370000", root: `0x${"00".repeat(32)}` } },
  });
  expect((await sign(publicKey(0), attestation(HOODI_GVR))).status).toBe(403);
  expect((await sign(publicKey(0), attestation(MAINNET_GVR))).status).toBe(200);
  // Types without fork_info are not affected.
  const deposit = {
    type: "DEPOSIT",
    deposit: { pubkey: publicKey(0), withdrawal_credentials: `0x${"00".repeat(32)}`, amount: "32000000000", genesis_fork_version: "0x00000000" },
  };
  expect((await sign(publicKey(0), deposit)).status).toBe(200);
});

test("canary keys are logged at warn and counted, and signing goes on without seal-on-canary", async () => {
  const { log, lines } = capturingLogger();
  signer = await startTestSigner({ interopKeys: 2, canaryKeys: [publicKey(1)], log });
  expect((await sign(publicKey(1), randaoBody(370000))).status).toBe(200);
  expect((await sign(publicKey(1), { broken: true })).status).toBe(400);
  const warnings = lines().filter((l) => l["msg"] === "a request named a canary key");
  expect(warnings).toHaveLength(2);
  expect(warnings[0]).toMatchObject({ level: 40, publicKey: publicKey(1), signingStopped: false });
  expect((await sign(publicKey(0), randaoBody(370000))).status).toBe(200);
});

test("seal-on-canary: one request naming a canary stops all signing; upcheck still answers", async () => {
  signer = await startTestSigner({ interopKeys: 2, canaryKeys: [publicKey(1)], sealOnCanary: true });
  expect((await sign(publicKey(0), randaoBody(370000))).status).toBe(200);
  // Even a malformed request naming the canary trips it.
  expect((await sign(publicKey(1).toUpperCase().replace("0X", ""), "garbage")).status).toBe(503);
  for (const key of [publicKey(0), publicKey(1)]) {
    const res = await sign(key, randaoBody(370000));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { message: string }).message).toMatch(new RegExp(`signing is stopped: canary key ${publicKey(1)}`));
  }
  expect((await fetch(`${signer.url}/upcheck`)).status).toBe(200);
});

test("after seal-on-canary, an operator with scope manage resumes signing; signing state shows why it stopped", async () => {
  signer = await startTestSigner({ interopKeys: 2, canaryKeys: [publicKey(1)], sealOnCanary: true });
  const state = async () => (await (await fetch(`${signer!.url}/api/v1/strongroom/signing`)).json()) as Record<string, unknown>;
  expect(await state()).toEqual({ state: "enabled" });
  expect((await sign(publicKey(1), randaoBody(370000))).status).toBe(503);
  expect(await state()).toEqual({ state: "stopped", stopped_by_canary: publicKey(1) });
  const resumed = await fetch(`${signer.url}/api/v1/strongroom/signing/resume`, { method: "POST" });
  expect(resumed.status).toBe(200);
  expect(await resumed.json()).toEqual({ state: "enabled", was_stopped_by_canary: publicKey(1) });
  expect((await sign(publicKey(0), randaoBody(370000))).status).toBe(200);
  // The canary still trips it again.
  expect((await sign(publicKey(1), randaoBody(370001))).status).toBe(503);
  expect((await sign(publicKey(0), randaoBody(370001))).status).toBe(503);
});

test("only requests that pass authentication reach the canary: a stranger cannot stop signing, a stolen token probing can", async () => {
  const auth = openTestAuth(null);
  await auth.putPolicy({ name: "k0", rules: [{ effect: "allow", scopes: ["sign"], keys: [publicKey(0)], operations: "*", cidrs: "*" }] });
  const token = (await auth.createToken("vc", ["k0"])).token.toString("ascii");
  signer = await startTestSigner({ interopKeys: 2, canaryKeys: [publicKey(1)], sealOnCanary: true, auth });
  const signAs = (key: string, headers: Record<string, string>) =>
    fetch(`${signer!.url}/api/v1/eth2/sign/${key}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(randaoBody(370000)) });
  expect((await signAs(publicKey(1), {})).status).toBe(401);
  expect((await signAs(publicKey(1), { authorization: `Bearer sr_${"A".repeat(43)}` })).status).toBe(401);
  expect((await signAs(publicKey(0), { authorization: `Bearer ${token}` })).status).toBe(200);
  // The token may not use the canary (403 would follow), but naming it stops signing first.
  const probe = await signAs(publicKey(1), { authorization: `Bearer ${token}` });
  expect(probe.status).toBe(503);
  expect((await signAs(publicKey(0), { authorization: `Bearer ${token}` })).status).toBe(503);
});
