// The ingress proxy over real sockets: TCP clients on one side, the simulated
// enclave's vsock listener on the other.
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { pipeline } from "node:stream";
import { readProxyV2, type Transport, type TransportServer, type TransportStream } from "@strongroom/nitro";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { startIngress, type Ingress, type IngressOptions } from "../src/ingress.ts";
import { type CapturedLog, capturedLog, connectLocal, ENCLAVE_CID, readToEnd, readUntilGone, silentLog, simulatedVsock, type SimulatedVsock, until, within } from "./relay-support.ts";

const API_PORT = 5000;

let vsock: SimulatedVsock;
const cleanups: (() => unknown)[] = [];

beforeEach(() => {
  vsock = simulatedVsock();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vsock.remove();
});

/** The enclave's API listener; `onStream` gets every stream the parent opens. */
async function enclaveListens(onStream: (stream: TransportStream) => void): Promise<TransportServer> {
  const streams: TransportStream[] = [];
  const server = await vsock.enclave.listen(API_PORT, (stream) => {
    streams.push(stream);
    stream.on("error", () => {});
    onStream(stream);
  });
  cleanups.push(() => server.close(), () => streams.forEach((stream) => stream.destroy()));
  return server;
}

async function ingress(options: Partial<IngressOptions> = {}): Promise<Ingress> {
  const started = await startIngress({ host: "127.0.0.1", port: 0, transport: vsock.parent, enclaveCid: () => ENCLAVE_CID, proxyProtocol: false, log: silentLog(), ...options });
  cleanups.push(() => started.close());
  return started;
}

async function client(port: number) {
  const socket = await connectLocal(port);
  socket.on("error", () => {});
  cleanups.push(() => socket.destroy());
  return socket;
}

const closedLines = (captured: CapturedLog) => captured.lines.filter((line) => line.msg === "ingress connection closed");

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe("relaying", () => {
  test("listens where it says, on the port the system chose", async () => {
    const started = await ingress();
    expect(started.port).toBeGreaterThan(0);
    expect(started.url).toBe(`127.0.0.1:${started.port}`);
  });

  test("carries bytes both ways, unchanged, with backpressure", async () => {
    await enclaveListens((stream) => pipeline(stream, stream, () => {}));
    const started = await ingress();
    const socket = await client(started.port);
    const request = randomBytes(4 * 1024 * 1024);
    const echoed = readToEnd(socket);
    socket.end(request);
    expect(sha256(await echoed)).toBe(sha256(request));
  });

  test("passes a half-close on: the client's end reaches the enclave while the answer still flows back", async () => {
    await enclaveListens(async (stream) => {
      const request = await readToEnd(stream);
      // Only after the client has ended its side does the enclave answer.
      stream.end(Buffer.concat([Buffer.from("got "), request]));
    });
    const started = await ingress();
    const socket = await client(started.port);
    const answer = readToEnd(socket);
    socket.end("request");
    expect((await answer).toString()).toBe("got request");
  });

  test("counts open connections and destroys them on close", async () => {
    await enclaveListens(() => {});
    const started = await ingress();
    const sockets = [await client(started.port), await client(started.port)];
    await until(() => started.connections() === 2);
    const closed = sockets.map((socket) => readUntilGone(socket));
    await started.close();
    await within(Promise.all(closed), 10_000, "clients closed");
    expect(started.connections()).toBe(0);
    await expect(connectLocal(started.port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  test("a client that resets is no longer counted, its enclave stream is closed, and the end is reported once, with why", async () => {
    let enclaveSide: Promise<unknown> | undefined;
    await enclaveListens((stream) => (enclaveSide = readUntilGone(stream)));
    const captured = capturedLog();
    const started = await ingress({ log: captured.log });
    const socket = await client(started.port);
    await until(() => enclaveSide !== undefined);
    socket.resetAndDestroy();
    await within(enclaveSide!, 10_000, "enclave stream gone");
    await until(() => started.connections() === 0);
    await until(() => closedLines(captured).length > 0);
    expect(closedLines(captured)).toEqual([expect.objectContaining({ level: 20, reason: expect.stringMatching(/ECONNRESET/) })]);
  });

  test("a client that only ends its side stays connected until the enclave ends too", async () => {
    let enclaveStream: TransportStream | undefined;
    await enclaveListens((stream) => (enclaveStream = stream));
    const started = await ingress();
    const socket = await client(started.port);
    await until(() => enclaveStream !== undefined);
    const ended = readUntilGone(enclaveStream!);
    socket.end();
    await ended;
    expect(started.connections()).toBe(1);
    const answer = readToEnd(socket);
    enclaveStream!.end("late answer");
    expect((await answer).toString()).toBe("late answer");
    await until(() => started.connections() === 0);
  });
});

describe("PROXY protocol", () => {
  test("the enclave learns the client's address and port and the listener's, and then the client's bytes", async () => {
    let received: Promise<{ header: unknown; rest: Buffer }> | undefined;
    await enclaveListens((stream) => {
      received = readProxyV2(stream, 5_000).then(async (header) => ({ header, rest: await readToEnd(stream) }));
    });
    const started = await ingress({ proxyProtocol: true });
    const socket = await client(started.port);
    socket.end("hello enclave");
    await until(() => received !== undefined);
    const { header, rest } = await received!;
    expect(header).toEqual({ kind: "proxy", source: { address: "127.0.0.1", port: socket.localPort }, destination: { address: "127.0.0.1", port: started.port } });
    expect(rest.toString()).toBe("hello enclave");
  });

  test("without it, the enclave gets the client's bytes alone", async () => {
    let received: Promise<Buffer> | undefined;
    await enclaveListens((stream) => (received = readToEnd(stream)));
    const started = await ingress({ proxyProtocol: false });
    (await client(started.port)).end("hello enclave");
    await until(() => received !== undefined);
    expect((await received!).toString()).toBe("hello enclave");
  });
});

describe("an unreachable enclave", () => {
  /** Connects, sends a payload the logs must never show, and waits for the ingress to close the connection. */
  async function turnedAway(started: Ingress) {
    const socket = await client(started.port);
    const outcome = readUntilGone(socket);
    socket.write("PAYLOAD-MUST-NOT-BE-LOGGED");
    // A bound on waiting, far below the connect timeout these tests set: the refusal must not wait for it.
    const { data } = await within(outcome, 10_000, "client connection closed");
    expect(data.length).toBe(0);
    await until(() => started.connections() === 0);
  }

  const slowTimeout = 60_000;

  test("no enclave CID yet: the client is closed at once and the reason logged at warn", async () => {
    const captured = capturedLog();
    const started = await ingress({ enclaveCid: () => undefined, log: captured.log, connectTimeoutMs: slowTimeout });
    await turnedAway(started);
    await until(() => captured.lines.some((line) => line.level === 40));
    expect(captured.lines.find((line) => line.level === 40)).toMatchObject({ msg: "ingress: the enclave is unreachable; client connection closed", reason: expect.stringMatching(/no enclave is running/), client: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(captured.text()).not.toContain("PAYLOAD");
  });

  test.each([
    ["no such CID", 17, "ENODEV"],
    ["nothing listening on the API port", ENCLAVE_CID, "ECONNREFUSED"],
  ])("%s: the client is closed at once and the errno logged", async (_, cid, code) => {
    // Something of CID 16 exists, on another port, so that CID 16 is known and 17 is not.
    const other = await vsock.enclave.listen(API_PORT + 1, (stream) => stream.destroy());
    cleanups.push(() => other.close());
    const captured = capturedLog();
    const started = await ingress({ enclaveCid: () => cid, log: captured.log, connectTimeoutMs: slowTimeout });
    await turnedAway(started);
    await until(() => captured.lines.some((line) => line.level === 40));
    expect(captured.lines.find((line) => line.level === 40)).toMatchObject({ code, enclave: `${cid}:${API_PORT}` });
    expect(captured.text()).not.toContain("PAYLOAD");
  });

  test("an enclave that does not answer: the client is closed after the connect timeout", async () => {
    // Real vsock can leave a connect unanswered (ETIMEDOUT after seconds); the simulator cannot, so this
    // transport stands for such an enclave: its connects never settle.
    const silent: Transport = { kind: "vsock", listen: () => Promise.reject(new Error("not used")), connect: () => new Promise(() => {}) };
    const captured = capturedLog();
    const started = await ingress({ transport: silent, log: captured.log, connectTimeoutMs: 50 });
    await turnedAway(started);
    expect(captured.lines.find((line) => line.level === 40)).toMatchObject({ code: "ETIMEDOUT", reason: expect.stringMatching(/longer than 50 ms/) });
  });

  test("the enclave becoming reachable later serves later clients", async () => {
    let cid: number | undefined;
    const started = await ingress({ enclaveCid: () => cid });
    await turnedAway(started);
    await enclaveListens((stream) => pipeline(stream, stream, () => {}));
    cid = ENCLAVE_CID;
    const socket = await client(started.port);
    const echoed = readToEnd(socket);
    socket.end("again");
    expect((await echoed).toString()).toBe("again");
  });
});

test("a taken port is a clear error", async () => {
  const first = await ingress();
  await expect(ingress({ port: first.port })).rejects.toThrow(new RegExp(`ingress: cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`));
});

test("the enclave's stream is closed with the client's: nothing is left open after a full exchange, reported once", async () => {
  const enclaveClosed: Promise<unknown>[] = [];
  await enclaveListens((stream) => {
    enclaveClosed.push(once(stream, "close"));
    pipeline(stream, stream, () => {});
  });
  const captured = capturedLog();
  const started = await ingress({ log: captured.log });
  const socket = await client(started.port);
  const echoed = readToEnd(socket);
  socket.end("x");
  await echoed;
  await within(Promise.all(enclaveClosed), 10_000, "enclave stream closed");
  await until(() => started.connections() === 0);
  await until(() => closedLines(captured).length > 0);
  expect(closedLines(captured)).toEqual([expect.not.objectContaining({ reason: expect.anything() })]);
});
