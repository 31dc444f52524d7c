// unseal: from an enclave's start to N keys ready to sign, under the
// simulator (the vault's store in DynamoDB — dynalite behind its SigV4 TLS
// front — and the master key split 2 of 3 across simulated attested KMS
// keys). The keys are seeded first (not timed; the seeding rate is reported)
// through the Key Manager API over attested TLS with "persist": true, so the
// enclave seals each into the store. Then the enclave process is SIGKILLed;
// the parent's watchdog starts a new one, which unseals itself through
// attested KMS and loads the sealed keys. Timed: the kill to the new
// enclave's "sealed keys loaded" (wall), with the split from its log; then a
// signature through the gateway for the last key seeded; then the enclave's
// resident memory (VmRSS, VmHWM: its signing worker threads are in the same
// process). Goals: 10,000 keys in under 10 s, 100,000 keys in under 1 GiB.
//
// Each kill waits until the previous enclave has been up for 62 s, so that
// the parent's watchdog restarts every one after the same 1 s backoff; the
// split from process start (/proc) and the log lines' times is apart from it.
//
// Run: node --conditions=strongroom-source test/bench/unseal.ts, or
// `make bench BENCH=unseal` — prints one JSON object on stdout (12 to 18
// minutes with the defaults, most of it seeding 100,000 keys).
// UNSEAL_KEYS=10000,100000 (default): the key counts, seeded in turn into one
// simulation; UNSEAL_RESTARTS=3: restarts measured at each count;
// UNSEAL_BATCH=1000, UNSEAL_IN_FLIGHT=1: the seeding's import requests.
// The seeded keystores use PBKDF2 with c=1: they only cross attested TLS, and
// a real KDF would time the seeding's decryption, not the unseal. The
// slashing-protection database is DynamoDB too (the same dynalite); an import
// writes each key's row there first, and keys refused because that write
// missed the enclave's deadline are sent again (counted as "retried").
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createAtlsDispatcher, parsePcrManifest } from "@strongroom/atls";
import { blsPublicKey, encryptKeystore, interopSecretKey } from "@strongroom/keystore";
import { request } from "undici";
import { ONE_OF_EACH_SIGNING_TYPE } from "../support/mainnet-requests.ts";
import { startSimulation } from "../support/simulation.ts";

const KEY_COUNTS = (process.env["UNSEAL_KEYS"] ?? "10000,100000")
  .split(",")
  .map((text) => Number(text.trim()))
  .sort((a, b) => a - b);
if (KEY_COUNTS.length === 0 || !KEY_COUNTS.every((n) => Number.isInteger(n) && n >= 1)) throw new Error("UNSEAL_KEYS: positive integers, comma-separated");
const RESTARTS = Number(process.env["UNSEAL_RESTARTS"] ?? 3);
/** Keystores per import request (the Key Manager API takes at most 1000). */
const BATCH = Number(process.env["UNSEAL_BATCH"] ?? 1000);
/** Import requests in flight at once. */
const IN_FLIGHT = Number(process.env["UNSEAL_IN_FLIGHT"] ?? 1);
const KDF = { function: "pbkdf2", c: 1 } as const;
const PASSWORD = "unseal bench";
/** The parent's watchdog resets its restart backoff (1 s, doubling) once an enclave has been up 60 s; each kill waits for that, so every restart gets the same 1 s. */
const WATCHDOG_STABLE_MS = 62_000;
const LOAD_TIMEOUT_MS = 900_000;
const DEMO_KEYS = 1;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const log = (message: string) => process.stderr.write(`unseal: ${message}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const publicKeyOf = (i: number) => `0x${Buffer.from(blsPublicKey(interopSecretKey(i), `interop key ${i}`)).toString("hex")}`;

const bootMs = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "latin1"))![1]) * 1000;

/** When a process started (wall clock, 10 ms resolution). */
function processStartMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return bootMs + (Number(fields[19]) * 1000) / TICKS_PER_SECOND;
}

/** User + system CPU seconds a process has used so far (its threads included). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function memoryMiB(pid: number): { vmRssMiB: number; vmHwmMiB: number; threads: number } {
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)![1]);
  return { vmRssMiB: Number((field("VmRSS") / 1024).toFixed(1)), vmHwmMiB: Number((field("VmHWM") / 1024).toFixed(1)), threads: field("Threads") };
}

function readFrom(path: string, offset: number): string {
  const fd = openSync(path, "r");
  try {
    const size = statSync(path).size;
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    readSync(fd, buffer, 0, buffer.length, offset);
    return buffer.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

const sim = await startSimulation([`--demo-keys=${DEMO_KEYS}`, "--slashing-backend=dynamodb", "--log-level=info"]);
const enclaveLog = join(sim.dir, "enclave.log");
const dispatcher = createAtlsDispatcher({
  pcrPolicy: { kind: "manifest", sets: parsePcrManifest(readFileSync(sim.pcrManifest, "utf8"), "the simulated image's PCR manifest") },
  root: readFileSync(sim.root, "latin1"),
  connections: IN_FLIGHT,
});

/** Slashing-protection writes the import makes per key that missed the enclave's deadline: those keys are sent again. */
const RETRYABLE = /^slashing-protection database unavailable/;

/**
 * Seals interop keys [from, to) into the store through the Key Manager API
 * over aTLS, IN_FLIGHT requests of BATCH at a time; keys refused only because
 * the slashing-protection database did not answer in time go again in a
 * later request. Returns how many such retries there were.
 */
async function seed(from: number, to: number): Promise<number> {
  const password = new TextEncoder().encode(PASSWORD);
  let next = from;
  let done = 0;
  let retries = 0;
  const again: number[] = [];
  let inFlight = 0;
  const importBatches = async () => {
    for (;;) {
      const indices = again.splice(0, BATCH);
      while (indices.length < BATCH && next < to) indices.push(next++);
      if (indices.length === 0) {
        if (inFlight === 0) return;
        await sleep(50); // another request may yet hand keys back
        continue;
      }
      inFlight++;
      const keystores = indices.map((i) => {
        const secretKey = interopSecretKey(i);
        const keystore = JSON.stringify(encryptKeystore(secretKey, password, { kdf: KDF, description: `unseal bench key ${i}` }));
        secretKey.fill(0);
        return keystore;
      });
      const answer = await request(`${sim.ingressUrl}/eth/v1/keystores`, {
        method: "POST",
        dispatcher,
        headers: { authorization: `Bearer ${sim.adminToken}`, accept: "application/json", "content-type": "application/json" },
        body: JSON.stringify({ keystores, passwords: keystores.map(() => PASSWORD), persist: true }),
        headersTimeout: 600_000,
        bodyTimeout: 600_000,
      });
      const text = await answer.body.text();
      inFlight--;
      if (answer.statusCode !== 200) throw new Error(`import of ${indices.length} keys from ${indices[0]} answered ${answer.statusCode}: ${text.slice(0, 300)}`);
      const before = done;
      (JSON.parse(text) as { data: { status: string; message: string }[] }).data.forEach(({ status, message }, k) => {
        if (status === "imported") done++;
        else if (status === "error" && RETRYABLE.test(message)) {
          again.push(indices[k]!);
          retries++;
        } else throw new Error(`interop key ${indices[k]} was not imported: ${status}: ${message}`);
      });
      if (Math.floor((from + done) / 10_000) !== Math.floor((from + before) / 10_000) || from + done === to) log(`sealed ${from + done} keys (${retries} retried so far)`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, importBatches));
  return retries;
}

/** RANDAO_REVEAL through the gateway; retried while the gateway reconnects to the new enclave. */
async function signThroughGateway(publicKey: string, timeoutMs: number): Promise<{ ok: boolean; attempts: number; lastStatus: number | string }> {
  const body = JSON.stringify(ONE_OF_EACH_SIGNING_TYPE.find((request) => request["type"] === "RANDAO_REVEAL"));
  const deadline = Date.now() + timeoutMs;
  let lastStatus: number | string = "none";
  for (let attempts = 1; ; attempts++) {
    try {
      const answer = await request(`${sim.gatewayUrl}/api/v1/eth2/sign/${publicKey}`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await answer.body.text();
      lastStatus = answer.statusCode;
      if (answer.statusCode === 200 && /^0x[0-9a-f]{192}$/.test((JSON.parse(text) as { signature?: string }).signature ?? "")) return { ok: true, attempts, lastStatus };
    } catch (error) {
      lastStatus = (error as Error).message;
    }
    if (Date.now() > deadline) return { ok: false, attempts, lastStatus };
    await sleep(100);
  }
}

interface Restart {
  killToLoadedMs: number;
  killToProcessStartMs: number;
  processStartToLoadedMs: number;
  /** Node's start and the enclave's modules loading, to its first log line. */
  processStartToLogStartMs: number;
  /** Until the parent's bootstrap (configuration, egress, credentials) has it serving. */
  logStartToServingMs: number;
  /** The KMS unseal: 2 of 3 shares decrypted by attested KMS requests. */
  servingToUnsealedMs: number;
  /** The parallel scan of the keys table and opening each envelope into the signing workers. */
  unsealedToLoadedMs: number;
  loadedLogMs: number;
  keys: number;
  loaded: number;
  failed: number;
  /** Until a RANDAO_REVEAL for the last key seeded came back signed through the gateway. */
  killToSignatureMs: number;
  signature: { ok: boolean; attempts: number; lastStatus: number | string };
  /** The enclave process at "sealed keys loaded", and again once the signature is back (the workers have taken every key by then). */
  memoryAtLoaded: { vmRssMiB: number; vmHwmMiB: number; threads: number };
  memoryAtSignature: { vmRssMiB: number; vmHwmMiB: number; threads: number };
  /** CPU seconds from the kill to "sealed keys loaded": the new enclave's whole life; the simulator's process (dynalite, its SigV4 TLS front, the KMS simulator); the parent (egress relay). */
  cpuSecondsToLoaded: { enclave: number; simulator: number; parent: number };
}

let lastRestartAt = 0;

async function restart(expected: number, lastKey: string): Promise<Restart> {
  const wait = lastRestartAt + WATCHDOG_STABLE_MS - Date.now();
  if (wait > 0) {
    log(`waiting ${(wait / 1000).toFixed(0)} s for the watchdog's backoff to reset`);
    await sleep(wait);
  }
  const oldPid = sim.pid("enclave");
  const offset = statSync(enclaveLog).size;
  const simulatorPid = sim.cli.child.pid!;
  const parentPid = sim.pid("parent");
  const cpuBefore = { simulator: cpuSeconds(simulatorPid), parent: cpuSeconds(parentPid) };
  let cpuAtLoaded: Restart["cpuSecondsToLoaded"] | undefined;
  const killedAt = Date.now();
  process.kill(oldPid, "SIGKILL");

  let newPid: number | undefined;
  const lines: Record<string, unknown>[] = [];
  let loadedAt: number | undefined;
  let memory: Restart["memoryAtLoaded"] | undefined;
  let seen = 0;
  for (;;) {
    if (Date.now() - killedAt > LOAD_TIMEOUT_MS) throw new Error(`no "sealed keys loaded" within ${LOAD_TIMEOUT_MS / 1000} s of the kill; see ${enclaveLog}`);
    if (newPid === undefined) {
      try {
        const pid = sim.pid("enclave");
        if (Number.isInteger(pid) && pid !== oldPid) newPid = pid;
      } catch {
        // The parent removed the pid file and has not written the new one yet.
      }
    }
    const text = readFrom(enclaveLog, offset);
    const complete = text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((line) => line.startsWith("{"));
    for (const line of complete.slice(seen)) lines.push(JSON.parse(line) as Record<string, unknown>);
    seen = complete.length;
    const done = lines.find((line) => line["msg"] === "sealed keys loaded" || String(line["msg"]).startsWith("loading the sealed keys failed"));
    if (done !== undefined) {
      loadedAt = Date.now();
      // Right away: what the process holds with every key in (the workers are threads of this process).
      if (newPid !== undefined) memory = memoryMiB(newPid);
      cpuAtLoaded = {
        enclave: newPid === undefined ? Number.NaN : cpuSeconds(newPid),
        simulator: Number((cpuSeconds(simulatorPid) - cpuBefore.simulator).toFixed(2)),
        parent: Number((cpuSeconds(parentPid) - cpuBefore.parent).toFixed(2)),
      };
      if (done["msg"] !== "sealed keys loaded") throw new Error(`loading failed: ${JSON.stringify(done)}`);
      break;
    }
    await sleep(20);
  }
  if (newPid === undefined) throw new Error("the new enclave's pid was never seen");
  lastRestartAt = processStartMs(newPid);
  const at = (msg: string) => {
    const line = lines.find((entry) => entry["msg"] === msg);
    if (line === undefined) throw new Error(`no "${msg}" in the new enclave's log`);
    return Date.parse(String(line["time"]));
  };
  const loadedLine = lines.find((line) => line["msg"] === "sealed keys loaded")!;
  const started = processStartMs(newPid);
  const logStart = at("enclave started; waiting for the parent's bootstrap");
  const serving = at("bootstrapped: serving");
  const unsealed = at("vault unsealed");
  const loaded = at("sealed keys loaded");
  const signature = await signThroughGateway(lastKey, 60_000);
  const signedAt = Date.now();
  const result: Restart = {
    killToLoadedMs: loaded - killedAt,
    killToProcessStartMs: Math.round(started - killedAt),
    processStartToLoadedMs: Math.round(loaded - started),
    processStartToLogStartMs: Math.round(logStart - started),
    logStartToServingMs: serving - logStart,
    servingToUnsealedMs: unsealed - serving,
    unsealedToLoadedMs: loaded - unsealed,
    loadedLogMs: Number(loadedLine["ms"]),
    keys: Number(loadedLine["keys"]),
    loaded: Number(loadedLine["loaded"]),
    failed: Number(loadedLine["failed"]),
    killToSignatureMs: signedAt - killedAt,
    signature,
    memoryAtLoaded: memory ?? memoryMiB(newPid),
    memoryAtSignature: memoryMiB(newPid),
    cpuSecondsToLoaded: cpuAtLoaded!,
  };
  if (result.loaded !== expected || result.failed !== 0) throw new Error(`expected ${expected} keys loaded, the log says ${JSON.stringify(loadedLine)}`);
  if (!signature.ok) throw new Error(`no signature for ${lastKey} through the gateway after the restart (last: ${signature.lastStatus})`);
  log(
    `${expected} keys: kill → loaded ${(result.killToLoadedMs / 1000).toFixed(2)} s (process start → loaded ${(result.processStartToLoadedMs / 1000).toFixed(2)} s; ` +
      `unsealed → loaded ${(result.unsealedToLoadedMs / 1000).toFixed(2)} s; kill → signature ${(result.killToSignatureMs / 1000).toFixed(2)} s); ` +
      `VmRSS ${result.memoryAtSignature.vmRssMiB} MiB, VmHWM ${result.memoryAtSignature.vmHwmMiB} MiB (seen loaded ${(loadedAt! - killedAt) / 1000} s after the kill)`,
  );
  return result;
}

try {
  lastRestartAt = processStartMs(sim.pid("enclave"));
  const runs: Record<string, unknown>[] = [];
  let seeded = DEMO_KEYS;
  for (const count of KEY_COUNTS) {
    const from = seeded;
    const started = performance.now();
    let retries = 0;
    if (count > seeded) {
      log(`seeding interop keys ${from}…${count - 1} (${IN_FLIGHT} requests of ${BATCH} in flight)`);
      retries = await seed(from, count);
      seeded = count;
    }
    const seedSeconds = (performance.now() - started) / 1000;
    const lastKey = publicKeyOf(count - 1);
    const restarts: Restart[] = [];
    for (let run = 0; run < RESTARTS; run++) restarts.push(await restart(count, lastKey));
    const pick = (f: (r: Restart) => number) => median(restarts.map(f));
    runs.push({
      keys: count,
      seeding: { keys: count - from, seconds: Number(seedSeconds.toFixed(1)), keysPerSecond: count > from ? Math.round((count - from) / seedSeconds) : null, retried: retries },
      medianKillToLoadedMs: pick((r) => r.killToLoadedMs),
      medianProcessStartToLoadedMs: pick((r) => r.processStartToLoadedMs),
      medianUnsealedToLoadedMs: pick((r) => r.unsealedToLoadedMs),
      medianKillToSignatureMs: pick((r) => r.killToSignatureMs),
      maxVmRssMiB: Math.max(...restarts.map((r) => Math.max(r.memoryAtLoaded.vmRssMiB, r.memoryAtSignature.vmRssMiB))),
      maxVmHwmMiB: Math.max(...restarts.map((r) => r.memoryAtSignature.vmHwmMiB)),
      restarts,
    });
  }
  const first = runs[0]!;
  const last = runs.at(-1)!;
  console.log(
    JSON.stringify({
      name: "unseal",
      cores: availableParallelism(),
      store: "DynamoDB (dynalite) behind a SigV4-checking TLS front, through the parent's egress",
      unseal: "attested KMS, 2 of 3 simulated keys",
      seededWith: `Key Manager API over aTLS, persist: true, ${BATCH} keystores per request, ${IN_FLIGHT} in flight, PBKDF2 c=1 keystores`,
      restartsPerCount: RESTARTS,
      killToLoaded: "SIGKILL of the enclave → its \"sealed keys loaded\" log line; includes the parent watchdog's detection (≤1 s) and restart backoff (1 s)",
      goalTenThousandUnder10s: first["keys"] === 10_000 ? (first["medianKillToLoadedMs"] as number) < 10_000 : null,
      goalHundredThousandUnder1GiB: last["keys"] === 100_000 ? (last["maxVmHwmMiB"] as number) < 1024 : null,
      runs,
    }),
  );
} finally {
  await dispatcher.close();
  await sim.stop();
}
