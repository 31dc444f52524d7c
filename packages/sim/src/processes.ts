// The simulator's child processes (the parent, the gateway): started from the
// same `strongroom` program, their output appended to a log file in the
// simulator's directory, and readiness read from their JSON log lines.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";

export interface ManagedProcess {
  readonly child: ChildProcess;
  /** Resolves with the first log line whose `msg` is `message` (its JSON), or rejects if the process exits first. */
  waitFor(message: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, and SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

export function startProcess(command: readonly [string, ...string[]], logFile: string, env: NodeJS.ProcessEnv): ManagedProcess {
  const [program, ...args] = command;
  const log = createWriteStream(logFile, { flags: "a", mode: 0o600 });
  // stdin stays open for the child's lifetime; when this process dies, it closes and the child stops (see cli main.ts).
  const child = spawn(program, args, { env: { ...env, STRONGROOM_EXIT_WITH_STDIN: "1" }, stdio: ["pipe", "pipe", "pipe"] });
  child.stdin!.on("error", () => {});
  const waiters = new Set<{ message: string; resolve: (line: Record<string, unknown>) => void }>();
  let pending = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    log.write(chunk);
    pending += chunk.toString("utf8");
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (waiters.size === 0 || !line.startsWith("{")) continue;
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const waiter of waiters) if (json["msg"] === waiter.message) waiter.resolve(json);
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => log.write(chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  void exited.then(() => log.end());
  child.on("error", () => {});

  return {
    child,
    exited,
    waitFor(message, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const waiter = {
          message,
          resolve: (line: Record<string, unknown>) => {
            done();
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${program} ${args[0] ?? ""} did not log "${message}" within ${timeoutMs} ms; see ${logFile}`));
        }, timeoutMs);
        const onExit = (code: number | null) => {
          done();
          reject(new Error(`${args.slice(0, 2).join(" ")} exited (${code}) before logging "${message}"; see ${logFile}`));
        };
        const done = () => {
          clearTimeout(timer);
          waiters.delete(waiter);
          child.off("close", onExit);
        };
        waiters.add(waiter);
        child.once("close", onExit);
      });
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
