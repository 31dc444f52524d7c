// `strongroom sim` as a real process tree (the orchestrator, the parent, the
// simulated enclave, the gateway), for whole-system tests.
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startCli, type CliProcess } from "./cli-process.ts";

export interface RunningSimulation {
  readonly cli: CliProcess;
  readonly dir: string;
  /** The gateway: plain HTTP, as a validator client uses it. */
  readonly gatewayUrl: string;
  /** The parent's ingress: attested TLS to the enclave. */
  readonly ingressUrl: string;
  readonly adminToken: string;
  readonly root: string;
  readonly pcrManifest: string;
  /** The simulator directory's log file, read now. */
  logLines(file: "enclave.log" | "parent.log" | "gateway.log", msg: string): Record<string, unknown>[];
  pid(of: "enclave" | "parent"): number;
  stop(): Promise<number | null>;
}

/** Starts a simulation in a fresh short directory (Unix socket paths are limited to 107 bytes). */
export async function startSimulation(args: readonly string[] = []): Promise<RunningSimulation> {
  const dir = mkdtempSync("/tmp/srsim-");
  const cli = startCli(["sim", `--dir=${dir}`, "--http-port=0", ...args]);
  const line = (await cli.waitForOutput(/^\{.*"msg":"simulation ready".*$/m, 240_000))[0];
  const ready = JSON.parse(line) as { gateway: string; ingress: string; adminTokenFile: string; root: string; pcrs: string };
  return {
    cli,
    dir,
    gatewayUrl: ready.gateway,
    ingressUrl: ready.ingress,
    adminToken: readFileSync(ready.adminTokenFile, "utf8").trim(),
    root: ready.root,
    pcrManifest: ready.pcrs,
    logLines(file, msg) {
      return readFileSync(join(dir, file), "utf8")
        .split("\n")
        .filter((text) => text.includes(`"msg":"${msg}"`))
        .map((text) => JSON.parse(text) as Record<string, unknown>);
    },
    pid(of) {
      return Number.parseInt(readFileSync(join(dir, `${of}.pid`), "utf8"), 10);
    },
    stop: () => cli.stop(),
  };
}
