// The boundary audit recorder: its file format, and recordings of real relays
// holding exactly the bytes that crossed, per connection and direction.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { PassThrough, pipeline } from "node:stream";
import { encodeProxyV2, readProxyV2, type TransportStream } from "@strongroom/nitro";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { AuditRecorder, readAuditRecording } from "../src/audit.ts";
import { parseEgressAllowlist, startEgress } from "../src/egress.ts";
import { startIngress } from "../src/ingress.ts";
import { startLogSink } from "../src/log-sink.ts";
import { connectLocal, ENCLAVE_CID, listenLocal, PARENT_CID, readToEnd, readUntilGone, silentLog, simulatedVsock, type SimulatedVsock, until } from "./relay-support.ts";

let dir: string;
let file: string;
const cleanups: (() => unknown)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "strongroom-audit-"));
  file = join(dir, "audit.ndjson");
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("the recording file", () => {
  test("one NDJSON record per chunk, in order, base64", async () => {
    const recorder = AuditRecorder.open(file);
    const first = recorder.connection("ingress");
    const second = recorder.connection("egress:kms.example:443");
    first.toEnclave(Buffer.from("hello"));
    second.fromEnclave(new Uint8Array([0, 1, 2, 255]));
    first.fromEnclave(Buffer.from("world"));
    await recorder.close();
    expect(readFileSync(file, "utf8")).toBe(
      [
        '{"channel":"ingress","connection":1,"direction":"to-enclave","data":"aGVsbG8="}',
        '{"channel":"egress:kms.example:443","connection":2,"direction":"from-enclave","data":"AAEC/w=="}',
        '{"channel":"ingress","connection":1,"direction":"from-enclave","data":"d29ybGQ="}',
        "",
      ].join("\n"),
    );
  });

  test("records a view into a larger buffer as the view's bytes only", async () => {
    const recorder = AuditRecorder.open(file);
    const backing = Buffer.from("0123456789");
    recorder.connection("logs").fromEnclave(backing.subarray(3, 6));
    await recorder.close();
    expect(readAuditRecording(file)).toEqual([{ channel: "logs", connection: 1, toEnclave: Buffer.alloc(0), fromEnclave: Buffer.from("345") }]);
  });

  test("reads back each connection's directions concatenated, connections in order of first appearance", async () => {
    const recorder = AuditRecorder.open(file);
    const a = recorder.connection("ingress");
    const b = recorder.connection("ingress");
    b.toEnclave(Buffer.from("b1"));
    a.toEnclave(Buffer.from("a1"));
    a.fromEnclave(Buffer.from("A1"));
    b.toEnclave(Buffer.from("b2"));
    a.toEnclave(Buffer.from("a2"));
    await recorder.close();
    expect(readAuditRecording(file)).toEqual([
      { channel: "ingress", connection: 2, toEnclave: Buffer.from("b1b2"), fromEnclave: Buffer.alloc(0) },
      { channel: "ingress", connection: 1, toEnclave: Buffer.from("a1a2"), fromEnclave: Buffer.from("A1") },
    ]);
  });

  test("chunks after close are not recorded, and do not fail", async () => {
    const recorder = AuditRecorder.open(file);
    const connection = recorder.connection("ingress");
    connection.toEnclave(Buffer.from("kept"));
    await recorder.close();
    connection.toEnclave(Buffer.from("late"));
    await recorder.close();
    expect(readAuditRecording(file)).toEqual([{ channel: "ingress", connection: 1, toEnclave: Buffer.from("kept"), fromEnclave: Buffer.alloc(0) }]);
  });

  test("a file that cannot be written fails close(), not the process", async () => {
    const recorder = AuditRecorder.open(join(dir, "no-such-dir", "audit.ndjson"));
    recorder.connection("ingress").toEnclave(Buffer.from("x"));
    await expect(recorder.close()).rejects.toThrow(/audit recording .*no-such-dir.* failed: ENOENT/);
  });

  test.each([
    ["not JSON", "{not json\n", /line 1 is not JSON/],
    ["a record without data", '{"channel":"ingress","connection":1,"direction":"to-enclave"}\n', /line 1 is not an audit record/],
    ["an unknown direction", '{"channel":"ingress","connection":1,"direction":"sideways","data":""}\n', /line 1 is not an audit record/],
    ["a connection on two channels", '{"channel":"a","connection":1,"direction":"to-enclave","data":""}\n{"channel":"b","connection":1,"direction":"to-enclave","data":""}\n', /line 2: connection 1 is on channel a, not b/],
  ])("reading refuses %s, naming the line", (_, text, message) => {
    writeFileSync(file, text);
    expect(() => readAuditRecording(file)).toThrow(message);
  });
});

describe("recordings of real relays", () => {
  let vsock: SimulatedVsock;

  beforeEach(() => {
    vsock = simulatedVsock();
    cleanups.push(() => vsock.remove());
  });

  test("ingress: each connection's bytes, the PROXY header first, exactly as relayed", async () => {
    const recorder = AuditRecorder.open(file);
    // The enclave answers each request with its own bytes reversed, after the client has ended.
    const server = await vsock.enclave.listen(5000, async (stream) => {
      stream.on("error", () => {});
      await readProxyV2(stream, 5_000);
      const request = await readToEnd(stream);
      stream.end(Buffer.from(request).reverse());
    });
    cleanups.push(() => server.close());
    const ingress = await startIngress({ host: "127.0.0.1", port: 0, transport: vsock.parent, enclaveCid: () => ENCLAVE_CID, proxyProtocol: true, audit: recorder, log: silentLog() });
    cleanups.push(() => ingress.close());

    const requests = [randomBytes(300_000), Buffer.from("second")];
    const clients: { port: number; answer: Buffer }[] = [];
    for (const request of requests) {
      const socket = await connectLocal(ingress.port);
      const port = socket.localPort!;
      const answer = readToEnd(socket);
      socket.end(request);
      clients.push({ port, answer: await answer });
    }
    await until(() => ingress.connections() === 0);
    await recorder.close();

    const recording = readAuditRecording(file);
    expect(recording.map((stream) => [stream.channel, stream.connection])).toEqual([
      ["ingress", 1],
      ["ingress", 2],
    ]);
    recording.forEach((stream, index) => {
      const header = encodeProxyV2({ source: { address: "127.0.0.1", port: clients[index]!.port }, destination: { address: "127.0.0.1", port: ingress.port } });
      expect(stream.toEnclave.equals(Buffer.concat([header, requests[index]!]))).toBe(true);
      expect(stream.fromEnclave.equals(clients[index]!.answer)).toBe(true);
      expect(stream.fromEnclave.equals(Buffer.from(requests[index]!).reverse())).toBe(true);
    });
  });

  test("egress and logs: each on its own channel", async () => {
    const recorder = AuditRecorder.open(file);
    const tcp = await listenLocal(
      createServer({ allowHalfOpen: true }, (socket) => {
        socket.on("error", () => {});
        pipeline(socket, socket, () => {});
      }),
    );
    cleanups.push(() => tcp.close());
    const egress = await startEgress({ transport: vsock.parent, routes: parseEgressAllowlist([`127.0.0.1:${tcp.port}`]), audit: recorder, log: silentLog() });
    cleanups.push(() => egress.close());
    const logs = await startLogSink({ transport: vsock.parent, output: new PassThrough().resume(), audit: recorder, log: silentLog() });
    cleanups.push(() => logs.close());

    const out = await vsock.enclave.connect(PARENT_CID, 8000);
    const echoed = readToEnd(out);
    out.end("to the host and back");
    expect((await echoed).toString()).toBe("to the host and back");

    const logStream: TransportStream = await vsock.enclave.connect(PARENT_CID, 9100);
    const done = readUntilGone(logStream);
    logStream.end('{"msg":"a log line"}\nnot json\n');
    await done;
    await recorder.close();

    expect(readAuditRecording(file)).toEqual([
      { channel: `egress:127.0.0.1:${tcp.port}`, connection: 1, toEnclave: Buffer.from("to the host and back"), fromEnclave: Buffer.from("to the host and back") },
      // Everything the enclave sent, the dropped line included: the audit records what crossed, not what passed.
      { channel: "logs", connection: 2, toEnclave: Buffer.alloc(0), fromEnclave: Buffer.from('{"msg":"a log line"}\nnot json\n') },
    ]);
  });
});
