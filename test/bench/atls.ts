// atls: what attested TLS costs. First the full handshake: TCP, TLS 1.3 and
// the client's verification of the signer's certificate (attestation
// document, chain, PCRs, key binding), per second, with the client's and the
// signer's CPU time per handshake. Then steady-state signing (RANDAO_REVEAL,
// 64 keys, keep-alive connections, the lean client) through
// `strongroom gateway` to a signer serving aTLS, against plain HTTP straight
// to a signer of the same configuration, in alternating rounds so that drift
// on a shared machine hits both alike. Every process logs at warn, as
// sign-core's signer does: the per-request info lines of the signer and the
// gateway are left out of both paths (the report gives each process's CPU
// per request instead).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { freePort } from "../support/free-port.ts";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { connectAtls, readPcrManifest, type AtlsConnectOptions } from "@strongroom/atls";
import { loadOrCreateSimulatedCa } from "@strongroom/nitro";
import { request } from "undici";
import { startCli, type CliProcess } from "../support/cli-process.ts";
import { interopKeyConfigDir } from "../support/interop-key-files.ts";
import { encodePost, LeanHttpClient } from "../support/lean-http.ts";
import { closedLoop } from "../support/load.ts";
import { randaoRequest } from "../support/mainnet-requests.ts";

const KEYS = 64;
const CONNECTIONS = 16;
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 8);
const ROUNDS = 3;
const HANDSHAKE_CONCURRENCY = 2;
const cores = availableParallelism();
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** CPU seconds (user + system) a process has used so far, from /proc. */
function processCpuSeconds(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Polls until `ready` holds (a process has started, its keys are loaded). */
async function until(what: string, cli: CliProcess, ready: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (cli.child.exitCode !== null) throw new Error(`${what} exited (${cli.child.exitCode}): ${cli.stderr()}`);
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** GET /healthcheck answers 200 once every key is loaded. */
const healthy = async (url: string) => {
  const { statusCode, body } = await request(`${url}/healthcheck`);
  await body.dump();
  return statusCode === 200;
};

const dir = mkdtempSync(join(tmpdir(), "strongroom-bench-atls-"));
const { dir: keyDir, publicKeys } = interopKeyConfigDir(KEYS);
const simDir = join(dir, "sim");
const root = loadOrCreateSimulatedCa(simDir).rootCertificatePath;
const signerOptions = ["--slashing-protection-in-memory", `--key-config-path=${keyDir}`, "--auth-unauthenticated-policy=loopback", "--log-level=warn"];
// At warn nothing announces the ports, so each process is given a free one.
const [plainPort, signerPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
const plain = startCli(["signer", `--http-port=${plainPort}`, ...signerOptions]);
const attested = startCli(["signer", `--http-port=${signerPort}`, ...signerOptions, `--atls-simulator-dir=${simDir}`]);
const gateway = startCli(["gateway", `--listen=127.0.0.1:${gatewayPort}`, `--upstream=127.0.0.1:${signerPort}`, `--tofu=${join(dir, "pins.json")}`, `--root=${root}`, `--connections=${CONNECTIONS}`, "--log-level=warn"]);
try {
  await until("the plain signer", plain, () => healthy(`http://127.0.0.1:${plainPort}`));
  await until("the gateway and the aTLS signer behind it", gateway, () => healthy(`http://127.0.0.1:${gatewayPort}`));
  // The gateway pinned the signer's PCRs on its first connection; a pin file is a PCR manifest of one set.
  const manifest = join(dir, "pins.json");

  // Handshakes: each one a new connection, verified, then closed without a request.
  const target: AtlsConnectOptions = { host: "127.0.0.1", port: signerPort, pcrPolicy: { kind: "manifest", sets: readPcrManifest(manifest) }, root: readFileSync(root, "latin1") };
  const handshake = async () => void (await connectAtls(target)).socket.destroy();
  await closedLoop(handshake, HANDSHAKE_CONCURRENCY, 1); // warm-up
  const serverCpuBefore = processCpuSeconds(attested.child.pid!);
  const clientCpuBefore = ownCpuSeconds();
  const handshakesStarted = performance.now();
  const handshakesPerSecond = await closedLoop(handshake, HANDSHAKE_CONCURRENCY, SECONDS / 2);
  const handshakes = handshakesPerSecond * ((performance.now() - handshakesStarted) / 1000);
  const clientCpuMs = ((ownCpuSeconds() - clientCpuBefore) * 1000) / handshakes;
  const serverCpuMs = ((processCpuSeconds(attested.child.pid!) - serverCpuBefore) * 1000) / handshakes;
  process.stderr.write(`atls: ${handshakesPerSecond.toFixed(0)} handshakes/s; CPU per handshake: client ${clientCpuMs.toFixed(2)} ms, signer ${serverCpuMs.toFixed(2)} ms\n`);

  // Signing: the same pre-encoded requests to both paths.
  const requests = Array.from({ length: 4096 }, (_, i) => encodePost(`/api/v1/eth2/sign/${publicKeys[i % KEYS]}`, JSON.stringify(randaoRequest(BigInt(370000 + i)))));
  const sender = (client: LeanHttpClient) => {
    let next = 0;
    return async () => {
      const status = await client.send(requests[next++ % requests.length]!);
      if (status !== 200) throw new Error(`sign failed with status ${status}`);
    };
  };
  const direct = await LeanHttpClient.open(plainPort, CONNECTIONS);
  const viaGateway = await LeanHttpClient.open(gatewayPort, CONNECTIONS);
  const sendDirect = sender(direct);
  const sendViaGateway = sender(viaGateway);
  await closedLoop(sendDirect, CONNECTIONS, 2); // warm-up of both paths (and the gateway's aTLS pool)
  await closedLoop(sendViaGateway, CONNECTIONS, 2);
  // CPU milliseconds per request of each process on a path, summed over its rounds.
  const cpu = { directPlainHttp: { signer: 0, client: 0, requests: 0 }, throughGateway: { signer: 0, gateway: 0, client: 0, requests: 0 } };
  const measured = async (send: () => Promise<void>, account: Record<string, number>, pids: Record<string, number>) => {
    const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
    const clientBefore = ownCpuSeconds();
    const started = performance.now();
    const rate = await closedLoop(send, CONNECTIONS, SECONDS / 2);
    account["requests"]! += rate * ((performance.now() - started) / 1000);
    account["client"]! += ownCpuSeconds() - clientBefore;
    for (const [name, pid] of Object.entries(pids)) account[name]! += processCpuSeconds(pid) - before[name]!;
    return Math.round(rate);
  };
  const rounds = { directPlainHttp: [] as number[], throughGateway: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    rounds.directPlainHttp.push(await measured(sendDirect, cpu.directPlainHttp, { signer: plain.child.pid! }));
    rounds.throughGateway.push(await measured(sendViaGateway, cpu.throughGateway, { signer: attested.child.pid!, gateway: gateway.child.pid! }));
    process.stderr.write(`atls: round ${round + 1}: direct ${rounds.directPlainHttp.at(-1)}/s, through the gateway ${rounds.throughGateway.at(-1)}/s\n`);
  }
  const perRequest = ({ requests, ...seconds }: Record<string, number>) =>
    Object.fromEntries(Object.entries(seconds).map(([name, value]) => [name, Number(((value * 1000) / requests!).toFixed(3))]));
  direct.close();
  viaGateway.close();
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  console.log(
    JSON.stringify({
      name: "atls",
      cores,
      handshake: {
        concurrency: HANDSHAKE_CONCURRENCY,
        handshakesPerSecond: Math.round(handshakesPerSecond),
        clientCpuMsPerHandshake: Number(clientCpuMs.toFixed(3)),
        signerCpuMsPerHandshake: Number(serverCpuMs.toFixed(3)),
      },
      signing: {
        keys: KEYS,
        connections: CONNECTIONS,
        seconds: SECONDS,
        directPlainHttpSignaturesPerSecond: Math.round(mean(rounds.directPlainHttp)),
        throughGatewaySignaturesPerSecond: Math.round(mean(rounds.throughGateway)),
        gatewayToDirectRatio: Number((mean(rounds.throughGateway) / mean(rounds.directPlainHttp)).toFixed(3)),
        goalRatio: 0.85,
        cpuMsPerRequest: { directPlainHttp: perRequest(cpu.directPlainHttp), throughGateway: perRequest(cpu.throughGateway) },
        rounds,
      },
    }),
  );
} finally {
  await Promise.all([gateway.stop(), plain.stop(), attested.stop()]);
}
