// VsockSocket's stream logic (reading, writing, backpressure, half-close,
// errors, closing) on real kernel sockets. No vsock peer is reachable on a
// test machine (a VM cannot connect to its own CID), and that logic does not
// depend on the address family, so the sockets here are AF_UNIX pairs with
// the same flags, from the addon.
import { closeSync, fstatSync, openSync } from "node:fs";
import { once } from "node:events";
import { afterEach, describe, expect, test } from "vitest";
import { nitroAddon } from "../src/native.ts";
import { VsockSocket } from "../src/vsock/index.ts";
import { openFdCount, readAll, readToEnd, settled, until, writeRandom } from "./stream-support.ts";

const MiB = 1024 * 1024;
const open: VsockSocket[] = [];

function socketPair(): { a: VsockSocket; b: VsockSocket; fds: [number, number] } {
  const fds = nitroAddon().unixSocketPair();
  const a = new VsockSocket(fds[0], { localCid: 16, localPort: 5000, remoteCid: 3, remotePort: 1234 });
  const b = new VsockSocket(fds[1], { localCid: 3, localPort: 1234, remoteCid: 16, remotePort: 5000 });
  open.push(a, b);
  return { a, b, fds };
}

afterEach(() => {
  for (const socket of open.splice(0)) socket.destroy();
});

test("carries 64 MiB each way at once, byte for byte (SHA-256 on both ends)", async () => {
  const { a, b } = socketPair();
  const [sentByA, receivedByB, sentByB, receivedByA] = await Promise.all([
    writeRandom(a, 64, MiB),
    readAll(b),
    writeRandom(b, 64, MiB),
    readAll(a),
  ]);
  expect(receivedByB).toEqual({ bytes: 64 * MiB, sha256: sentByA });
  expect(receivedByA).toEqual({ bytes: 64 * MiB, sha256: sentByB });
  await until(() => a.closed && b.closed);
});

test("endpoints are the ones it was made with", () => {
  const { a } = socketPair();
  expect({ localCid: a.localCid, localPort: a.localPort, remoteCid: a.remoteCid, remotePort: a.remotePort }).toEqual({
    localCid: 16,
    localPort: 5000,
    remoteCid: 3,
    remotePort: 1234,
  });
});

test("backpressure both ways: a reader that stops consuming stops reading the socket, and the writer then buffers", async () => {
  const { a, b } = socketPair();
  b.pause();
  const payload = Buffer.alloc(32 * MiB, 7);
  a.write(payload);
  // The reader fills its buffer up to its high-water mark and then stops taking bytes off the socket ...
  await until(() => b.readableLength >= b.readableHighWaterMark);
  for (let turn = 0; turn < 200; turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(b.readableLength).toBeLessThan(b.readableHighWaterMark + 64 * 1024);
  // ... so the kernel buffers fill up and the writer holds the rest.
  expect(a.writableLength).toBeGreaterThan(16 * MiB);
  expect(a.writableNeedDrain).toBe(true);
  a.end();
  b.resume();
  const received = await readToEnd(b);
  expect(received.equals(payload)).toBe(true);
});

test("half-close: end() sends EOF while the other direction goes on; the socket closes when both are done", async () => {
  const { a, b } = socketPair();
  const aClosed = settled(a);
  a.end("request");
  expect((await readToEnd(b)).toString()).toBe("request");
  expect(b.writable).toBe(true);
  const reply = writeRandom(b, 8, 256 * 1024);
  const received = await readAll(a);
  expect(received).toEqual({ bytes: 8 * 256 * 1024, sha256: await reply });
  expect(await aClosed).toEqual({ errorCode: undefined });
  await until(() => b.closed);
});

describe("errors", () => {
  test("a peer that goes away with unread data resets the connection: 'error' (ECONNRESET or EPIPE) then 'close'", async () => {
    const { a, b } = socketPair();
    a.pause();
    b.write(Buffer.alloc(MiB));
    await until(() => a.readableLength > 0);
    const outcome = settled(b);
    a.destroy();
    b.write(Buffer.alloc(MiB));
    const { errorCode } = await outcome;
    expect(["ECONNRESET", "EPIPE"]).toContain(errorCode);
    expect(b.destroyed).toBe(true);
  });

  test("writing to a peer that has closed is EPIPE, as an 'error' event, never a crash or a signal", async () => {
    const { a, b } = socketPair();
    a.destroy();
    const outcome = settled(b);
    b.write("anyone there?");
    expect(await outcome).toEqual({ errorCode: "EPIPE" });
  });

  test("the peer closing cleanly is a plain end of stream", async () => {
    const { a, b } = socketPair();
    a.end("last words");
    a.resume();
    expect((await readToEnd(b)).toString()).toBe("last words");
  });

  test("destroy() during a pending write fails that write's callback, emits no 'error', and closes", async () => {
    const { a, b } = socketPair();
    b.pause();
    const writeError = new Promise<Error | null | undefined>((resolve) => a.write(Buffer.alloc(32 * MiB), resolve));
    await until(() => b.readableLength >= b.readableHighWaterMark);
    const outcome = settled(a);
    a.destroy();
    expect((await writeError)?.message).toMatch(/destroyed/);
    expect(await outcome).toEqual({ errorCode: undefined });
  });
});

describe("the descriptor", () => {
  test("is closed exactly once, however often destroy() is called", async () => {
    const { a, fds } = socketPair();
    a.destroy();
    await once(a, "close");
    // The number is free again; the next open takes it. A second close by the socket would close that file.
    const reused = openSync("/dev/null", "r");
    try {
      a.destroy();
      a.destroy(new Error("late"));
      expect(reused).toBe(fds[0]);
      expect(fstatSync(reused).isCharacterDevice()).toBe(true);
    } finally {
      closeSync(reused);
    }
  });

  test("no descriptor is left behind by streams that end, fail or are destroyed", async () => {
    const cycle = async () => {
      const ended = socketPair();
      ended.a.end("x");
      ended.b.end("y");
      ended.a.resume();
      ended.b.resume();
      const failed = socketPair();
      failed.a.destroy();
      failed.b.write("z");
      failed.b.on("error", () => {});
      const destroyed = socketPair();
      destroyed.a.destroy();
      destroyed.b.destroy();
      await until(() => [ended, failed, destroyed].every(({ a, b }) => a.closed && b.closed));
    };
    await cycle(); // warm-up: whatever the runtime opens lazily
    const before = openFdCount();
    for (let i = 0; i < 20; i++) await cycle();
    expect(openFdCount()).toBe(before);
  });
});
