// The whole split system on one machine (DESIGN.md §3): the outbound
// services behind TLS fronts signed by the simulator's service CA (PostgreSQL
// as PGlite over its wire protocol or a server of the caller's, or DynamoDB
// behind a SigV4-checking front), an IMDSv2 for the parent's credentials, the
// parent (which starts the enclave), a gateway for validator clients, and
// the operator's part: on the first run the vault is initialised (2 of 3
// simulated KMS keys bound to the enclave image's PCR0, through `strongroom
// operator init` over attested TLS) and the demo keys are imported through
// the Key Manager API over attested TLS and sealed into the vault's store —
// never through the parent in plaintext. A restarted enclave unseals itself
// through attested KMS and loads them again; nobody re-imports anything.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { createAtlsDispatcher, parsePcrManifest } from "@strongroom/atls";
import { blsPublicKey, encryptKeystore, interopSecretKey } from "@strongroom/keystore";
import { loadOrCreateSimulatedCa } from "@strongroom/nitro";
import { servePglite } from "@strongroom/slashing";
import dynalite from "dynalite";
import type { Logger } from "pino";
import { request, type Dispatcher } from "undici";
import { startAwsFront } from "./aws-front.ts";
import { ImdsSimulator } from "./imds/index.ts";
import { startProcess, type ManagedProcess } from "./processes.ts";
import { loadOrCreateServiceCa } from "./service-ca.ts";
import { startTlsFront } from "./tls-front.ts";
import { SIMULATED_KMS_THRESHOLD, startSimulatedKms } from "./vault-services.ts";

export type SimulatedDatabase = { readonly kind: "pglite" } | { readonly kind: "postgres"; readonly url: string } | { readonly kind: "dynamodb" };

export interface SimulationOptions {
  /** The simulator's directory; a second run reuses it (CAs, admin token, slashing history). */
  readonly dir: string;
  /** How to run `strongroom` (program and leading arguments). */
  readonly cli: readonly [string, ...string[]];
  /** The PCR manifest (JSON) of the simulated enclave image, which the gateway and the operator pin. */
  readonly pcrManifest: string;
  /** Where validator clients connect (plain HTTP on 127.0.0.1; 0 picks a free port). */
  readonly gatewayPort: number;
  readonly demoKeys: number;
  readonly database: SimulatedDatabase;
  /** Lifetime of the IMDS role credentials (short ones exercise refreshing). */
  readonly credentialLifetimeMs?: number;
  /** Record every byte the parent relays (boundary audits). */
  readonly auditFile?: string;
  readonly logLevel: string;
  readonly log: Logger;
}

export interface Simulation {
  readonly dir: string;
  /** http://127.0.0.1:port — the validator client's Web3Signer URL. */
  readonly gatewayUrl: string;
  /** https://127.0.0.1:port — the parent's ingress: attested TLS straight to the enclave. */
  readonly ingressUrl: string;
  readonly adminTokenFile: string;
  readonly attestationRoot: string;
  readonly pcrManifestFile: string;
  readonly publicKeys: readonly string[];
  readonly databaseDescription: string;
  /** The KMS simulator's endpoint and the vault's three key ARNs. */
  readonly kms: { readonly url: string; readonly keyIds: readonly string[] };
  /** The IMDSv2 simulator (where the parent, and a test, get the instance role's credentials). */
  readonly imdsUrl: string;
  /** The running parent process (tests kill it; the simulation restarts it). */
  parentPid(): number | undefined;
  close(): Promise<void>;
}

const REGION = "us-east-1";
const execFileAsync = promisify(execFile);
const KEEPER_EVERY_MS = 1_000;
/** Demo keystores only cross aTLS; a cheap KDF keeps their import instant. */
const DEMO_KDF = { function: "pbkdf2", c: 2048 } as const;

export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  const dir = resolve(options.dir);
  mkdirSync(join(dir, "data"), { recursive: true, mode: 0o700 });
  const { log } = options;
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await Promise.resolve(closer()).catch(() => {});
  };
  try {
    stopOrphanedEnclave(dir, log);
    const serviceCa = loadOrCreateServiceCa(dir);
    const { rootCertificatePath } = loadOrCreateSimulatedCa(dir);
    const pcrManifestFile = join(dir, "pcrs.json");
    writeFileSync(pcrManifestFile, `${options.pcrManifest}\n`);
    const adminTokenFile = join(dir, "admin-token");
    const adminToken = loadOrCreateAdminToken(adminTokenFile);

    const imds = await ImdsSimulator.start({ region: REGION, ...(options.credentialLifetimeMs !== undefined && { credentialLifetimeMs: options.credentialLifetimeMs }) });
    closers.push(() => imds.close());
    const aws = await startDynamo(dir, serviceCa, imds);
    closers.push(aws.close);
    const database = await startDatabase(options.database, dir, serviceCa, aws.port);
    closers.push(...database.closers);
    const kms = await startSimulatedKms({ dir, ca: serviceCa, imds, region: REGION, attestationRoot: readFileSync(rootCertificatePath, "utf8"), pcr0Hex: pcr0Of(options.pcrManifest) });
    closers.push(() => kms.close());
    const egress = [...new Set([...database.egress, `localhost:${aws.port}`, `localhost:${kms.port}`])];

    const enclaveConfig = join(dir, "enclave.yaml");
    writeFileSync(
      enclaveConfig,
      [
        "# Written by strongroom sim on every start: what a real enclave image bakes in.",
        "network: mainnet",
        `slashing-protection-db-url: "${database.url}"`,
        `trusted-ca-file: ["${serviceCa.certificatePath}"]`,
        `vault-db-url: "dynamodb://strongroom-vault?region=${REGION}&endpoint=https://localhost:${aws.port}"`,
        `kms-endpoint: "${kms.url}"`,
        `administrator-token-sha256: ${sha256Hex(adminToken)}`,
        "auth-unauthenticated-policy: loopback",
        "atls-san: [localhost, 127.0.0.1]",
        `log-level: ${options.logLevel}`,
        "",
      ].join("\n"),
    );

    const ingressPort = await freePort();
    const parentArgs = [
      ...options.cli,
      "parent",
      "--mode=sim",
      `--simulator-dir=${dir}`,
      `--enclave-config=${enclaveConfig}`,
      "--ingress-host=127.0.0.1",
      `--ingress-port=${ingressPort}`,
      ...egress.map((route) => `--egress=${route}`),
      "--aws-credentials=imds",
      `--aws-region=${REGION}`,
      `--enclave-log-file=${join(dir, "enclave.log")}`,
      "--metrics-port=0",
      "--stop-enclave-on-exit",
      `--log-level=${options.logLevel === "debug" || options.logLevel === "trace" ? options.logLevel : "info"}`,
      ...(options.auditFile !== undefined ? [`--audit-file=${resolve(options.auditFile)}`] : []),
    ] as [string, ...string[]];
    const parentEnv = { ...process.env, ...imds.environment() };
    const startParentProcess = () => {
      const started = startProcess(parentArgs, join(dir, "parent.log"), parentEnv);
      // For operators and tests that want to see the parent die: the simulation starts it again.
      writeFileSync(join(dir, "parent.pid"), `${started.child.pid}\n`);
      return started;
    };
    let parent: ManagedProcess = startParentProcess();
    await parent.waitFor("parent running", 120_000);
    closers.push(() => parent.stop());

    const ingressUrl = `https://127.0.0.1:${ingressPort}`;
    // Where `strongroom operator --simulator-dir` finds the enclave.
    writeFileSync(join(dir, "ingress-url"), `${ingressUrl}\n`);
    const operator = new Operator(ingressUrl, adminToken, options.pcrManifest, readFileSync(rootCertificatePath, "latin1"), options.demoKeys);
    closers.push(() => operator.close());
    await operator.waitUntilServing(120_000);
    await operator.initialiseVault(options.cli, dir, kms.keyIds, log);
    await operator.sealMissingKeys(log);

    const gateway = startProcess(
      [
        ...options.cli,
        "gateway",
        `--upstream=127.0.0.1:${ingressPort}`,
        `--pcrs=${pcrManifestFile}`,
        `--root=${rootCertificatePath}`,
        `--listen=127.0.0.1:${options.gatewayPort}`,
        "--health-interval-seconds=1",
      ],
      join(dir, "gateway.log"),
      process.env,
    );
    const ready = await gateway.waitFor("gateway listening", 60_000);
    closers.push(() => gateway.stop());

    // Plays the host's supervisor: a dead parent is started again. (A restarted enclave unseals and loads its keys by itself.)
    let stopped = false;
    const keeper = setInterval(() => {
      if (stopped) return;
      if (parent.child.exitCode !== null || parent.child.signalCode !== null) {
        log.warn({ code: parent.child.exitCode, signal: parent.child.signalCode }, "the parent exited; starting it again");
        parent = startParentProcess();
        parent.waitFor("parent running", 120_000).catch((error: unknown) => log.error({ reason: (error as Error).message }, "the restarted parent did not come up"));
      }
    }, KEEPER_EVERY_MS);
    closers.push(() => {
      stopped = true;
      clearInterval(keeper);
    });

    return {
      dir,
      gatewayUrl: String(ready["url"]),
      ingressUrl,
      adminTokenFile,
      attestationRoot: rootCertificatePath,
      pcrManifestFile,
      publicKeys: operator.publicKeys,
      databaseDescription: database.description,
      kms: { url: kms.url, keyIds: kms.keyIds },
      imdsUrl: imds.url,
      parentPid: () => parent.child.pid,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

interface RunningDatabase {
  /** The slashing-protection URL the enclave uses (a name its TLS verifies). */
  readonly url: string;
  /** host:port routes the parent must allow. */
  readonly egress: readonly string[];
  readonly description: string;
  readonly closers: (() => Promise<void>)[];
}

/** DynamoDB (dynalite, data in the simulator's directory) behind a SigV4-checking TLS front: the vault's store, and the slashing database when asked for. */
async function startDynamo(dir: string, ca: ReturnType<typeof loadOrCreateServiceCa>, imds: ImdsSimulator): Promise<{ port: number; close: () => Promise<void> }> {
  const server = dynalite({ path: join(dir, "data", "dynamodb"), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    const port = (server.address() as { port: number }).port;
    const front = await startAwsFront({ ca, names: ["localhost"], backend: new URL(`http://127.0.0.1:${port}`), region: REGION, service: "dynamodb", lookup: (id) => imds.store.lookup(id) });
    return {
      port: front.port,
      close: async () => {
        await front.close();
        await closeServer();
      },
    };
  } catch (error) {
    await closeServer();
    throw error;
  }
}

/** The database behind a TLS front on "localhost" (a name that resolves, so the egress allowlist check passes). */
async function startDatabase(database: SimulatedDatabase, dir: string, ca: ReturnType<typeof loadOrCreateServiceCa>, dynamoPort: number): Promise<RunningDatabase> {
  const closers: (() => Promise<void>)[] = [];
  if (database.kind === "dynamodb") {
    return {
      url: `dynamodb://strongroom-slashing?region=${REGION}&endpoint=https://localhost:${dynamoPort}`,
      egress: [`localhost:${dynamoPort}`],
      description: "DynamoDB (dynalite) behind a SigV4-checking TLS front",
      closers,
    };
  }
  let backend: URL;
  let description: string;
  if (database.kind === "pglite") {
    const pglite = await servePglite(join(dir, "data", "slashing"));
    closers.push(() => pglite.close());
    backend = new URL(pglite.url);
    description = `PGlite in ${join(dir, "data", "slashing")}`;
  } else {
    backend = new URL(database.url);
    description = `PostgreSQL at ${backend.host}`;
  }
  const front = await startTlsFront({ ca, names: ["localhost"], backend: { host: backend.hostname, port: Number(backend.port || 5432) }, protocol: "postgres" });
  closers.push(() => front.close());
  const url = new URL(backend.href);
  url.hostname = "localhost";
  url.port = String(front.port);
  url.search = "";
  return { url: url.href, egress: [`localhost:${front.port}`], description, closers };
}

/**
 * The operator's side: attested TLS straight to the enclave (through the
 * parent's ingress, which sees only ciphertext), the administrator token,
 * and demo keystores encrypted here.
 */
class Operator {
  readonly publicKeys: readonly string[];
  readonly #url: string;
  readonly #token: string;
  readonly #dispatcher: Dispatcher;

  constructor(url: string, token: string, manifest: string, root: string, count: number) {
    this.#url = url;
    this.#token = token;
    this.publicKeys = Array.from({ length: count }, (_, i) => {
      const secretKey = interopSecretKey(i);
      const publicKey = `0x${Buffer.from(blsPublicKey(secretKey, `interop key ${i}`)).toString("hex")}`;
      secretKey.fill(0);
      return publicKey;
    });
    this.#dispatcher = createAtlsDispatcher({ pcrPolicy: { kind: "manifest", sets: parsePcrManifest(manifest, "the simulated image's PCR manifest") }, root, connections: 2 });
  }

  async waitUntilServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const answer = await request(`${this.#url}/upcheck`, { dispatcher: this.#dispatcher, headersTimeout: 5_000, bodyTimeout: 5_000 });
        await answer.body.dump();
        if (answer.statusCode === 200) return;
        last = `status ${answer.statusCode}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`the enclave did not serve within ${timeoutMs / 1000} s (last: ${last}); see enclave.log and parent.log in the simulator directory`);
  }

  /**
   * On the first run, `strongroom operator init` (the real CLI, over aTLS)
   * splits a new master key 2 of 3 across the simulated KMS keys; on later
   * runs the enclave has unsealed itself through attested KMS. Either way,
   * waits until the vault is unsealed and its keys are loaded.
   */
  async initialiseVault(cli: readonly string[], dir: string, kmsKeys: readonly string[], log: Logger, timeoutMs = 120_000): Promise<void> {
    const status = (await this.#call("GET", "/api/v1/strongroom/vault")) as { state: string };
    if (status.state === "uninitialized") {
      const [program, ...args] = cli;
      const init = [...args, "operator", "init", `--simulator-dir=${dir}`, ...kmsKeys.map((key) => `--kms-key=${key}`), `--kms-threshold=${SIMULATED_KMS_THRESHOLD}`];
      try {
        await execFileAsync(program!, init, { timeout: timeoutMs });
      } catch (error) {
        const { stderr } = error as { stderr?: string };
        throw new Error(`strongroom operator init failed: ${(stderr ?? (error as Error).message).trim().slice(0, 2000)}`);
      }
      log.info({ kmsKeys: kmsKeys.length, threshold: SIMULATED_KMS_THRESHOLD }, "initialised the vault: a new master key, split across the simulated KMS keys");
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = (await this.#call("GET", "/api/v1/strongroom/vault")) as { state: string; reason?: string; keys: { loading: boolean } };
      if (now.state === "unsealed" && !now.keys.loading) return;
      if (Date.now() > deadline) throw new Error(`the vault did not unseal within ${timeoutMs / 1000} s (state ${now.state}${now.reason === undefined ? "" : `: ${now.reason}`})`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Imports the demo keys the sealed store lacks, asking the enclave to seal them into it (first run). */
  async sealMissingKeys(log: Logger): Promise<void> {
    const listed = (await this.#call("GET", "/api/v1/strongroom/keys")) as { data: { public_key: string }[] };
    const present = new Set(listed.data.map((key) => key.public_key));
    const keystores: string[] = [];
    const passwords: string[] = [];
    this.publicKeys.forEach((publicKey, i) => {
      if (present.has(publicKey)) return;
      const secretKey = interopSecretKey(i);
      const password = Buffer.from(randomBytes(16).toString("hex"));
      keystores.push(JSON.stringify(encryptKeystore(secretKey, password, { kdf: DEMO_KDF, description: `interop demo key ${i}` })));
      secretKey.fill(0);
      // The Key Manager API takes passwords as JSON strings; this one exists only for this request, inside aTLS.
      passwords.push(password.toString("latin1"));
      password.fill(0);
    });
    if (keystores.length === 0) return;
    const answer = (await this.#call("POST", "/eth/v1/keystores", { keystores, passwords, persist: true })) as { data: { status: string; message: string }[] };
    const failed = answer.data.filter((entry) => entry.status === "error");
    if (failed.length > 0) throw new Error(`the demo keys were not all sealed: ${failed.map((entry) => entry.message).join("; ").slice(0, 1000)}`);
    log.info({ imported: keystores.length }, "imported the demo keys over aTLS and sealed them into the vault");
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  async #call(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
    const answer = await request(`${this.#url}${path}`, {
      method,
      dispatcher: this.#dispatcher,
      headers: { authorization: `Bearer ${this.#token}`, accept: "application/json", ...(body !== undefined && { "content-type": "application/json" }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await answer.body.text();
    if (answer.statusCode !== 200) throw new Error(`${method} ${path} answered ${answer.statusCode}: ${text.slice(0, 200)}`);
    return JSON.parse(text);
  }
}

/** The operator's administrator token: made once, kept in the simulator's directory (mode 0600). */
function loadOrCreateAdminToken(path: string): string {
  if (!existsSync(path)) {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const token = `sr_${[...randomBytes(43)].map((byte) => alphabet[byte & 63]).join("")}`;
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: "wx" });
  }
  return readFileSync(path, "utf8").trim();
}

function sha256Hex(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** A free TCP port on loopback, for the ingress (it must stay the same across parent restarts). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** An enclave left by a simulation that did not stop cleanly would keep an old configuration: stop it. */
function stopOrphanedEnclave(dir: string, log: Logger): void {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(dir, "enclave.pid"), "utf8"), 10);
    const argv = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
    if (!argv.includes("enclave") || !argv.includes("--mode=sim")) return;
  } catch {
    return;
  }
  log.warn({ pid }, "stopping an enclave left running by an earlier simulation");
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Gone meanwhile.
  }
}

/** PCR0 of the (first) image in a PCR manifest: what the simulated KMS keys' policy pins. */
function pcr0Of(manifest: string): string {
  const pcr0 = parsePcrManifest(manifest, "the simulated image's PCR manifest")[0]?.get(0);
  if (pcr0 === undefined) throw new Error("the simulated image's PCR manifest has no PCR0");
  return Buffer.from(pcr0).toString("hex");
}
