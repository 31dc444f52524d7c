// The addon's poll handles: readiness events, and a lifetime that survives
// closing from inside a callback, JS forgetting a handle, and a worker thread
// exiting with handles open.
import { spawnSync } from "node:child_process";
import { expect, test } from "vitest";
import { nitroAddon, type PollerHandle } from "../src/native.ts";
import { until } from "./stream-support.ts";

const addon = nitroAddon();
const NATIVE = new URL("../src/native.ts", import.meta.url).href;
const VSOCK = new URL("../src/vsock/index.ts", import.meta.url).href;

function runChild(args: string[], script: string): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [...args, "--input-type=module", "-e", script], { encoding: "utf8" });
}

test("reports readable and writable, and nothing once stopped", async () => {
  const [a, b] = addon.unixSocketPair();
  const seen: number[] = [];
  const poller = addon.pollerCreate(a, (error, events) => {
    expect(error).toBeNull();
    seen.push(events);
    addon.pollerSet(poller, 0);
  });
  addon.pollerSet(poller, addon.POLL_WRITABLE);
  await until(() => seen.length === 1);
  addon.write(b, Buffer.from("x"));
  addon.pollerSet(poller, addon.POLL_READABLE);
  await until(() => seen.length === 2);
  expect(seen).toEqual([addon.POLL_WRITABLE, addon.POLL_READABLE]);
  addon.pollerClose(poller);
  addon.pollerClose(poller); // idempotent
  expect(() => addon.pollerSet(poller, addon.POLL_READABLE)).toThrow(expect.objectContaining({ code: "ERR_POLLER_CLOSED" }));
  addon.close(a);
  addon.close(b);
});

test("closing a poller (and its descriptor) from inside its own callback is safe; no callback follows", async () => {
  const [a, b] = addon.unixSocketPair();
  let calls = 0;
  const poller: PollerHandle = addon.pollerCreate(a, () => {
    calls++;
    addon.pollerClose(poller);
    addon.close(a);
  });
  addon.write(b, Buffer.alloc(1024));
  addon.pollerSet(poller, addon.POLL_READABLE | addon.POLL_WRITABLE);
  await until(() => calls > 0);
  for (let turn = 0; turn < 100; turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(calls).toBe(1);
  addon.close(b);
});

test("a poller that JS drops without closing is released when collected", () => {
  const child = runChild(
    ["--expose-gc"],
    `
    import { nitroAddon } from ${JSON.stringify(NATIVE)};
    const addon = nitroAddon();
    const [a, b] = addon.unixSocketPair();
    (() => addon.pollerSet(addon.pollerCreate(a, () => {}), addon.POLL_READABLE))();
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
    globalThis.gc();
    // Released: the descriptor can have a new poller (libuv refuses two on one descriptor).
    addon.pollerClose(addon.pollerCreate(a, () => {}));
    console.log("ok");`,
  );
  expect(child.stderr).toBe("");
  expect(child.stdout.trim()).toBe("ok");
});

test("a worker thread that exits with sockets and a server open does not take the process down", () => {
  const child = runChild(
    [],
    `
    import { Worker } from "node:worker_threads";
    const worker = new Worker(\`
      import { nitroAddon } from ${JSON.stringify(NATIVE)};
      import { VsockServer, VsockSocket } from ${JSON.stringify(VSOCK)};
      import { parentPort } from "node:worker_threads";
      const [a, b] = nitroAddon().unixSocketPair();
      const endpoints = { localCid: 1, localPort: 1, remoteCid: 1, remotePort: 1 };
      new VsockSocket(a, endpoints).write("pending");
      new VsockSocket(b, endpoints);
      await new VsockServer().listen();
      parentPort.postMessage("ready");
    \`, { eval: true, type: "module" });
    worker.once("message", () => void worker.terminate());
    worker.once("exit", () => console.log("ok"));`,
  );
  expect(child.stderr).toBe("");
  expect(child.stdout.trim()).toBe("ok");
  expect(child.status).toBe(0);
});
