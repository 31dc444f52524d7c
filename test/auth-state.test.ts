// Tokens and policies that outlive the process: the real `strongroom signer`
// with its state file, driven by the real `strongroom operator` commands.
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { runCliToEnd, startCli, type CliProcess } from "./support/cli-process.ts";
import { interopKeyConfigDir } from "./support/interop-key-files.ts";
import { randaoRequest } from "./support/mainnet-requests.ts";

const dir = mkdtempSync(join(tmpdir(), "strongroom-auth-state-"));
const dataPath = join(dir, "data");
const statePath = join(dataPath, "auth-state.json");
const keys = interopKeyConfigDir(2);
let signer: CliProcess | undefined;
afterAll(() => signer?.stop());

async function start(): Promise<{ url: string; process: CliProcess }> {
  const process = startCli(["signer", "--http-port=0", `--data-path=${dataPath}`, `--key-config-path=${keys.dir}`, "--slashing-protection-in-memory"]);
  const url = (await process.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
  await process.waitForOutput(/key loading finished/);
  return { url, process };
}

/** `strongroom operator …` against the signer, with the token in a file. */
async function operator(url: string, token: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const tokenFile = join(dir, "operator-token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  return runCliToEnd(["operator", ...args, `--url=${url}`, `--token=file:${tokenFile}`]);
}

const sign = (url: string, token: string, key: string) =>
  fetch(`${url}/api/v1/eth2/sign/${key}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(randaoRequest(370_000n)),
  });

test("the state file keeps tokens and policies across restarts, holds no token secret, and revocation is immediate", async () => {
  let { url, process } = await start();
  signer = process;
  // The first start shows the administrator token once, on stderr (the terminal), and never in the log.
  const admin = /\n {2}(sr_[A-Za-z0-9_-]{43})\n/.exec(process.stderr())?.[1];
  expect(admin, process.stderr()).toBeDefined();
  expect(process.stdout()).not.toContain(admin!);
  expect(process.stdout()).toMatch(/created the first administrator token/);

  const policyFile = join(dir, "vc.yaml");
  writeFileSync(policyFile, `name: vc\nrules:\n  - effect: allow\n    scopes: [sign, public_keys]\n    keys: ["${keys.publicKeys[0]}"]\n    operations: "*"\n    cidrs: ["127.0.0.0/8", "::1"]\n`);
  const createdPolicy = await operator(url, admin!, "policies", "create", policyFile);
  expect(createdPolicy.code, createdPolicy.stderr).toBe(0);
  const createdToken = await operator(url, admin!, "tokens", "create", "--name=lighthouse", "--policies=vc");
  expect(createdToken.code, createdToken.stderr).toBe(0);
  const { token: vc, id: vcId } = JSON.parse(createdToken.stdout) as { token: string; id: string };
  expect(vc).toMatch(/^sr_[A-Za-z0-9_-]{43}$/);
  const spare = JSON.parse((await operator(url, admin!, "tokens", "create", "--name=spare", "--policies=vc", "--expires-at=2099-01-01T00:00:00Z")).stdout) as { token: string; id: string };

  expect((await sign(url, vc, keys.publicKeys[0]!)).status).toBe(200);
  expect((await sign(url, vc, keys.publicKeys[1]!)).status).toBe(403);
  // A validator-client token cannot manage.
  const refused = await operator(url, vc, "tokens", "list");
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/403.*may not do this/);

  // The state file: mode 0600, HMACs only.
  expect(statSync(statePath).mode & 0o777).toBe(0o600);
  const state = readFileSync(statePath);
  for (const token of [admin!, vc, spare.token]) {
    const random = token.slice(3);
    for (const form of [token, random, Buffer.from(token).toString("hex"), Buffer.from(token).toString("base64"), Buffer.from(random, "base64url").toString("hex")]) {
      expect(state.includes(form), `a token found in the state file as ${form.slice(0, 12)}…`).toBe(false);
    }
  }
  const stored = (JSON.parse(state.toString("utf8")) as { tokens: { id: string; hmac: string }[] }).tokens;
  expect(stored).toHaveLength(3);
  expect(stored.map((t) => t.id)).toEqual(expect.arrayContaining([vcId, spare.id]));
  for (const t of stored) expect(t.hmac).toMatch(/^[0-9a-f]{64}$/);

  // Restart: the same tokens and policies work; no second administrator token.
  await process.stop();
  ({ url, process } = await start());
  signer = process;
  expect(process.stderr()).not.toMatch(/sr_/);
  expect((await sign(url, vc, keys.publicKeys[0]!)).status).toBe(200);
  const listed = await operator(url, admin!, "tokens", "list");
  expect(listed.code, listed.stderr).toBe(0);
  const tokens = (JSON.parse(listed.stdout) as { data: { id: string; name: string; expires_at?: string }[] }).data;
  expect(tokens.map((t) => t.name).sort()).toEqual(["bootstrap-admin", "lighthouse", "spare"]);
  expect(tokens.find((t) => t.id === spare.id)?.expires_at).toBe("2099-01-01T00:00:00.000Z");
  expect(listed.stdout).not.toContain(vc);
  const policies = JSON.parse((await operator(url, admin!, "policies", "get", "vc")).stdout) as { rules: { keys: string[] }[] };
  expect(policies.rules[0]!.keys).toEqual([keys.publicKeys[0]]);

  // Revocation: refused on the very next request, and still after a restart.
  const revoked = await operator(url, admin!, "tokens", "revoke", vcId);
  expect(revoked.code, revoked.stderr).toBe(0);
  expect((await sign(url, vc, keys.publicKeys[0]!)).status).toBe(401);
  expect((await sign(url, spare.token, keys.publicKeys[0]!)).status).toBe(200);
  // A policy a token carries cannot be deleted; once unused it can.
  expect((await operator(url, admin!, "policies", "delete", "vc")).stderr).toMatch(/409.*used by token/);
  await process.stop();
  ({ url, process } = await start());
  signer = process;
  expect((await sign(url, vc, keys.publicKeys[0]!)).status).toBe(401);
  expect((await sign(url, spare.token, keys.publicKeys[0]!)).status).toBe(200);
});

test("a state file readable by others, or written under another server secret, stops the signer with a message naming the option", async () => {
  const other = join(dir, "other-data");
  const first = startCli(["signer", "--http-port=0", `--data-path=${other}`, "--slashing-protection-in-memory", `--auth-bootstrap-token-file=${join(dir, "boot")}`]);
  await first.waitForOutput(/"url":"(http:\/\/[^"]+)"/);
  await first.stop();
  expect(readFileSync(join(dir, "boot"), "ascii")).toMatch(/^sr_[A-Za-z0-9_-]{43}\n$/);
  expect(first.stderr()).not.toMatch(/sr_/);

  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, "x".repeat(40), { mode: 0o600 });
  const wrongSecret = await runCliToEnd(["signer", "--http-port=0", `--data-path=${other}`, `--auth-server-secret=file:${secretFile}`]);
  expect(wrongSecret.code).toBe(2);
  expect(wrongSecret.stderr).toMatch(/--auth-state-path: .*different server secret/);

  const short = await runCliToEnd(["signer", "--http-port=0", `--data-path=${other}`, "--auth-server-secret=env:SHORT_SECRET"], { SHORT_SECRET: "too short" });
  expect(short.code).toBe(2);
  expect(short.stderr).toMatch(/--auth-server-secret: the secret is 9 bytes/);
  expect(short.stderr).not.toContain("too short");

  const literal = await runCliToEnd(["signer", "--http-port=0", `--data-path=${other}`, "--auth-server-secret=hunter2hunter2hunter2hunter2hunter2"]);
  expect(literal.code).toBe(2);
  expect(literal.stderr).toMatch(/--auth-server-secret: give a secret as env:NAME or file:\/path, never literally/);

  const badPolicy = join(dir, "bad-policy.yaml");
  writeFileSync(badPolicy, "- effect: allow\n  scopes: [sing]\n  keys: '*'\n  operations: '*'\n  cidrs: '*'\n");
  const unauthenticated = await runCliToEnd(["signer", "--http-port=0", `--data-path=${other}`, `--auth-unauthenticated-policy=${badPolicy}`]);
  expect(unauthenticated.code).toBe(2);
  expect(unauthenticated.stderr).toMatch(/--auth-unauthenticated-policy: .*unknown scope "sing"/);

  chmodSync(join(other, "auth-state.json"), 0o644);
  const readable = await runCliToEnd(["signer", "--http-port=0", `--data-path=${other}`]);
  expect(readable.code).toBe(2);
  expect(readable.stderr).toMatch(/--auth-state-path: .*readable or writable by group or others/);
});
