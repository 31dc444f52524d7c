// The enclave's lifecycle in nitro mode, through AWS's nitro-cli: run-enclave
// to start it, describe-enclaves to find and watch it, terminate-enclave to
// stop it. Each command is a child process with a deadline and bounded output.
import { execFile, type ExecFileException } from "node:child_process";
import type { Logger } from "pino";
import {
  describeEnclavesArgs,
  MAX_NITRO_CLI_OUTPUT_BYTES,
  NitroCliOutputError,
  parseDescribeEnclavesOutput,
  parseRunEnclaveOutput,
  parseTerminateEnclaveOutput,
  runEnclaveArgs,
  terminateEnclaveArgs,
  type EnclaveDescription,
  type RunEnclaveOptions,
} from "./nitro-cli.ts";
import type { EnclaveLifecycle } from "./types.ts";

/** run-enclave waits for the enclave to boot, and allocating gigabytes of huge pages takes a while. */
export const DEFAULT_NITRO_CLI_TIMEOUT_MS = 120_000;
const STDERR_LINES_IN_MESSAGE = 3;
const MAX_STDERR_LINE_LENGTH = 300;
/** nitro-cli's error lines begin "[ E26 ] …". */
const ERROR_CODE = /^\[ (E\d+) \]/;

/** Why a nitro-cli command failed. */
export type NitroCliFailure =
  /** No such program: nitro-cli is not installed, or not where `command` says. */
  | "not-found"
  /** It could not be started for another reason (permissions, a bad interpreter). */
  | "spawn"
  /** It ran and exited non-zero; `exitCode`, `errorCodes` and `stderr` say more. */
  | "exit-status"
  /** It did not finish in time and was killed. */
  | "timeout"
  /** Something else killed it (`signal`). */
  | "signal"
  /** It printed more than MAX_NITRO_CLI_OUTPUT_BYTES on stdout or stderr and was killed. */
  | "output-too-large";

export class NitroCliError extends Error {
  override readonly name = "NitroCliError";
  readonly reason: NitroCliFailure;
  /** "run-enclave", "describe-enclaves", … */
  readonly subcommand: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** The nitro-cli error codes on stderr, in order: a failed run-enclave says ["E26", "E39"]. */
  readonly errorCodes: readonly string[];
  /** What it wrote on stderr (at most MAX_NITRO_CLI_OUTPUT_BYTES). */
  readonly stderr: string;

  constructor(
    reason: NitroCliFailure,
    subcommand: string,
    message: string,
    details: { exitCode?: number | undefined; signal?: string | undefined; stderr?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.subcommand = subcommand;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stderr = details.stderr ?? "";
    this.errorCodes = errorCodesIn(this.stderr);
  }
}

export interface NitroCliOutput {
  readonly stdout: string;
  readonly stderr: string;
}

export interface NitroCliRunnerOptions {
  /** The program to run: "nitro-cli" (found on PATH) by default, or a path. */
  command?: string;
  /** Deadline for each command, after which it is killed. */
  timeoutMs?: number;
}

/** Runs nitro-cli commands as child processes (no shell) and returns their output, or throws NitroCliError. */
export class NitroCliRunner {
  readonly command: string;
  readonly timeoutMs: number;

  constructor(options: NitroCliRunnerOptions = {}) {
    this.command = options.command ?? "nitro-cli";
    this.timeoutMs = options.timeoutMs ?? DEFAULT_NITRO_CLI_TIMEOUT_MS;
    if (this.command === "") throw new RangeError("the nitro-cli command must be a program name or path, not empty");
    if (!Number.isSafeInteger(this.timeoutMs) || this.timeoutMs < 1) throw new RangeError(`timeoutMs must be a whole number of milliseconds ≥ 1, not ${this.timeoutMs}`);
  }

  /** Runs `nitro-cli <args>`; `args[0]` is the subcommand. */
  run(args: readonly string[]): Promise<NitroCliOutput> {
    const subcommand = args[0] ?? "";
    return new Promise((resolve, reject) => {
      execFile(
        this.command,
        args,
        // SIGKILL: a nitro-cli that hangs must not hang the watchdog with it. The enclave
        // process run-enclave forks is detached and outlives it either way.
        { encoding: "utf8", timeout: this.timeoutMs, killSignal: "SIGKILL", maxBuffer: MAX_NITRO_CLI_OUTPUT_BYTES },
        (error, stdout, stderr) => {
          if (error === null) resolve({ stdout, stderr });
          else reject(this.failure(subcommand, error, stderr));
        },
      );
    });
  }

  private failure(subcommand: string, error: ExecFileException, stderr: string): NitroCliError {
    const { code, signal } = error;
    if (code === "ENOENT") {
      return new NitroCliError(
        "not-found",
        subcommand,
        `nitro-cli not found: install aws-nitro-enclaves-cli (see the README's Nitro deployment steps) or give --nitro-cli PATH (tried ${JSON.stringify(this.command)})`,
        { cause: error },
      );
    }
    if (code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") {
      return new NitroCliError("output-too-large", subcommand, `nitro-cli ${subcommand} printed more than ${MAX_NITRO_CLI_OUTPUT_BYTES} bytes and was killed`, {
        stderr,
        cause: error,
      });
    }
    // The remaining kill of our own making is the deadline.
    if (error.killed === true) {
      const hint = subcommand === "run-enclave" ? "; the enclave it was starting may still come up (see `nitro-cli describe-enclaves`)" : "";
      return new NitroCliError("timeout", subcommand, `nitro-cli ${subcommand} did not finish within ${this.timeoutMs} ms and was killed${hint}`, {
        stderr,
        cause: error,
      });
    }
    if (typeof code === "number") {
      const codes = errorCodesIn(stderr);
      const lines = stderrLines(stderr).slice(0, STDERR_LINES_IN_MESSAGE);
      const said = lines.length === 0 ? "nothing on stderr" : lines.map((line) => truncate(line)).join(" | ");
      return new NitroCliError(
        "exit-status",
        subcommand,
        `nitro-cli ${subcommand} failed with exit code ${code}${codes.length === 0 ? "" : ` (${codes.join(", ")})`}: ${said}`,
        { exitCode: code, stderr, cause: error },
      );
    }
    if (signal !== undefined && signal !== null) {
      return new NitroCliError("signal", subcommand, `nitro-cli ${subcommand} was killed by ${signal}`, { signal, stderr, cause: error });
    }
    return new NitroCliError("spawn", subcommand, `cannot run ${JSON.stringify(this.command)} for nitro-cli ${subcommand}: ${error.message}`, { cause: error });
  }
}

export interface NitroEnclaveLifecycleOptions {
  /** The nitro-cli program (default "nitro-cli", found on PATH). */
  command?: string;
  /** How run-enclave starts the enclave; checked when the lifecycle is made, so a bad option fails start-up. */
  run: RunEnclaveOptions;
  /** Deadline for each nitro-cli command (default DEFAULT_NITRO_CLI_TIMEOUT_MS). */
  timeoutMs?: number;
  log: Logger;
}

interface ManagedEnclave {
  readonly id: string;
  readonly cid: number;
}

/** One enclave, started, found, watched and stopped with nitro-cli. */
export class NitroEnclaveLifecycle implements EnclaveLifecycle {
  readonly #runner: NitroCliRunner;
  readonly #runArgs: readonly string[];
  readonly #name: string | undefined;
  readonly #log: Logger;
  #enclave: ManagedEnclave | undefined;

  constructor(options: NitroEnclaveLifecycleOptions) {
    this.#runArgs = runEnclaveArgs(options.run);
    this.#name = options.run.enclaveName;
    this.#runner = new NitroCliRunner({ command: options.command, timeoutMs: options.timeoutMs });
    this.#log = options.log;
  }

  describe(): string {
    return this.#enclave === undefined ? "nitro enclave (none started)" : `nitro enclave ${this.#enclave.id}`;
  }

  cid(): number | undefined {
    return this.#enclave?.cid;
  }

  async start(): Promise<void> {
    const stdout = await this.#nitroCli(this.#runArgs);
    let enclave: EnclaveDescription;
    try {
      enclave = parseRunEnclaveOutput(stdout);
    } catch (error) {
      if (!(error instanceof NitroCliOutputError)) throw error;
      throw new Error(`${error.message} An enclave may have started all the same: see \`nitro-cli describe-enclaves\``, { cause: error });
    }
    this.#enclave = { id: enclave.enclaveId, cid: enclave.enclaveCid };
    const { enclaveId, enclaveCid, enclaveName, cpuIds, memoryMiB } = enclave;
    this.#log.info({ enclaveId, enclaveCid, enclaveName, cpuIds, memoryMiB }, "nitro enclave started");
    if (this.#name !== undefined && enclaveName !== undefined && enclaveName !== this.#name) {
      // nitro-cli renames a new enclave whose name is taken: another enclave already
      // holds ours, and after a parent restart adopt() would find that one instead.
      this.#log.warn(
        { enclaveId, enclaveName, configuredName: this.#name },
        `another enclave is already named ${this.#name}, so nitro-cli named this one ${enclaveName}; terminate the other one`,
      );
    }
  }

  async isRunning(): Promise<boolean> {
    const enclave = this.#enclave;
    if (enclave === undefined) return false;
    const listed = (await this.#describeEnclaves()).find((candidate) => candidate.enclaveId === enclave.id);
    return listed?.state === "RUNNING";
  }

  async adopt(): Promise<boolean> {
    const running = (await this.#describeEnclaves()).filter((enclave) => enclave.state === "RUNNING");
    let found: EnclaveDescription | undefined;
    if (this.#name !== undefined) {
      found = running.find((enclave) => enclave.enclaveName === this.#name);
    } else if (running.length > 1) {
      throw new Error(
        `nitro-cli lists ${running.length} running enclaves (${running.map((enclave) => enclave.enclaveId).join(", ")}) and no enclave name is configured, ` +
          "so which one is strongroom's is unknown: configure the enclave name it was started with, or terminate the others",
      );
    } else {
      found = running[0];
    }
    if (found === undefined) return false;
    this.#enclave = { id: found.enclaveId, cid: found.enclaveCid };
    this.#log.info({ enclaveId: found.enclaveId, enclaveCid: found.enclaveCid, enclaveName: found.enclaveName }, "adopted a running nitro enclave");
    return true;
  }

  async stop(): Promise<void> {
    const enclave = this.#enclave;
    if (enclave === undefined) return;
    try {
      const termination = parseTerminateEnclaveOutput(await this.#nitroCli(terminateEnclaveArgs(enclave.id)));
      if (termination.enclaveId !== enclave.id) throw new Error(`nitro-cli terminate-enclave answered for ${termination.enclaveId} when asked to terminate ${enclave.id}`);
      if (!termination.terminated) throw new Error(`nitro-cli terminate-enclave says ${enclave.id} was not terminated`);
      this.#log.info({ enclaveId: enclave.id }, "nitro enclave terminated");
    } catch (error) {
      // An enclave that is already gone is, to nitro-cli, only a socket it cannot
      // reach (E11); the list of enclaves says whether that is what happened.
      if (!(error instanceof NitroCliError && error.reason === "exit-status")) throw error;
      const listed = await this.#describeEnclaves().catch(() => {
        throw error;
      });
      if (listed.some((candidate) => candidate.enclaveId === enclave.id)) throw error;
      this.#log.info({ enclaveId: enclave.id }, "nitro enclave was already gone");
    }
    if (this.#enclave === enclave) this.#enclave = undefined;
  }

  async #describeEnclaves(): Promise<EnclaveDescription[]> {
    return parseDescribeEnclavesOutput(await this.#nitroCli(describeEnclavesArgs()));
  }

  /** Runs one command; what it says on stderr when it succeeds is progress, kept at debug level. */
  async #nitroCli(args: readonly string[]): Promise<string> {
    const { stdout, stderr } = await this.#runner.run(args);
    const lines = stderrLines(stderr);
    if (lines.length > 0) this.#log.debug({ subcommand: args[0], stderr: lines.slice(0, 10).map((line) => truncate(line)) }, "nitro-cli progress");
    return stdout;
  }
}

function errorCodesIn(stderr: string): string[] {
  return stderrLines(stderr).flatMap((line) => ERROR_CODE.exec(line)?.[1] ?? []);
}

function stderrLines(stderr: string): string[] {
  return stderr
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

function truncate(line: string): string {
  return line.length > MAX_STDERR_LINE_LENGTH ? `${line.slice(0, MAX_STDERR_LINE_LENGTH - 3)}...` : line;
}
