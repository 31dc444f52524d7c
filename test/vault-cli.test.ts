// The CLI's vault and sealed-key commands (`strongroom operator
// status|init|rotate|seal|unseal`, `strongroom keys …`), run as the real
// command against a local server that records every request and answers as
// the enclave's API contract says: secret bodies carry the right bytes
// behind the right references, secrets never reach argv, JSON or output,
// unseal needs no token, imports batch and persist, backups are 0600 and
// never overwritten, and usage errors exit 2 naming the option.
import { createHmac, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { createAtlsServer } from "@strongroom/atls";
import { decodeSecretBody, SECRET_BODY_MEDIA_TYPE, type SecretBody } from "@strongroom/enclave";
import { GENUINE_IMAGE, manifestFor, OTHER_IMAGE, simulatedNsm, simulatorDirectory } from "./support/atls-impostor.ts";
import { runCliToEnd as runCli } from "./support/cli-process.ts";

interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

interface Reply {
  readonly status?: number;
  readonly json: unknown;
  readonly headers?: Record<string, string>;
}

type Answer = (request: Recorded) => Reply;

const VAULT = "/api/v1/strongroom/vault";
const STATUS = { state: "sealed", vault_id: "v1", generation: 1, kms: { threshold: 2, keys: ["k1", "k2"] }, operators: { threshold: 2, ids: ["alice", "bob"], received: 0 }, keys: { loaded: 0, failed: [] } };

/** Answers as the contract says, unless the test's own answer does. */
const contract: Answer = ({ method, path }) => {
  if (method === "GET" && path === VAULT) return { json: STATUS };
  if (method === "POST" && [`${VAULT}/init`, `${VAULT}/rotate`, `${VAULT}/seal`].includes(path)) return { json: STATUS };
  if (method === "POST" && path === `${VAULT}/unseal`) return { json: { received: 1, threshold: 2, state: "sealed" } };
  return { status: 404, json: { message: `no route ${method} ${path}` } };
};

function listener(requests: Recorded[], answer: Answer): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const recorded = { method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(recorded);
      const reply = answer(recorded);
      const body = JSON.stringify(reply.json);
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...reply.headers });
      res.end(body);
    });
  };
}

// Forty-odd runs of the CLI: Node's compile cache (stripped TypeScript included) halves the start of each after the first.
const COMPILE_CACHE = join(tmpdir(), "strongroom-test-compile-cache");
const runCliToEnd = (args: readonly string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { NODE_COMPILE_CACHE: COMPILE_CACHE, ...env });

const servers: Server[] = [];
afterAll(() => Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))));

/** A plain-HTTP signer stand-in: its URL and the requests it received. */
async function fakeSigner(answer: Answer = contract): Promise<{ url: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = createServer(listener(requests, answer));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const dir = mkdtempSync(join(tmpdir(), "strongroom-vault-cli-"));
const file = (name: string, content: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

const TOKEN = "sr_test-administrator-token";
const PASSPHRASE = "correct horse battery staple";
const passphraseFile = file("alice.pass", `${PASSPHRASE}\n`);
const bobSlot = randomBytes(20);
const bobSlotFile = file("bob.slot", `${bobSlot.toString("hex")}\n`);
const aliceSlot = randomBytes(20);
const aliceSlotFile = file("alice.slot", aliceSlot.toString("hex"));
const helperLog = join(dir, "helper-argv.log");
// A stand-in for ykchalresp: answers the challenge (its last argument) with HMAC-SHA1 under the slot secret in its first.
const helper = file(
  "chalresp.mjs",
  `import { appendFileSync, readFileSync } from "node:fs";
import { createHmac } from "node:crypto";
const [slotFile, challenge] = process.argv.slice(2);
appendFileSync(${JSON.stringify(helperLog)}, JSON.stringify(process.argv.slice(2)) + "\\n");
const slot = Buffer.from(readFileSync(slotFile, "utf8").trim(), "hex");
process.stdout.write(createHmac("sha1", slot).update(Buffer.from(challenge, "hex")).digest("hex") + "\\n");
`,
);
const hmac = (slot: Buffer, challengeHex: string) => createHmac("sha1", slot).update(Buffer.from(challengeHex, "hex")).digest();

/** The secret a `{"$secret": i}` reference names. */
function secretOf(body: SecretBody, reference: unknown): Buffer {
  const index = (reference as { $secret?: unknown }).$secret;
  expect(typeof index).toBe("number");
  return Buffer.from(body.secrets[index as number]!);
}

/** Decodes a recorded secret body (decoding zeroes its input, so a copy). */
function decoded(request: Recorded): SecretBody & { jsonText: string } {
  expect(request.headers["content-type"]).toBe(SECRET_BODY_MEDIA_TYPE);
  const jsonText = request.body.toString("utf8", 8, 8 + request.body.readUInt32BE(4));
  return { ...decodeSecretBody(Buffer.from(request.body)), jsonText };
}

describe.concurrent("operator vault commands", () => {
  test("init sends one secret body: the passphrase and both HMAC responses behind their references, challenges in the JSON", async () => {
    const signer = await fakeSigner();
    const args = [
      "operator",
      "init",
      `--url=${signer.url}`,
      "--token=env:ADMIN",
      "--kms-key=arn:aws:kms:eu-west-1:111122223333:key/1",
      "--kms-key=arn:aws:kms:eu-west-1:111122223333:key/2",
      "--kms-threshold=2",
      `--operator=alice:passphrase:alice-pass=file:${passphraseFile}`,
      `--operator=bob:hmac-sha1:bob-yk=file:${bobSlotFile}`,
      `--operator=alice:hmac-sha1:alice-yk=cmd:${process.execPath} ${helper} ${aliceSlotFile}`,
      "--operator-threshold=2",
    ];
    const run = await runCliToEnd(args, { ADMIN: TOKEN });
    expect(run.stderr).not.toMatch(/strongroom operator init:/);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(STATUS);

    expect(signer.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${VAULT}/init`]);
    const request = signer.requests[0]!;
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const body = decoded(request);
    const json = body.json as {
      kms_keys: string[];
      kms_threshold: number;
      operator_threshold: number;
      operators: { id: string; credentials: Record<string, unknown>[] }[];
    };
    expect(json.kms_keys).toEqual(["arn:aws:kms:eu-west-1:111122223333:key/1", "arn:aws:kms:eu-west-1:111122223333:key/2"]);
    expect([json.kms_threshold, json.operator_threshold]).toEqual([2, 2]);
    // Operators in order of first appearance; alice's second credential joins her.
    expect(json.operators.map((o) => [o.id, o.credentials.map((c) => `${c["kind"]}:${c["credential_id"]}`)])).toEqual([
      ["alice", ["passphrase:alice-pass", "hmac-sha1:alice-yk"]],
      ["bob", ["hmac-sha1:bob-yk"]],
    ]);
    const [alicePass, aliceYk] = json.operators[0]!.credentials as [Record<string, unknown>, Record<string, unknown>];
    const bobYk = json.operators[1]!.credentials[0]!;
    expect(Object.keys(alicePass).sort()).toEqual(["credential_id", "kind", "passphrase"]);
    expect(secretOf(body, alicePass["passphrase"]).toString("utf8")).toBe(PASSPHRASE);
    for (const [credential, slot] of [
      [aliceYk, aliceSlot],
      [bobYk, bobSlot],
    ] as const) {
      expect(credential["challenge"]).toMatch(/^[0-9a-f]{64}$/);
      expect(secretOf(body, credential["response"]).equals(hmac(slot, credential["challenge"] as string))).toBe(true);
    }
    expect(aliceYk["challenge"]).not.toBe(bobYk["challenge"]);
    expect(body.secrets).toHaveLength(3);

    // The hardware-token helper got the challenge as its last argument, and no secret.
    expect(readFileSync(helperLog, "utf8").trim().split("\n").map((line) => JSON.parse(line))).toContainEqual([aliceSlotFile, aliceYk["challenge"]]);
    // The passphrase is nowhere but in its secret slot: not in argv, the JSON part or the output.
    for (const place of [args.join(" "), body.jsonText, run.stdout, run.stderr, readFileSync(helperLog, "utf8")]) expect(place).not.toContain(PASSPHRASE);
    expect(body.jsonText).not.toContain(bobSlot.toString("hex"));
  });

  test("rotate sends only what changes", async () => {
    const signer = await fakeSigner();
    const run = await runCliToEnd(["operator", "rotate", `--url=${signer.url}`, "--token=env:ADMIN", "--kms-threshold=3"], { ADMIN: TOKEN });
    expect(run.code).toBe(0);
    const body = decoded(signer.requests[0]!);
    expect(signer.requests[0]!.path).toBe(`${VAULT}/rotate`);
    expect([body.json, body.secrets.length]).toEqual([{ kms_threshold: 3 }, 0]);
  });

  test("unseal with an hmac-sha1 token fetches the stored challenge, answers it, and sends no token", async () => {
    const challenge = randomBytes(32).toString("hex");
    const signer = await fakeSigner((request) =>
      request.path === `${VAULT}/operators/bob/credentials`
        ? { json: { data: [{ credential_id: "bob-pass", kind: "passphrase" }, { credential_id: "bob-yk", kind: "hmac-sha1", challenge }] } }
        : contract(request),
    );
    // STRONGROOM_OPERATOR_TOKEN is set: still no token goes with an unseal.
    const run = await runCliToEnd(["operator", "unseal", `--url=${signer.url}`, "--operator=bob", `--hmac-sha1=file:${bobSlotFile}`], { STRONGROOM_OPERATOR_TOKEN: TOKEN });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ received: 1, threshold: 2, state: "sealed" });
    expect(signer.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET ${VAULT}/operators/bob/credentials`, `POST ${VAULT}/unseal`]);
    for (const request of signer.requests) expect(request.headers.authorization).toBeUndefined();
    const body = decoded(signer.requests[1]!);
    expect(body.json).toEqual({ operator: "bob", kind: "hmac-sha1", credential_id: "bob-yk", secret: { $secret: 0 } });
    expect(Buffer.from(body.secrets[0]!).equals(hmac(bobSlot, challenge))).toBe(true);
  });

  test("unseal asks for --credential-id when an operator has several hmac-sha1 credentials, and uses the one named", async () => {
    const challenges = { a: randomBytes(32).toString("hex"), b: randomBytes(32).toString("hex") };
    const signer = await fakeSigner((request) =>
      request.method === "GET"
        ? { json: { data: Object.entries(challenges).map(([id, challenge]) => ({ credential_id: id, kind: "hmac-sha1", challenge })) } }
        : contract(request),
    );
    const base = ["operator", "unseal", `--url=${signer.url}`, "--operator=bob", `--hmac-sha1=cmd:${process.execPath} ${helper} ${bobSlotFile}`];
    const ambiguous = await runCliToEnd(base);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/--credential-id: operator "bob" has several hmac-sha1 credentials \(a, b\)/);
    expect(signer.requests).toHaveLength(1);

    const chosen = await runCliToEnd([...base, "--credential-id=b"]);
    expect(chosen.code).toBe(0);
    const body = decoded(signer.requests.at(-1)!);
    expect(body.json).toMatchObject({ credential_id: "b" });
    expect(Buffer.from(body.secrets[0]!).equals(hmac(bobSlot, challenges.b))).toBe(true);
  });

  test("unseal with a passphrase sends it as the one secret, without a token", async () => {
    const signer = await fakeSigner();
    const run = await runCliToEnd(["operator", "unseal", `--url=${signer.url}`, "--operator=alice", "--passphrase=env:PASS"], { PASS: PASSPHRASE });
    expect(run.code).toBe(0);
    expect(signer.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST ${VAULT}/unseal`]);
    expect(signer.requests[0]!.headers.authorization).toBeUndefined();
    const body = decoded(signer.requests[0]!);
    expect(body.json).toEqual({ operator: "alice", kind: "passphrase", secret: { $secret: 0 } });
    expect(Buffer.from(body.secrets[0]!).toString("utf8")).toBe(PASSPHRASE);
    expect(body.jsonText).not.toContain(PASSPHRASE);
  });

  test("a locked-out credential's 429 says when to try again", async () => {
    const signer = await fakeSigner(() => ({ status: 429, json: { message: "too many wrong credentials" }, headers: { "retry-after": "30" } }));
    const run = await runCliToEnd(["operator", "unseal", `--url=${signer.url}`, "--operator=alice", "--passphrase=env:PASS"], { PASS: PASSPHRASE });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/the signer answered 429: too many wrong credentials \(try again in 30 s\)/);
    expect(run.stderr).not.toContain(PASSPHRASE);
  });

  test("status and seal go over attested TLS with --simulator-dir (its URL, manifest, root and token); another image is refused before any request", async () => {
    const simDir = simulatorDirectory();
    writeFileSync(join(simDir, "pcrs.json"), await manifestFor(GENUINE_IMAGE));
    writeFileSync(join(simDir, "admin-token"), `${TOKEN}\n`);
    const requests: Recorded[] = [];
    const atls = await createAtlsServer({ nsm: await simulatedNsm({ simDir }), subjectAltNames: ["localhost", "127.0.0.1"], requestListener: listener(requests, contract) });
    servers.push(atls.server);
    await new Promise<void>((resolve) => atls.server.listen(0, "127.0.0.1", resolve));
    writeFileSync(join(simDir, "ingress-url"), `https://127.0.0.1:${(atls.server.address() as AddressInfo).port}\n`);
    try {
      const status = await runCliToEnd(["operator", "status", `--simulator-dir=${simDir}`]);
      expect(status.stderr).toBe("");
      expect([status.code, JSON.parse(status.stdout)]).toEqual([0, STATUS]);
      expect(requests.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([["GET", VAULT, `Bearer ${TOKEN}`]]);

      const otherManifest = file("other-pcrs.json", await manifestFor(OTHER_IMAGE));
      const refused = await runCliToEnd(["operator", "seal", `--simulator-dir=${simDir}`, `--pcrs=${otherManifest}`]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/failed attested-TLS verification, so nothing was sent/);
      expect(requests).toHaveLength(1);
    } finally {
      atls.stop();
    }
  });
});

describe.concurrent("keys commands", () => {
  const publicKey = (n: number) => `0x${n.toString(16).padStart(2, "0").repeat(48)}`;
  const keystoreText = (n: number) => JSON.stringify({ version: 4, pubkey: publicKey(n).slice(2), uuid: `uuid-${n}`, path: "", crypto: { kdf: {}, checksum: {}, cipher: {} } });

  test("import reads NAME.txt passwords, persists by default, reports each key and exits 1 when one failed", async () => {
    const keys = join(dir, "import-txt");
    mkdirSync(keys);
    const passwords = ["first password", "zweites Passwort ü", "third\r"];
    passwords.forEach((password, n) => {
      writeFileSync(join(keys, `keystore-${n}.json`), keystoreText(n));
      writeFileSync(join(keys, `keystore-${n}.txt`), n === 1 ? password : `${password}\n`);
    });
    writeFileSync(join(keys, "notes.md"), "not a keystore");
    const signer = await fakeSigner(() => ({ json: { data: [{ status: "imported" }, { status: "duplicate" }, { status: "error", message: "invalid password" }] } }));
    const run = await runCliToEnd(["keys", "import", keys, `--url=${signer.url}`, "--token=env:ADMIN"], { ADMIN: TOKEN });
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split("\n")).toEqual([
      `imported  ${publicKey(0)} keystore-0.json`,
      `duplicate ${publicKey(1)} keystore-1.json`,
      `error     ${publicKey(2)} keystore-2.json: invalid password`,
    ]);
    expect(run.stderr).toMatch(/1 of 3 keystores were not imported/);
    expect(signer.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /eth/v1/keystores"]);
    expect(signer.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // One trailing newline is stripped (with the CR of a CRLF), nothing else.
    expect(JSON.parse(signer.requests[0]!.body.toString("utf8"))).toEqual({ keystores: [0, 1, 2].map(keystoreText), passwords: ["first password", "zweites Passwort ü", "third"], persist: true });
  });

  test("import sends at most 100 keystores a request; --password serves all, --no-persist keeps them in memory", async () => {
    const keys = join(dir, "import-many");
    mkdirSync(keys);
    for (let n = 0; n < 150; n++) writeFileSync(join(keys, `k${String(n).padStart(3, "0")}.json`), keystoreText(n));
    const signer = await fakeSigner((request) => ({ json: { data: (JSON.parse(request.body.toString("utf8")) as { keystores: unknown[] }).keystores.map(() => ({ status: "imported" })) } }));
    const run = await runCliToEnd(["keys", "import", keys, "--password=env:PW", "--no-persist", `--url=${signer.url}`, "--token=env:ADMIN"], { ADMIN: TOKEN, PW: "shared" });
    expect(run.code).toBe(0);
    const bodies = signer.requests.map((r) => JSON.parse(r.body.toString("utf8")) as { keystores: string[]; passwords: string[]; persist: boolean });
    expect(bodies.map((b) => [b.keystores.length, new Set(b.passwords).size, b.passwords[0], b.persist])).toEqual([
      [100, 1, "shared", false],
      [50, 1, "shared", false],
    ]);
    expect(bodies.flatMap((b) => b.keystores)).toEqual(Array.from({ length: 150 }, (_, n) => keystoreText(n)));
    expect(run.stdout.trim().split("\n")).toHaveLength(150);
  });

  test("generate writes each backup with mode 0600 in a new 0700 directory, and never overwrites one", async () => {
    const { publicKey: backupPublic } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const backupKey = backupPublic.export({ type: "spki", format: "pem" }).toString();
    const backupFile = file("backup.pub.pem", backupKey);
    const generated = [1, 2].map((n) => ({ public_key: publicKey(n), keystore: JSON.parse(keystoreText(n)) as unknown, encrypted_password: randomBytes(256).toString("base64") }));
    const signer = await fakeSigner((request) => (request.path === "/api/v1/strongroom/keys/generate" ? { json: { data: generated } } : contract(request)));
    const out = join(dir, "generated", "backups");
    const args = ["keys", "generate", "2", `--backup-key=${backupFile}`, `--out=${out}`, `--url=${signer.url}`, "--token=env:ADMIN"];

    const run = await runCliToEnd(args, { ADMIN: TOKEN });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split("\n")).toEqual([publicKey(1), publicKey(2)]);
    expect(JSON.parse(signer.requests[0]!.body.toString("utf8"))).toEqual({ count: 2, backup_public_key: backupKey });
    expect(statSync(out).mode & 0o777).toBe(0o700);
    for (const key of generated) {
      const base = join(out, `keystore-${key.public_key.slice(2)}`);
      expect(JSON.parse(readFileSync(`${base}.json`, "utf8"))).toEqual(key.keystore);
      expect(readFileSync(`${base}.password.enc`, "utf8").trim()).toBe(key.encrypted_password);
      for (const path of [`${base}.json`, `${base}.password.enc`]) expect(statSync(path).mode & 0o777).toBe(0o600);
    }

    const before = readFileSync(join(out, `keystore-${publicKey(1).slice(2)}.password.enc`));
    const again = await runCliToEnd(args, { ADMIN: TOKEN });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cannot write the backup of 0x01.* \(EEXIST\)/);
    expect(again.stderr).toMatch(/2 of 2 backups were not written \(existing files are never overwritten\)/);
    expect(readFileSync(join(out, `keystore-${publicKey(1).slice(2)}.password.enc`)).equals(before)).toBe(true);
  });

  test("activate, deactivate and delete name the key in the path", async () => {
    const signer = await fakeSigner(({ method, path }) => ({ json: { method, path } }));
    const key = publicKey(0xab).toUpperCase().replace("0X", "0x");
    const runs = await Promise.all(["activate", "deactivate", "delete"].map((command) => runCliToEnd(["keys", command, key, `--url=${signer.url}`, "--token=env:ADMIN"], { ADMIN: TOKEN })));
    expect(runs.map((run) => run.code)).toEqual([0, 0, 0]);
    expect(signer.requests.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      `DELETE /api/v1/strongroom/keys/${publicKey(0xab)}`,
      `POST /api/v1/strongroom/keys/${publicKey(0xab)}/activate`,
      `POST /api/v1/strongroom/keys/${publicKey(0xab)}/deactivate`,
    ]);
  });
});

describe.concurrent("usage errors exit 2, name the option and never quote a secret", () => {
  const privateKeyFile = file("backup.pem", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }));
  const noPasswords = join(dir, "no-passwords");
  mkdirSync(noPasswords);
  writeFileSync(join(noPasswords, "k.json"), "{}");
  const noSimulator = mkdtempSync(join(tmpdir(), "strongroom-no-sim-"));
  const layout = ["--url=http://127.0.0.1:1", "--token=env:ADMIN"];

  test.each<[string, string[], RegExp]>([
    ["init without the KMS threshold", ["operator", "init", ...layout, "--kms-key=k1", "--kms-key=k2"], /--kms-threshold is required with --kms-key/],
    ["init without the operator threshold", ["operator", "init", ...layout, "--operator=alice:passphrase:p=env:P"], /--operator-threshold is required with --operator/],
    ["a spec without a source", ["operator", "init", ...layout, "--operator=alice", "--operator-threshold=1"], /--operator: expected OPERATOR_ID:passphrase:CREDENTIAL_ID=SOURCE/],
    ["a credential id twice", ["operator", "init", ...layout, "--operator=alice:passphrase:p=env:P", "--operator=alice:passphrase:p=env:Q", "--operator-threshold=1"], /--operator: operator "alice" has credential "p" twice/],
    ["a literal passphrase", ["operator", "init", ...layout, "--operator=alice:passphrase:p=hunter2", "--operator-threshold=1"], /--operator alice:passphrase:p: give a secret as env:NAME, file:\/path or prompt, never literally/],
    ["a literal HMAC secret", ["operator", "init", ...layout, `--operator=bob:hmac-sha1:yk=${"ab".repeat(20)}`, "--operator-threshold=1"], /--operator bob:hmac-sha1:yk: an hmac-sha1 source is file:\/path .* or cmd:COMMAND ARGS/],
    ["a software token that is not 40 hex digits", ["operator", "init", ...layout, `--operator=bob:hmac-sha1:yk=file:${passphraseFile}`, "--operator-threshold=1"], /--operator bob:hmac-sha1:yk: the software token's file must hold its slot secret as 40 hex digits/],
    ["rotate with only the operator threshold", ["operator", "rotate", ...layout, "--operator-threshold=2"], /--operator-threshold re-splits the operator shares/],
    ["unseal with a literal passphrase", ["operator", "unseal", ...layout, "--operator=a", "--passphrase=hunter2"], /--passphrase: give a secret as env:NAME, file:\/path or prompt, never literally/],
    ["a prompt without a terminal", ["operator", "unseal", ...layout, "--operator=a", "--passphrase=prompt"], /--passphrase: "prompt" needs a terminal on stdin; give the secret as env:NAME or file:\/path/],
    ["--pcrs with a plain-HTTP URL", ["operator", "status", ...layout, "--pcrs=/nonexistent/pcrs.json"], /--url: attested TLS \(--pcrs\) needs https:\/\/HOST:PORT/],
    ["a simulator directory without its ingress URL", ["operator", "status", `--simulator-dir=${noSimulator}`], /--simulator-dir: cannot read .*ingress-url/],
    ["a private backup key", ["keys", "generate", "1", ...layout, `--backup-key=${privateKeyFile}`, `--out=${join(dir, "never")}`], /--backup-key: .* holds a private key/],
    ["a keystore without its password file", ["keys", "import", noPasswords, ...layout], /k\.txt is missing: .* or give --password/],
  ])("%s", async (_name, args, message) => {
    const run = await runCliToEnd(args, { ADMIN: TOKEN });
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain("hunter2");
    expect(run.stderr).not.toContain("ab".repeat(20));
    expect(run.stderr).not.toContain(PASSPHRASE);
  });

  test("generate's --help says how to recover a backup", async () => {
    const help = await runCliToEnd(["keys", "generate", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("base64 -d");
    expect(help.stdout).toContain("openssl pkeyutl -decrypt -inkey backup.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256");
    for (const option of ["--backup-key", "--out", "--pcrs", "--simulator-dir", "--token"]) expect(help.stdout).toContain(option);
  });
});
