// The simulator's stand-in for `nitro-cli`: the enclave is a separate process
// (`strongroom enclave --mode sim`) that, like a real enclave, outlives the
// parent — it is started detached, found again after a parent restart through
// its pid file, and stopped with SIGTERM (SIGKILL if it lingers).
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SIMULATED_ENCLAVE_CID } from "@strongroom/control";
import type { Logger } from "pino";
import type { EnclaveLifecycle } from "./types.ts";

const STOP_GRACE_MS = 5_000;

export interface SimEnclaveOptions {
  /** The simulator's directory: the pid file and the enclave's console output live here. */
  readonly simDir: string;
  /** The program and its arguments (`node … strongroom enclave --mode sim …`). */
  readonly command: readonly [string, ...string[]];
  readonly log: Logger;
}

export class SimEnclaveLifecycle implements EnclaveLifecycle {
  readonly #options: SimEnclaveOptions;
  readonly #pidFile: string;
  #pid: number | undefined;
  /** Set when this parent started the process and saw it exit (no need to probe). */
  #exited = false;

  constructor(options: SimEnclaveOptions) {
    this.#options = options;
    this.#pidFile = join(options.simDir, "enclave.pid");
  }

  describe(): string {
    return this.#pid === undefined ? "simulated enclave (not started)" : `simulated enclave pid ${this.#pid}`;
  }

  cid(): number | undefined {
    return this.#pid === undefined ? undefined : SIMULATED_ENCLAVE_CID;
  }

  async start(): Promise<void> {
    const [program, ...args] = this.#options.command;
    // Like a Nitro console: what the process prints outside its log stream (a crash) goes to a file.
    const console = openSync(join(this.#options.simDir, "enclave-console.log"), "a", 0o600);
    try {
      const child = spawn(program, args, { detached: true, stdio: ["ignore", console, console] });
      await new Promise<void>((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", (error) => reject(new Error(`cannot start the simulated enclave (${program}): ${error.message}`)));
      });
      this.#pid = child.pid!;
      this.#exited = false;
      child.once("exit", () => (this.#exited = true));
      child.unref();
      writeFileSync(this.#pidFile, `${this.#pid}\n`, { mode: 0o600 });
    } finally {
      closeSync(console);
    }
  }

  async isRunning(): Promise<boolean> {
    return this.#pid !== undefined && !this.#exited && isEnclaveProcess(this.#pid);
  }

  async adopt(): Promise<boolean> {
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(this.#pidFile, "utf8"), 10);
    } catch {
      return false;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !isEnclaveProcess(pid)) return false;
    this.#pid = pid;
    this.#exited = false;
    return true;
  }

  async stop(): Promise<void> {
    const pid = this.#pid;
    if (pid === undefined) return;
    if (!this.#exited && isEnclaveProcess(pid)) {
      signal(pid, "SIGTERM");
      const deadline = Date.now() + STOP_GRACE_MS;
      while (isEnclaveProcess(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      if (isEnclaveProcess(pid)) {
        this.#options.log.warn({ pid }, "simulated enclave did not stop within 5 s of SIGTERM; killing it");
        signal(pid, "SIGKILL");
      }
    }
    this.#pid = undefined;
    rmSync(this.#pidFile, { force: true });
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

/** Alive, not a zombie, and a strongroom enclave (a recycled pid is someone else's). */
function isEnclaveProcess(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    if (/\) Z /.test(stat)) return false;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
    return argv.includes("enclave") && argv.includes("--mode=sim");
  } catch {
    return false;
  }
}
