import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI_SOURCE = fileURLToPath(new URL("../../packages/cli/src/main.ts", import.meta.url));

export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited(): Promise<number | null>;
  stop(): Promise<number | null>;
}

/**
 * Runs the real `strongroom` command from source (Node 24 strips the types) as
 * a child process, with its own empty data directory so that no test reads or
 * writes the user's.
 */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ["--conditions=strongroom-source", "--no-warnings", CLI_SOURCE, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env["PATH"], XDG_DATA_HOME: mkdtempSync(join(tmpdir(), "strongroom-data-")), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  // "close", not "exit": it comes once stdout and stderr are drained, so a stopped process's output is complete.
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: () => exit,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern);
          if (match === null) return false;
          clearInterval(timer);
          resolve(match);
          return true;
        };
        const deadline = Date.now() + timeoutMs;
        const timer = setInterval(() => {
          if (check()) return;
          if (child.exitCode !== null || Date.now() > deadline) {
            clearInterval(timer);
            reject(new Error(`no ${pattern} in output (exit ${child.exitCode}).\nstdout: ${out}\nstderr: ${err}`));
          }
        }, 20);
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exit;
    },
  };
}

/** Runs the command to completion. */
export async function runCliToEnd(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args, env);
  const code = await cli.exited();
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}
