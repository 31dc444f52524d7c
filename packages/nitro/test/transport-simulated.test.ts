// The simulated transport: vsock over Unix sockets in <simDir>/vsock/.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createSimulatedTransport, type Transport, type TransportServer, type TransportStream, VsockError } from "../src/transport/index.ts";
import { readAll, readToEnd, settled, temporaryDirectory, writeRandom } from "./stream-support.ts";

const MiB = 1024 * 1024;
const ENCLAVE = 16;
const PARENT = 3;

let simDir: ReturnType<typeof temporaryDirectory>;
let enclave: Transport;
let parent: Transport;
const servers: TransportServer[] = [];
const streams: TransportStream[] = [];

beforeEach(() => {
  simDir = temporaryDirectory("strongroom-vsock-sim-");
  enclave = createSimulatedTransport({ simDir: simDir.path, cid: ENCLAVE });
  parent = createSimulatedTransport({ simDir: simDir.path, cid: PARENT });
});

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
  simDir.remove();
});

/** Listens on the enclave side; every accepted stream is also handed to `onStream`. */
async function listen(port: number, onStream: (stream: TransportStream) => void, transport = enclave): Promise<TransportServer> {
  const server = await transport.listen(port, (stream) => {
    streams.push(stream);
    onStream(stream);
  });
  servers.push(server);
  return server;
}

async function connectFromParent(port: number, cid = ENCLAVE): Promise<TransportStream> {
  const stream = await parent.connect(cid, port);
  streams.push(stream);
  return stream;
}

const echo = (stream: TransportStream) => void pipeline(stream, stream).catch(() => {});

/** Echoes the stream back and resolves with what passed through. */
function hashingEcho(stream: TransportStream): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  return pipeline(stream, tap, stream).then(() => ({ bytes, sha256: hash.digest("hex") }));
}

test("carries 64 MiB each way through an echo, byte for byte (SHA-256 on both ends)", async () => {
  let receivedByEnclave: Promise<{ bytes: number; sha256: string }> | undefined;
  await listen(5000, (stream) => (receivedByEnclave = hashingEcho(stream)));
  const stream = await connectFromParent(5000);
  const [sent, echoed] = await Promise.all([writeRandom(stream, 64, MiB), readAll(stream)]);
  expect(await receivedByEnclave).toEqual({ bytes: 64 * MiB, sha256: sent });
  expect(echoed).toEqual({ bytes: 64 * MiB, sha256: sent });
});

test("64 concurrent streams, both directions at once, each gets its own bytes back", async () => {
  await listen(5000, echo);
  const results = await Promise.all(
    Array.from({ length: 64 }, async () => {
      const stream = await connectFromParent(5000);
      const [sent, echoed] = await Promise.all([writeRandom(stream, 4, 64 * 1024), readAll(stream)]);
      return echoed.sha256 === sent && echoed.bytes === 256 * 1024;
    }),
  );
  expect(results.every(Boolean)).toBe(true);
});

test("both sides learn the other's CID and port, as vsock accept() and connect() tell them", async () => {
  const accepted: TransportStream[] = [];
  await listen(5000, (stream) => accepted.push(stream));
  const first = await connectFromParent(5000);
  const second = await connectFromParent(5000);
  await expect.poll(() => accepted.length).toBe(2);
  expect([first.remoteCid, first.remotePort, second.remoteCid, second.remotePort]).toEqual([ENCLAVE, 5000, ENCLAVE, 5000]);
  for (const stream of accepted) {
    expect(stream.remoteCid).toBe(PARENT);
    expect(stream.remotePort).toBeGreaterThan(1023);
  }
  expect(accepted[0]!.remotePort).not.toBe(accepted[1]!.remotePort);
});

test("half-close: the parent ends its side and the enclave still answers on the other", async () => {
  await listen(5000, (stream) => {
    void readToEnd(stream).then((request) => stream.end(`answer to ${request.toString()}`));
  });
  const stream = await connectFromParent(5000);
  stream.end("question");
  expect((await readToEnd(stream)).toString()).toBe("answer to question");
});

test("a peer that destroys its stream mid-transfer is an error or an end on the other side, never a crash", async () => {
  await listen(5000, (stream) => {
    stream.once("data", () => stream.destroy());
  });
  const stream = await connectFromParent(5000);
  const outcome = settled(stream);
  void writeRandom(stream, 64, MiB).catch(() => {});
  const { errorCode } = await outcome;
  expect([undefined, "ECONNRESET", "EPIPE"]).toContain(errorCode);
});

describe("connect where nobody listens", () => {
  test("a CID with no listener at all is ENODEV", async () => {
    const error = (await parent.connect(ENCLAVE, 5000).catch((e: unknown) => e)) as VsockError;
    expect(error).toBeInstanceOf(VsockError);
    expect(error.code).toBe("ENODEV");
    expect(error.message).toMatch(/^vsock connect to CID 16 port 5000 \(simulated\) failed \(ENODEV\): .*enclave running/);
  });

  test("a CID that listens elsewhere, but not on that port, is ECONNREFUSED", async () => {
    await listen(5001, () => {});
    await expect(parent.connect(ENCLAVE, 5000)).rejects.toMatchObject({ code: "ECONNREFUSED", message: expect.stringMatching(/nothing listens on that port/) });
  });

  test("a closed listener is gone: its socket file is removed", async () => {
    const server = await listen(5000, () => {});
    await server.close();
    expect(existsSync(join(simDir.path, "vsock", "16_5000.sock"))).toBe(false);
    await expect(parent.connect(ENCLAVE, 5000)).rejects.toMatchObject({ code: "ENODEV" });
  });
});

test("closing the listener leaves accepted streams working", async () => {
  let accepted: TransportStream | undefined;
  const server = await listen(5000, (stream) => (accepted = stream));
  const stream = await connectFromParent(5000);
  await expect.poll(() => accepted).toBeDefined();
  await server.close();
  await server.close(); // idempotent
  accepted!.end("still here");
  expect((await readToEnd(stream)).toString()).toBe("still here");
});

describe("listening", () => {
  test("a live listener on the same CID:port makes listen fail with EADDRINUSE", async () => {
    await listen(5000, () => {});
    const again = createSimulatedTransport({ simDir: simDir.path, cid: ENCLAVE });
    await expect(again.listen(5000, () => {})).rejects.toMatchObject({ code: "EADDRINUSE", message: expect.stringMatching(/another listener/) });
  });

  test("a socket file left by a process that died is reclaimed", async () => {
    const source = new URL("../src/transport/index.ts", import.meta.url).href;
    const script = `
      import { createSimulatedTransport } from ${JSON.stringify(source)};
      await createSimulatedTransport({ simDir: ${JSON.stringify(simDir.path)}, cid: 16 }).listen(5000, () => {});
      process.kill(process.pid, "SIGKILL");`;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(child.signal).toBe("SIGKILL");
    expect(existsSync(join(simDir.path, "vsock", "16_5000.sock"))).toBe(true);
    // Nobody accepts there: connecting says so, and listening takes the place over.
    await expect(parent.connect(ENCLAVE, 5000)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await listen(5000, echo);
    const stream = await connectFromParent(5000);
    stream.end("alive");
    expect((await readToEnd(stream)).toString()).toBe("alive");
  });

  test("the vsock directory is private (0700), also when it existed with a wider mode", async () => {
    const directory = join(simDir.path, "vsock");
    mkdirSync(directory, { mode: 0o755 });
    chmodSync(directory, 0o755);
    await listen(5000, () => {});
    expect(statSync(directory).mode & 0o777).toBe(0o700);
  });

  test("a socket path too long for a Unix socket is refused with advice", async () => {
    const deep = createSimulatedTransport({ simDir: join(simDir.path, "x".repeat(100)), cid: ENCLAVE });
    await expect(deep.listen(5000, () => {})).rejects.toMatchObject({ code: "ENAMETOOLONG", message: expect.stringMatching(/shorter simDir/) });
    await expect(deep.connect(ENCLAVE, 5000)).rejects.toMatchObject({ code: "ENAMETOOLONG" });
  });

  test("bad CIDs and ports are refused", async () => {
    expect(() => createSimulatedTransport({ simDir: simDir.path, cid: -3 })).toThrow(RangeError);
    await expect(enclave.listen(0xffff_ffff, () => {})).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    await expect(parent.connect(ENCLAVE, 70_000.5)).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
  });
});

describe("the preamble", () => {
  const socketPath = () => join(simDir.path, "vsock", "16_5000.sock");

  test('is "VSIM" ‖ CID ‖ port (big-endian), and everything after it is the stream', async () => {
    let accepted: TransportStream | undefined;
    await listen(5000, (stream) => (accepted = stream));
    const raw = connect(socketPath());
    await once(raw, "connect");
    const preamble = Buffer.alloc(12);
    preamble.write("VSIM", 0, "latin1");
    preamble.writeUInt32BE(7, 4);
    preamble.writeUInt32BE(0xdead_beef, 8);
    raw.end(Buffer.concat([preamble, Buffer.from("payload")]));
    await expect.poll(() => accepted).toBeDefined();
    expect([accepted!.remoteCid, accepted!.remotePort]).toEqual([7, 0xdead_beef]);
    expect((await readToEnd(accepted!)).toString()).toBe("payload");
    raw.destroy();
  });

  test("a connection that sends something else, or too little, is dropped without reaching the listener", async () => {
    const accepted: TransportStream[] = [];
    await listen(5000, (stream) => accepted.push(stream));
    for (const bytes of [Buffer.from("GET / HTTP/1.1\r\n\r\n"), Buffer.from("VSIM")]) {
      const raw = connect(socketPath());
      raw.end(bytes);
      raw.resume();
      await once(raw, "close");
    }
    // A well-formed connection after them is still served, and is the only one.
    await connectFromParent(5000);
    await expect.poll(() => accepted.length).toBe(1);
  });
});
