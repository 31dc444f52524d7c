// The egress proxies over real sockets: the simulated enclave connects to the
// parent's vsock ports; behind them, real TCP and TLS servers on 127.0.0.1.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { pipeline } from "node:stream";
import { connect as connectTls, createServer as createTlsServer } from "node:tls";
import type { TransportStream } from "@strongroom/nitro";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { type Egress, type EgressOptions, parseEgressAllowlist, startEgress } from "../src/egress.ts";
import { capturedLog, closedPort, listenLocal, PARENT_CID, readToEnd, readUntilGone, selfSignedTls, silentLog, simulatedVsock, type SimulatedVsock, unansweredPort, until, within } from "./relay-support.ts";

describe("parseEgressAllowlist", () => {
  test("gives each entry the next vsock port, in order", () => {
    expect(parseEgressAllowlist(["kms.eu-west-1.amazonaws.com:443", "10.0.0.5:5432", "[2001:DB8::1]:443", "DynamoDB.eu-west-1.amazonaws.com.:443"])).toEqual([
      { vsockPort: 8000, host: "kms.eu-west-1.amazonaws.com", port: 443 },
      { vsockPort: 8001, host: "10.0.0.5", port: 5432 },
      { vsockPort: 8002, host: "2001:db8::1", port: 443 },
      { vsockPort: 8003, host: "dynamodb.eu-west-1.amazonaws.com", port: 443 },
    ]);
    expect(parseEgressAllowlist(["a.example:1"], 9000)).toEqual([{ vsockPort: 9000, host: "a.example", port: 1 }]);
    expect(parseEgressAllowlist([])).toEqual([]);
  });

  test("takes 100 entries, 8000 to 8099, and refuses 101", () => {
    const entries = Array.from({ length: 101 }, (_, index) => `host-${index}.example:443`);
    expect(parseEgressAllowlist(entries.slice(0, 100)).at(-1)).toEqual({ vsockPort: 8099, host: "host-99.example", port: 443 });
    expect(() => parseEgressAllowlist(entries)).toThrow(/101 entries, at most 100/);
  });

  test.each([
    ["kms.example.com", /"kms\.example\.com" is not host:port/],
    ["kms.example.com:", /has port "", not a number from 1 to 65535/],
    ["kms.example.com:0", /has port "0"/],
    ["kms.example.com:65536", /has port "65536"/],
    ["kms.example.com:0443", /has port "0443"/],
    ["kms.example.com:https", /has port "https"/],
    ["::1:443", /"::1:443" is not host:port/],
    ["[::1]443", /is not host:port/],
    ["[kms.example.com]:443", /in brackets, which is not an IPv6 address/],
    ["[fe80::1%eth0]:443", /in brackets, which is not an IPv6 address/],
    [":443", /has host "", which is neither/],
    ["kms_example.com:443", /has host "kms_example\.com", which is neither an IPv4 address nor a DNS name/],
    ["-kms.example.com:443", /which is neither/],
    ["kms..example.com:443", /which is neither/],
    ["10.0.0.256:443", /has host "10\.0\.0\.256", which is neither/],
    ["user@kms.example.com:443", /which is neither/],
    [`${"a".repeat(64)}.example:443`, /which is neither/],
  ])("refuses %j, naming it", (entry, message) => {
    expect(() => parseEgressAllowlist(["ok.example:443", entry])).toThrow(message);
    expect(() => parseEgressAllowlist([entry])).toThrow(/^egress allowlist entry .* write host:port, or \[IPv6 address\]:port$/);
  });

  test.each([
    ["kms.example.com:443", "KMS.example.com:443"],
    ["[::1]:5432", "[0:0::1]:5432"],
    ["db.example:5432", "db.example.:5432"],
  ])("refuses %j listed again as %j", (first, again) => {
    expect(() => parseEgressAllowlist([first, "other.example:1", again])).toThrow(`egress allowlist entry ${JSON.stringify(again)} repeats ${JSON.stringify(first)}; list each host:port once`);
  });

  test("the same host on two ports is two routes", () => {
    expect(parseEgressAllowlist(["db.example:5432", "db.example:5433"]).map((route) => route.vsockPort)).toEqual([8000, 8001]);
  });
});

describe("startEgress", () => {
  let vsock: SimulatedVsock;
  const cleanups: (() => unknown)[] = [];

  beforeEach(() => {
    vsock = simulatedVsock();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    vsock.remove();
  });

  async function egress(entries: readonly string[], options: Partial<EgressOptions> = {}): Promise<Egress> {
    const started = await startEgress({ transport: vsock.parent, routes: parseEgressAllowlist(entries), log: silentLog(), ...options });
    cleanups.push(() => started.close());
    return started;
  }

  /** The enclave's side: a stream to the parent's egress port. */
  async function enclaveConnects(vsockPort = 8000): Promise<TransportStream> {
    const stream = await vsock.enclave.connect(PARENT_CID, vsockPort);
    stream.on("error", () => {});
    cleanups.push(() => stream.destroy());
    return stream;
  }

  /** A TCP server on 127.0.0.1 handing each connection to `onSocket`. */
  async function tcpServer(onSocket: (socket: Socket) => void) {
    const sockets: Socket[] = [];
    const listening = await listenLocal(
      createServer({ allowHalfOpen: true }, (socket) => {
        sockets.push(socket);
        socket.on("error", () => {});
        onSocket(socket);
      }),
    );
    cleanups.push(() => listening.close(), () => sockets.forEach((socket) => socket.destroy()));
    return listening;
  }

  test("carries the enclave's TLS to the allow-listed server and back", async () => {
    const tls = selfSignedTls(["echo.test"]);
    const server = await listenLocal(createTlsServer({ ...tls, allowHalfOpen: true }, (socket) => pipeline(socket, socket, () => {})));
    cleanups.push(() => server.close());
    await egress([`127.0.0.1:${server.port}`]);
    const stream = await enclaveConnects();
    // TLS from the enclave's end, with the real server name, as the enclave's clients do it.
    const secure = connectTls({ socket: stream, servername: "echo.test", ca: tls.cert });
    secure.on("error", () => {});
    const message = randomBytes(256 * 1024);
    const echoed = readToEnd(secure);
    await new Promise((resolve) => secure.once("secureConnect", resolve));
    expect(secure.authorized).toBe(true);
    secure.end(message);
    const back = await echoed;
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(message).digest("hex"));
  });

  test("passes a half-close on: the enclave's end reaches the server while its answer still flows back", async () => {
    const server = await tcpServer(async (socket) => {
      const request = await readToEnd(socket);
      socket.end(Buffer.concat([Buffer.from("got "), request]));
    });
    await egress([`127.0.0.1:${server.port}`]);
    const stream = await enclaveConnects();
    const answer = readToEnd(stream);
    stream.end("request");
    expect((await answer).toString()).toBe("got request");
  });

  test("the server ending first leaves the enclave's direction open", async () => {
    let received: Promise<Buffer> | undefined;
    const server = await tcpServer((socket) => {
      socket.end("banner");
      received = readToEnd(socket);
    });
    await egress([`127.0.0.1:${server.port}`]);
    const stream = await enclaveConnects();
    expect((await readToEnd(stream)).toString()).toBe("banner");
    stream.end("still heard");
    await until(() => received !== undefined);
    expect((await received!).toString()).toBe("still heard");
  });

  test("each route reaches its own host:port, and only those ports listen", async () => {
    const named = (name: string) => tcpServer((socket) => socket.end(name));
    const [first, second] = [await named("first"), await named("second")];
    await egress([`127.0.0.1:${first.port}`, `127.0.0.1:${second.port}`]);
    expect((await readToEnd(await enclaveConnects(8001))).toString()).toBe("second");
    expect((await readToEnd(await enclaveConnects(8000))).toString()).toBe("first");
    await expect(vsock.enclave.connect(PARENT_CID, 8002)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  test("whatever the enclave sends, it reaches only the allow-listed server", async () => {
    const requests: Promise<Buffer>[] = [];
    const server = await tcpServer((socket) => {
      requests.push(readToEnd(socket));
      socket.end();
    });
    await egress([`127.0.0.1:${server.port}`]);
    const stream = await enclaveConnects();
    stream.end("CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n");
    await readUntilGone(stream);
    await until(() => requests.length === 1);
    expect((await requests[0]!).toString()).toMatch(/^CONNECT other\.example/);
  });

  test("a server that cannot be reached resets the enclave's stream at once, and is logged at warn", async () => {
    const port = await closedPort();
    const captured = capturedLog();
    await egress([`127.0.0.1:${port}`], { log: captured.log, connectTimeoutMs: 60_000 });
    const stream = await enclaveConnects();
    stream.write("PAYLOAD-MUST-NOT-BE-LOGGED");
    const { data } = await within(readUntilGone(stream), 10_000, "enclave stream reset");
    expect(data.length).toBe(0);
    await until(() => captured.lines.some((line) => line.level === 40));
    expect(captured.lines.find((line) => line.level === 40)).toMatchObject({
      msg: "egress: cannot reach the allow-listed host; enclave stream reset",
      destination: `127.0.0.1:${port}`,
      vsockPort: 8000,
      reason: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(captured.text()).not.toContain("PAYLOAD");
  });

  test("a server that does not answer in time resets the enclave's stream", async () => {
    const unanswered = await unansweredPort();
    cleanups.push(unanswered.stop);
    const captured = capturedLog();
    await egress([`127.0.0.1:${unanswered.port}`], { log: captured.log, connectTimeoutMs: 100 });
    const stream = await enclaveConnects();
    const { data } = await within(readUntilGone(stream), 10_000, "enclave stream reset");
    expect(data.length).toBe(0);
    await until(() => captured.lines.some((line) => line.level === 40));
    expect(captured.lines.find((line) => line.level === 40)).toMatchObject({ destination: `127.0.0.1:${unanswered.port}`, reason: "no TCP connection within 100 ms" });
  });

  test("refuses to start when an allow-listed host does not resolve, naming it", async () => {
    const server = await tcpServer((socket) => socket.end());
    const routes = parseEgressAllowlist([`127.0.0.1:${server.port}`, "kms.strongroom.invalid:443"]);
    await expect(startEgress({ transport: vsock.parent, routes, log: silentLog() })).rejects.toThrow(/egress: cannot start: allow-listed host does not resolve: kms\.strongroom\.invalid \(\w+\); fix the egress allowlist/);
    // Nothing was left listening.
    await expect(vsock.enclave.connect(PARENT_CID, 8000)).rejects.toMatchObject({ code: expect.stringMatching(/^(ENODEV|ECONNREFUSED)$/) });
  });

  test("without the resolve check it starts, and a name that does not resolve resets each stream", async () => {
    const captured = capturedLog();
    await egress(["kms.strongroom.invalid:443"], { resolve: false, log: captured.log });
    const stream = await enclaveConnects();
    const { data } = await within(readUntilGone(stream), 10_000, "enclave stream reset");
    expect(data.length).toBe(0);
    await until(() => captured.lines.some((line) => line.level === 40));
    expect(captured.lines.find((line) => line.level === 40)).toMatchObject({ destination: "kms.strongroom.invalid:443" });
  });

  test("a vsock port already taken is a clear error, and the ports opened before it are closed again", async () => {
    const taken = await vsock.parent.listen(8001, (stream) => stream.destroy());
    cleanups.push(() => taken.close());
    const routes = parseEgressAllowlist(["127.0.0.1:1", "127.0.0.1:2"]);
    await expect(startEgress({ transport: vsock.parent, routes, log: silentLog() })).rejects.toThrow(/egress: cannot listen on vsock port 8001 for 127\.0\.0\.1:2: .*EADDRINUSE/);
    await expect(vsock.enclave.connect(PARENT_CID, 8000)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  test("close stops listening and destroys open connections", async () => {
    let serverSide: Promise<unknown> | undefined;
    const server = await tcpServer((socket) => (serverSide = readUntilGone(socket)));
    const started = await egress([`127.0.0.1:${server.port}`]);
    const stream = await enclaveConnects();
    const gone = readUntilGone(stream);
    await until(() => serverSide !== undefined);
    await started.close();
    await within(serverSide!, 10_000, "server connection closed");
    await within(gone, 10_000, "enclave stream closed");
    await expect(vsock.enclave.connect(PARENT_CID, 8000)).rejects.toMatchObject({ code: expect.stringMatching(/^(ENODEV|ECONNREFUSED)$/) });
  });
});
