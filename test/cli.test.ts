import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { SecretKey } from "@chainsafe/blst";
import { namedNetwork } from "@strongroom/eth2";
import { encryptKeystore, interopSecretKey } from "@strongroom/keystore";
import { runCliToEnd, startCli, type CliProcess } from "./support/cli-process.ts";

const hex = (bytes: Uint8Array) => `0x${Buffer.from(bytes).toString("hex")}`;
const publicKeyOf = (secret: Uint8Array) => hex(SecretKey.fromBytes(secret).toPublicKey().toBytes());
// The signer below serves hoodi, so its requests carry hoodi's genesis validators root.
const RANDAO = {
  type: "RANDAO_REVEAL",
  fork_info: {
    fork: { previous_version: "0x10000910", current_version: "0x10000910", epoch: "0" },
    genesis_validators_root: hex(namedNetwork("hoodi").genesisValidatorsRoot!),
  },
  randao_reveal: { epoch: "3" },
};

describe("usage and configuration errors exit 2 and name the option", () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-cli-"));
  const badConfig = join(dir, "bad.yaml");
  writeFileSync(badConfig, "http-port: 9000\nlisten-everywhere: true\n");

  test.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ["unknown command", ["frobnicate"], {}, /unknown command "frobnicate"/],
    ["unknown option", ["signer", "--bogus=1"], {}, /unknown option --bogus/],
    ["bad integer", ["signer", "--http-port=abc"], {}, /--http-port: expected an integer/],
    ["port out of range", ["signer", "--http-port=70000"], {}, /--http-port: expected an integer from 0 to 65535/],
    ["bad boolean", ["signer", "--slashing-protection-enabled=maybe"], {}, /--slashing-protection-enabled: expected true or false/],
    ["unknown network", ["signer", "--network=nowhere"], {}, /--network: unknown network "nowhere"/],
    ["bad log level", ["signer", "--log-level=loud"], {}, /--log-level/],
    ["unpaired keystores path", ["signer", "--keystores-path=/tmp"], {}, /--keystores-passwords-path must be given together/],
    ["bad environment value", ["signer"], { STRONGROOM_HTTP_PORT: "99999" }, /STRONGROOM_HTTP_PORT: expected an integer/],
    ["unknown config key", ["signer", `--config=${badConfig}`], {}, /unknown key "listen-everywhere"/],
    ["missing config file", ["signer", "--config=/nonexistent/strongroom.yaml"], {}, /cannot read \/nonexistent\/strongroom.yaml/],
    ["bad canary key", ["signer", "--canary-keys=0xabc"], {}, /--canary-keys: entry 1 is not a 48-byte hex public key/],
    ["another network's root", ["signer", "--network=mainnet", `--genesis-validators-root=0x${"11".repeat(32)}`], {}, /--genesis-validators-root: .* is not mainnet's/],
    ["TLS key without certificate", ["signer", "--tls-key-file=/tmp/key.pem"], {}, /--tls-key-file and --tls-cert-file must be given together/],
    ["aTLS and ordinary TLS", ["signer", "--atls-simulator-dir=/tmp/sim", "--tls-key-file=/tmp/k", "--tls-cert-file=/tmp/c"], {}, /--atls-simulator-dir and --tls-key-file\/--tls-cert-file exclude each other/],
    ["aTLS names without aTLS", ["signer", "--atls-san=signer.example"], {}, /--atls-san applies only to attested TLS/],
    ["rotation beyond the NSM certificate's life", ["signer", "--atls-simulator-dir=/tmp/sim", "--atls-rotate-minutes=180"], {}, /--atls-rotate-minutes: expected an integer from 1 to 120/],
    ["gateway without an upstream", ["gateway", "--tofu=/tmp/pins"], {}, /--upstream is required/],
    ["gateway upstream without a port", ["gateway", "--upstream=signer.example", "--tofu=/tmp/pins"], {}, /--upstream: expected HOST:PORT/],
    ["gateway without a PCR policy", ["gateway", "--upstream=127.0.0.1:9000"], {}, /give --pcrs MANIFEST .* or --tofu PINFILE/],
    ["gateway with both PCR policies", ["gateway", "--upstream=127.0.0.1:9000", "--pcrs=/tmp/m.json", "--tofu=/tmp/pins"], {}, /--pcrs and --tofu exclude each other/],
    ["gateway with a missing manifest", ["gateway", "--upstream=127.0.0.1:9000", "--pcrs=/nonexistent/pcrs.json"], {}, /--pcrs: the PCR manifest \/nonexistent\/pcrs.json does not exist/],
    ["gateway listening beyond loopback", ["gateway", "--upstream=127.0.0.1:9000", "--tofu=/tmp/pins", "--listen=0.0.0.0:9001"], {}, /--listen: 0\.0\.0\.0:9001 is not a loopback address.*plain HTTP.*--listen-any/],
    ["gateway pin without --reset", ["gateway", "pin", "--tofu=/tmp/pins"], {}, /give --reset/],
    ["enclave without a mode", ["enclave", "--slashing-protection-db-url=postgres://db/x"], {}, /--mode: give sim or nitro/],
    ["enclave without slashing protection", ["enclave", "--mode=nitro"], {}, /--slashing-protection-db-url: required; an enclave never signs blocks or attestations without slashing protection/],
    ["enclave with a plaintext database", ["enclave", "--mode=nitro", "--slashing-protection-db-url=postgres://signer@db.example:5432/sp?sslmode=disable"], {}, /a plaintext or unverified slashing database is refused/],
    ["enclave with an unverified database", ["enclave", "--mode=nitro", "--slashing-protection-db-url=postgres://signer@db.example:5432/sp?sslmode=require"], {}, /a plaintext or unverified slashing database is refused/],
    ["enclave with a local database", ["enclave", "--mode=nitro", "--slashing-protection-db-url=pglite:///var/lib/sp"], {}, /use postgres:\/\/ or dynamodb:\/\//],
    ["enclave with DynamoDB over plain HTTP", ["enclave", "--mode=nitro", "--slashing-protection-db-url=dynamodb://sp?region=eu-west-1&endpoint=http://ddb.example:8000"], {}, /the DynamoDB endpoint must be https/],
    ["enclave with ordinary TLS instead of aTLS", ["enclave", "--mode=nitro", "--slashing-protection-db-url=postgres://db/x", "--tls-key-file=/tmp/k"], {}, /unknown option --tls-key-file/],
    ["enclave trusting other roots in nitro mode", ["enclave", "--mode=nitro", "--slashing-protection-db-url=postgres://db/x", "--trusted-ca-file=/tmp/ca.pem"], {}, /--trusted-ca-file: refused in nitro mode/],
    ["enclave in sim mode without its directory", ["enclave", "--mode=sim", "--slashing-protection-db-url=postgres://db/x"], {}, /--simulator-dir: required in sim mode/],
    ["enclave with a malformed administrator hash", ["enclave", "--mode=nitro", "--slashing-protection-db-url=postgres://db/x", "--administrator-token-sha256=abc"], {}, /--administrator-token-sha256: expected 64 lowercase hex digits/],
    ["parent without a mode", ["parent"], {}, /--mode: give sim or nitro/],
    ["parent in nitro mode without an image", ["parent", "--mode=nitro"], {}, /--eif-path: required in nitro mode/],
    ["parent with a simulator option in nitro mode", ["parent", "--mode=nitro", "--eif-path=/x.eif", "--simulator-dir=/tmp/s"], {}, /--simulator-dir: only in sim mode/],
    ["parent with a malformed egress entry", ["parent", "--mode=nitro", "--eif-path=/x.eif", "--egress=db.example"], {}, /--egress: .*db\.example/],
    ["parent with an unknown credential source", ["parent", "--mode=nitro", "--eif-path=/x.eif", "--aws-credentials=magic"], {}, /--aws-credentials: "magic" is not none or one of/],
    ["sim with a database URL for DynamoDB", ["sim", "--slashing-backend=dynamodb", "--database-url=postgres://x/y"], {}, /--database-url: a postgres:\/\/ URL, with --slashing-backend=postgres/],
  ])("%s", async (_name, args, env, message) => {
    const { code, stderr } = await runCliToEnd(args, env);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  test("--help lists the commands and each command's options", async () => {
    const top = await runCliToEnd(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/signer/);
    const signer = await runCliToEnd(["signer", "--help"]);
    expect(signer.code).toBe(0);
    for (const option of ["--network", "--http-port", "--key-config-path", "--keystores-path", "--slashing-protection-enabled", "--tls-key-file", "--atls-simulator-dir"]) {
      expect(signer.stdout).toContain(option);
    }
    // A command that runs and has subcommands shows both.
    const gateway = await runCliToEnd(["gateway", "--help"]);
    expect(gateway.code).toBe(0);
    for (const text of ["--upstream", "--pcrs", "--tofu", "--listen-any", "Subcommands:", "pin"]) expect(gateway.stdout).toContain(text);
    const pin = await runCliToEnd(["gateway", "pin", "--help"]);
    expect(pin.stdout).toContain("--reset");
  });

  test("a port that is taken is a runtime failure (exit 1)", async () => {
    const first = startCli(["signer", "--http-port=0", "--log-level=info"]);
    try {
      const url = (await first.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
      const { code, stderr } = await runCliToEnd(["signer", `--http-port=${new URL(url).port}`]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/cannot listen/);
    } finally {
      await first.stop();
    }
  });
});

describe("strongroom signer with Web3Signer key files", () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-keys-"));
  const keyConfigDir = join(dir, "key-config");
  const keystoresDir = join(dir, "keystores");
  const passwordsDir = join(dir, "passwords");
  for (const d of [keyConfigDir, keystoresDir, passwordsDir]) mkdirSync(d);
  const secrets = [1, 2, 3, 4].map((i) => interopSecretKey(i));
  const expected = secrets.map(publicKeyOf);
  const encode = (s: string) => new TextEncoder().encode(s);

  // Key 1: file-raw. Key 2: file-keystore (scrypt). Key 3: keystores-path pair (pbkdf2). Key 4: keystores-path with a wrong password.
  writeFileSync(join(keyConfigDir, "raw.yaml"), `type: file-raw\nkeyType: BLS\nprivateKey: "${hex(secrets[0]!)}"\n`);
  writeFileSync(join(dir, "ks2.json"), JSON.stringify(encryptKeystore(secrets[1]!.slice(), encode("pw-two"), { kdf: { function: "scrypt", n: 1024, r: 8, p: 1 } })));
  writeFileSync(join(dir, "ks2.txt"), "pw-two\n");
  writeFileSync(
    join(keyConfigDir, "keystore.yaml"),
    `type: file-keystore\nkeyType: BLS\nkeystoreFile: ${join(dir, "ks2.json")}\nkeystorePasswordFile: ${join(dir, "ks2.txt")}\n`,
  );
  writeFileSync(join(keyConfigDir, "broken.yaml"), "type: [unterminated\n");
  writeFileSync(join(keystoresDir, "three.json"), JSON.stringify(encryptKeystore(secrets[2]!.slice(), encode("pw-three"), { kdf: { function: "pbkdf2", c: 1024 } })));
  writeFileSync(join(passwordsDir, "three.txt"), "pw-three");
  writeFileSync(join(keystoresDir, "four.json"), JSON.stringify(encryptKeystore(secrets[3]!.slice(), encode("pw-four"), { kdf: { function: "pbkdf2", c: 1024 } })));
  writeFileSync(join(passwordsDir, "four.txt"), "not-the-password");
  const config = join(dir, "strongroom.yaml");
  writeFileSync(config, `http-port: 0\nkey-config-path: ${keyConfigDir}\nlog-level: info\n`);

  let cli: CliProcess;
  afterAll(() => cli?.stop());

  test("loads every good key, reports each broken file by name, and signs", async () => {
    cli = startCli(["signer", `--config=${config}`, `--keystores-path=${keystoresDir}`, "--auth-unauthenticated-policy=loopback"], {
      STRONGROOM_KEYSTORES_PASSWORDS_PATH: passwordsDir,
      STRONGROOM_NETWORK: "hoodi",
    });
    const url = (await cli.waitForOutput(/"url":"(http:\/\/[^"]+)"/))[1]!;
    expect((await fetch(`${url}/upcheck`)).status).toBe(200);
    await cli.waitForOutput(/key loading finished/);

    const keys = (await (await fetch(`${url}/api/v1/eth2/publicKeys`)).json()) as string[];
    expect(keys.sort()).toEqual(expected.slice(0, 3).sort());

    const health = await fetch(`${url}/healthcheck`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ checks: expect.arrayContaining([expect.objectContaining({ status: "DOWN", data: expect.objectContaining({ loaded: 3, failed: 2, done: true }) })]) });
    expect(cli.stdout()).toMatch(/broken\.yaml/);
    expect(cli.stdout()).toMatch(/four\.json[^\n]*password|password[^\n]*four\.json/);
    expect(cli.stdout()).toMatch(/"network":"hoodi"/);

    for (const key of expected.slice(0, 3)) {
      const res = await fetch(`${url}/api/v1/eth2/sign/${key}`, { method: "POST", headers: { "content-type": "application/json", accept: "text/plain" }, body: JSON.stringify(RANDAO) });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^0x[0-9a-f]{192}$/);
    }
    // Nothing secret reaches the log.
    for (const secret of secrets) expect(cli.stdout()).not.toContain(Buffer.from(secret).toString("hex"));
    expect(cli.stdout()).not.toContain("pw-three");
  });
});
