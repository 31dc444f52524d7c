// A whole scenario at trace level — keys from keystores and key-config files,
// Key Manager imports, token and policy management, signing, refusals and
// failures — after which no log byte and no metric may contain any validator
// secret key, password, token or the auth server secret, in raw, hex or base64 form.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { SecretKey } from "@chainsafe/blst";
import { encryptKeystore, interopSecretKey } from "@strongroom/keystore";
import { startCli } from "./support/cli-process.ts";
import { attestationRequest, blockRequest, randaoRequest } from "./support/mainnet-requests.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const publicKeyOf = (secret: Uint8Array) => `0x${hex(SecretKey.fromBytes(secret).toPublicKey().toBytes())}`;
const encode = (text: string) => new TextEncoder().encode(text);

/** Every spelling in which a secret could leak into text or bytes. */
function spellings(secret: Uint8Array): Buffer[] {
  const bytes = Buffer.from(secret);
  return [bytes, Buffer.from(bytes.toString("hex")), Buffer.from(bytes.toString("hex").toUpperCase()), Buffer.from(bytes.toString("base64")), Buffer.from(bytes.toString("base64url"))];
}

test("no secret key or password reaches a log line or a metric", async () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-secrets-"));
  const keyConfig = join(dir, "key-config");
  const keystores = join(dir, "keystores");
  const passwords = join(dir, "passwords");
  for (const d of [keyConfig, keystores, passwords]) mkdirSync(d);

  const secrets = [20, 21, 22, 23].map((i) => interopSecretKey(i));
  const passwordTexts = ["pässwörd-één", "second secret password", "third-🔑-password", "wrong password target"];
  // 20: file-raw. 21: keystore via key-config. 22: keystores directory. 23: keystores directory with a wrong password file. Plus a Key Manager import below.
  writeFileSync(join(keyConfig, "raw.yaml"), `type: file-raw\nkeyType: BLS\nprivateKey: "0x${hex(secrets[0]!)}"\n`);
  writeFileSync(join(dir, "k21.json"), JSON.stringify(encryptKeystore(secrets[1]!.slice(), encode(passwordTexts[1]!), { kdf: { function: "scrypt", n: 1024, r: 8, p: 1 } })));
  writeFileSync(join(dir, "k21.txt"), passwordTexts[1]!);
  writeFileSync(join(keyConfig, "k21.yaml"), `type: file-keystore\nkeyType: BLS\nkeystoreFile: ${join(dir, "k21.json")}\nkeystorePasswordFile: ${join(dir, "k21.txt")}\n`);
  writeFileSync(join(keystores, "k22.json"), JSON.stringify(encryptKeystore(secrets[2]!.slice(), encode(passwordTexts[2]!), { kdf: { function: "pbkdf2", c: 1024 } })));
  writeFileSync(join(passwords, "k22.txt"), passwordTexts[2]!);
  writeFileSync(join(keystores, "k23.json"), JSON.stringify(encryptKeystore(secrets[3]!.slice(), encode(passwordTexts[3]!), { kdf: { function: "pbkdf2", c: 1024 } })));
  writeFileSync(join(passwords, "k23.txt"), passwordTexts[0]!);

  const imported = interopSecretKey(24);
  const importPassword = "key-manager import password";
  const serverSecret = randomBytes(32);
  writeFileSync(join(dir, "server-secret"), serverSecret, { mode: 0o600 });
  const bootstrapFile = join(dir, "admin-token");
  const signer = startCli([
    "signer",
    `--auth-server-secret=file:${join(dir, "server-secret")}`,
    `--auth-bootstrap-token-file=${bootstrapFile}`,
    "--http-port=0",
    "--log-level=trace",
    "--metrics-enabled",
    "--metrics-port=0",
    "--slashing-protection-in-memory",
    `--key-config-path=${keyConfig}`,
    `--keystores-path=${keystores}`,
    `--keystores-passwords-path=${passwords}`,
  ]);
  try {
    const url = (await signer.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
    const metricsUrl = (await signer.waitForOutput(/"metrics":"(http:\/\/[^"]+)"/))[1]!;
    await signer.waitForOutput(/key loading finished/);
    const admin = readFileSync(bootstrapFile, "ascii").trim();
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const manage = async (method: string, path: string, body?: unknown) =>
      fetch(`${url}/api/v1/strongroom${path}`, { method, headers: { ...bearer(admin), "content-type": "application/json" }, ...(body !== undefined && { body: JSON.stringify(body) }) });
    expect((await manage("POST", "/policies", { name: "vc", rules: [{ effect: "allow", scopes: ["sign", "public_keys", "keymanager_read", "keymanager_write"], keys: "*", operations: "*", cidrs: ["127.0.0.1"] }] })).status).toBe(201);
    const created = async (name: string) => ((await (await manage("POST", "/tokens", { name, policies: ["vc"] })).json()) as { token: string; id: string });
    const vc = await created("validator client");
    const revoked = await created("to be revoked");
    expect((await manage("DELETE", `/tokens/${revoked.id}`)).status).toBe(200);
    expect((await fetch(`${url}/api/v1/eth2/publicKeys`, { headers: bearer(revoked.token) })).status).toBe(401);
    // One character off, and as HTTP Basic: both refused or accepted without the token reaching a log.
    expect((await fetch(`${url}/api/v1/eth2/publicKeys`, { headers: bearer(`${vc.token.slice(0, -1)}${vc.token.endsWith("A") ? "B" : "A"}`) })).status).toBe(401);
    expect((await fetch(`${url}/api/v1/eth2/publicKeys`, { headers: { authorization: `Basic ${Buffer.from(`vc:${vc.token}`).toString("base64")}` } })).status).toBe(200);
    expect((await fetch(`${url}/api/v1/strongroom/tokens`, { headers: bearer(vc.token) })).status).toBe(403);
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, { method: "POST", headers: { ...bearer(vc.token), "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

    const keystore = JSON.stringify(encryptKeystore(imported.slice(), encode(importPassword), { kdf: { function: "pbkdf2", c: 1024 } }));
    // The same keystore twice in one request: both decrypt in parallel, whichever finishes first is imported.
    const importedBoth = (await (await post("/eth/v1/keystores", { keystores: [keystore, keystore], passwords: [importPassword, importPassword] })).json()) as { data: { status: string }[] };
    expect(importedBoth.data.map((d) => d.status).sort()).toEqual(["duplicate", "imported"]);
    const wrong = JSON.stringify(encryptKeystore(interopSecretKey(25), encode(importPassword), { kdf: { function: "pbkdf2", c: 1024 } }));
    expect((await post("/eth/v1/keystores", { keystores: [wrong], passwords: [passwordTexts[0]] })).status).toBe(200);

    for (const secret of [secrets[0]!, secrets[1]!, secrets[2]!, imported]) {
      const key = publicKeyOf(secret);
      expect((await post(`/api/v1/eth2/sign/${key}`, randaoRequest(370_000n))).status).toBe(200);
      expect((await post(`/api/v1/eth2/sign/${key}`, attestationRequest(369_999n, 370_000n, 1))).status).toBe(200);
      expect((await post(`/api/v1/eth2/sign/${key}`, attestationRequest(369_999n, 370_000n, 2))).status).toBe(412);
      expect((await post(`/api/v1/eth2/sign/${key}`, blockRequest(11_840_000n, 1))).status).toBe(200);
      expect((await post(`/api/v1/eth2/sign/${key}`, "{not json")).status).toBe(400);
    }
    expect((await post(`/api/v1/eth2/sign/${publicKeyOf(secrets[3]!)}`, randaoRequest(1n))).status).toBe(404);
    const deleted = await fetch(`${url}/eth/v1/keystores`, { method: "DELETE", headers: { ...bearer(vc.token), "content-type": "application/json" }, body: JSON.stringify({ pubkeys: [publicKeyOf(imported)] }) });
    expect(deleted.status).toBe(200);
    const metrics = await (await fetch(`${metricsUrl}`)).text();
    expect(metrics).toMatch(/strongroom_requests_total/);
    const apiMetrics = await fetch(`${url}/metrics`, { headers: bearer(admin) });
    expect(apiMetrics.status).toBe(200);
    const metricsViaApi = await apiMetrics.text();
    expect(metricsViaApi).toMatch(/strongroom_auth_refusals_total\{reason="unknown"\} 2/);

    await signer.stop();
    const everything = Buffer.concat([Buffer.from(signer.stdout()), Buffer.from(signer.stderr()), Buffer.from(metrics), Buffer.from(metricsViaApi)]);
    expect(signer.stdout()).toMatch(new RegExp(`"tokenId":"${vc.id}"[^\n]*"msg":"request"|"msg":"request"[^\n]*"tokenId":"${vc.id}"`));
    expect(signer.stdout()).toMatch(/"level":20,[^\n]*"msg":"key loaded"/); // debug lines were really written
    expect(signer.stdout().match(/"msg":"request"/g)?.length).toBeGreaterThan(20);
    expect(signer.stdout()).toMatch(/k23\.json/); // the failure was logged, by file name

    const secretsToFind: [string, Uint8Array][] = [
      ...secrets.map((s, i): [string, Uint8Array] => [`secret key ${20 + i}`, s]),
      ["imported secret key", imported],
      ["secret key 25", interopSecretKey(25)],
      ...passwordTexts.map((p, i): [string, Uint8Array] => [`password ${i}`, encode(p)]),
      ["import password", encode(importPassword)],
      ["administrator token", encode(admin)],
      ["validator-client token", encode(vc.token)],
      ["revoked token", encode(revoked.token)],
      ["the random part of the validator-client token", encode(vc.token.slice(3))],
      ["auth server secret", serverSecret],
    ];
    for (const [name, secret] of secretsToFind) {
      for (const spelling of spellings(secret)) expect(everything.includes(spelling), `${name} found as ${spelling.toString("latin1").slice(0, 20)}…`).toBe(false);
    }
  } finally {
    await signer.stop();
  }
});
