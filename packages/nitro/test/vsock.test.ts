// Real AF_VSOCK, as far as a machine can go on its own: sockets, bind,
// listen, address(), close, connect failures. (Connecting to one's own CID
// does not work on a VM, so no connection is ever accepted here; the stream
// logic is covered on socket pairs in vsock-socket.test.ts.)
import { existsSync } from "node:fs";
import { once } from "node:events";
import { afterEach, describe, expect, test } from "vitest";
import { connectVsock, localCid, VMADDR_CID_ANY, VMADDR_PORT_ANY, VsockError, VsockServer } from "../src/vsock/index.ts";
import { openFdCount } from "./stream-support.ts";

/** The codes a connect to an unreachable CID may fail with, depending on the transport under vsock. */
const UNREACHABLE = ["ENODEV", "ETIMEDOUT", "EHOSTUNREACH", "ECONNRESET"];
const servers: VsockServer[] = [];
const newServer = () => {
  const server = new VsockServer();
  servers.push(server);
  return server;
};

afterEach(() => {
  for (const server of servers.splice(0)) if (server.listening) server.close();
});

describe.runIf(existsSync("/dev/vsock"))("AF_VSOCK on this machine", () => {
  test("localCid() reads this machine's CID", () => {
    const cid = localCid();
    expect(Number.isInteger(cid) && cid > 2 && cid < VMADDR_CID_ANY).toBe(true);
  });

  test("listens on VMADDR_CID_ANY with a kernel-chosen port, emits 'listening', reports address()", async () => {
    const server = newServer();
    const listening = once(server, "listening");
    expect(await server.listen()).toBe(server);
    await listening;
    const address = server.address();
    expect(address?.cid).toBe(VMADDR_CID_ANY);
    expect(address!.port).toBeGreaterThan(1023);
    expect(address!.port).toBeLessThan(VMADDR_PORT_ANY);
    expect(server.listening).toBe(true);
  });

  test("listens on the local CID and a chosen port", async () => {
    const probe = await newServer().listen();
    const port = probe.address()!.port;
    await new Promise((resolve) => probe.close(resolve));
    const server = await newServer().listen(port, localCid());
    expect(server.address()).toEqual({ cid: localCid(), port });
  });

  test("a port in use is EADDRINUSE; a CID that is not ours is EADDRNOTAVAIL; both say what to do", async () => {
    const first = await newServer().listen();
    const { port } = first.address()!;
    const inUse = newServer().listen(port);
    await expect(inUse).rejects.toThrow(VsockError);
    await expect(inUse).rejects.toMatchObject({ code: "EADDRINUSE", message: expect.stringMatching(/port .*another listener/) });
    await expect(newServer().listen(port + 1, 4242)).rejects.toMatchObject({ code: "EADDRNOTAVAIL", message: expect.stringMatching(/VMADDR_CID_ANY/) });
  });

  test("close() stops listening: 'close', the callback, address() null, and the port is free again", async () => {
    const server = await newServer().listen();
    const { port } = server.address()!;
    const closed = once(server, "close");
    const error = await new Promise((resolve) => server.close(resolve));
    await closed;
    expect(error).toBeUndefined();
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();
    await newServer().listen(port);
    // Closing again is a reported no-op, as for net.Server.
    expect(await new Promise((resolve) => server.close(resolve))).toMatchObject({ code: "ERR_SERVER_NOT_RUNNING" });
  });

  test("a server can listen again after close", async () => {
    const server = await newServer().listen();
    server.close();
    await server.listen();
    expect(server.listening).toBe(true);
  });

  test("connecting to an unreachable CID rejects cleanly with the errno code", async () => {
    const error = (await connectVsock(4242, 5000).catch((e: unknown) => e)) as VsockError;
    expect(error).toBeInstanceOf(VsockError);
    expect(UNREACHABLE).toContain(error.code);
    expect(error.message).toMatch(/^vsock connect to CID 4242 port 5000 failed \(E[A-Z]+\): .*enclave running/);
  });

  test("connecting to this machine's own CID fails cleanly (a VM cannot reach itself)", async () => {
    const server = await newServer().listen();
    const error = (await connectVsock(localCid(), server.address()!.port).catch((e: unknown) => e)) as VsockError;
    expect(error).toBeInstanceOf(VsockError);
    expect([...UNREACHABLE, "ECONNREFUSED"]).toContain(error.code);
  });

  test("a connect that outlasts timeoutMs is ETIMEDOUT", async () => {
    await expect(connectVsock(4242, 5000, { timeoutMs: 50 })).rejects.toMatchObject({ code: "ETIMEDOUT" });
  });

  test("bad addresses are refused before any system call", async () => {
    await expect(connectVsock(-1, 5000)).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connectVsock(3, VMADDR_PORT_ANY)).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connectVsock(3, 1.5)).rejects.toThrow(RangeError);
    await expect(newServer().listen(2 ** 32)).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(connectVsock(3, 5000, { timeoutMs: 0 })).rejects.toThrow(/timeoutMs/);
  });

  test("no descriptor is left behind by listening, closing, failed listens and failed connects", async () => {
    const cycle = async () => {
      const server = await newServer().listen();
      await newServer().listen(server.address()!.port).catch(() => {});
      await connectVsock(localCid(), server.address()!.port).catch(() => {});
      await connectVsock(4242, 5000, { timeoutMs: 20 }).catch(() => {});
      await new Promise((resolve) => server.close(resolve));
    };
    await cycle(); // warm-up: whatever the runtime opens lazily
    const before = openFdCount();
    for (let i = 0; i < 20; i++) await cycle();
    expect(openFdCount()).toBe(before);
  });
});
