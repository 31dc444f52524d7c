// `strongroom sim` as an operator uses it: Ctrl-C stops every process it
// started, a second run reuses the directory, and a simulation that dies
// without cleaning up takes its processes with it.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { expect, test, vi } from "vitest";
import { startCli } from "./support/cli-process.ts";

/** Processes whose command line names the simulator's directory (parent, enclave, gateway). */
function processesOf(dir: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(dir) && !readFileSync(`/proc/${pid}/stat`, "latin1").includes(") Z ");
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function simulate(dir: string) {
  const cli = startCli(["sim", `--dir=${dir}`, "--http-port=0", "--demo-keys=1"]);
  await cli.waitForOutput(/"msg":"simulation ready"/, 120_000);
  return cli;
}

test("Ctrl-C stops everything; a second run reuses the directory; a killed simulation takes its processes with it", async () => {
  const dir = `/tmp/srsim-life-${process.pid}`;
  const first = await simulate(dir);
  // The orchestrator itself names the directory too; the parent, the enclave and the gateway are the rest.
  expect(processesOf(dir).length).toBeGreaterThanOrEqual(4);
  const token = readFileSync(`${dir}/admin-token`, "utf8");
  first.child.kill("SIGINT");
  expect(await first.exited()).toBe(0);
  await vi.waitFor(() => expect(processesOf(dir)).toEqual([]), { timeout: 20_000, interval: 200 });
  expect(existsSync(`${dir}/enclave.pid`)).toBe(false);

  const second = await simulate(dir);
  expect(readFileSync(`${dir}/admin-token`, "utf8")).toBe(token);
  // Killed outright: no handler runs, yet its children see their stdin close and stop, the parent stopping the enclave.
  second.child.kill("SIGKILL");
  await second.exited();
  await vi.waitFor(() => expect(processesOf(dir)).toEqual([]), { timeout: 30_000, interval: 200 });
}, 240_000);
