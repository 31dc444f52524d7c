import { mkdtempSync, rmSync } from "node:fs";
import { LogStream } from "@strongroom/enclave";
import { createSimulatedTransport, type TransportServer } from "@strongroom/nitro";
import type { Duplex } from "node:stream";
import { afterEach, expect, test, vi } from "vitest";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The parent's side: a log sink on simulated vsock 3:9100 collecting what arrives. */
async function sink(simDir: string): Promise<{ received: () => string; close: () => Promise<void> }> {
  let text = "";
  const streams = new Set<Duplex>();
  const server: TransportServer = await createSimulatedTransport({ simDir, cid: 3 }).listen(9100, (stream) => {
    streams.add(stream);
    stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
  });
  return {
    received: () => text,
    // As when the parent's process dies: the listener and every stream go.
    close: async () => {
      await server.close();
      for (const stream of streams) stream.destroy();
    },
  };
}

function logStream(simDir: string, maxBufferedBytes?: number): LogStream {
  const enclave = createSimulatedTransport({ simDir, cid: 16 });
  return new LogStream({ connect: () => enclave.connect(3, 9100), retryMs: 20, ...(maxBufferedBytes !== undefined && { maxBufferedBytes }) });
}

test("lines logged before the parent's sink exists arrive, in order, once it does", async () => {
  const simDir = mkdtempSync("/tmp/sr-log-");
  dirs.push(simDir);
  const logs = logStream(simDir);
  for (let i = 0; i < 5; i++) logs.write(`{"n":${i}}\n`);
  const parent = await sink(simDir);
  await vi.waitFor(() => expect(parent.received()).toBe([0, 1, 2, 3, 4].map((n) => `{"n":${n}}\n`).join("")), { timeout: 5_000 });
  await logs.close();
  await parent.close();
});

test("while disconnected the buffer is bounded: the oldest lines go, and the count of dropped lines is reported", async () => {
  const simDir = mkdtempSync("/tmp/sr-log-");
  dirs.push(simDir);
  const logs = logStream(simDir, 100);
  for (let i = 0; i < 50; i++) logs.write(`{"n":${String(i).padStart(3, "0")}}\n`); // 10 bytes each: 10 fit
  const parent = await sink(simDir);
  await vi.waitFor(() => expect(parent.received()).toContain('{"n":049}'), { timeout: 5_000 });
  const lines = parent.received().trim().split("\n");
  expect(JSON.parse(lines[0]!)).toMatchObject({ msg: expect.stringMatching(/dropped/), dropped: 40 });
  expect(lines.slice(1)).toEqual(Array.from({ length: 10 }, (_, i) => `{"n":0${40 + i}}`));
  await logs.close();
  await parent.close();
});

test("a sink that goes away and comes back gets the lines written meanwhile", async () => {
  const simDir = mkdtempSync("/tmp/sr-log-");
  dirs.push(simDir);
  const logs = logStream(simDir);
  let parent = await sink(simDir);
  logs.write('{"before":true}\n');
  await vi.waitFor(() => expect(parent.received()).toContain("before"), { timeout: 5_000 });
  await parent.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  logs.write('{"during":true}\n');
  parent = await sink(simDir);
  await vi.waitFor(() => expect(parent.received()).toBe('{"during":true}\n'), { timeout: 5_000 });
  await logs.close();
  await parent.close();
});
