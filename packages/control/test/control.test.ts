import { Duplex } from "node:stream";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import {
  ControlClient,
  ControlMessageError,
  encodeFrame,
  FrameDecoder,
  FrameError,
  MAX_FRAME_BYTES,
  parseEnclaveMessage,
  parseParentMessage,
  serveControlStream,
  type EnclaveReply,
  type ParentMessage,
} from "@strongroom/control";

const body = (message: unknown) => Buffer.from(JSON.stringify(message));
const bootstrap = { v: 1, id: 7, type: "bootstrap", config: { egress: [{ host: "db.example.com", port: 5432, vsockPort: 8000 }], proxyProtocol: true, region: "eu-west-1", logLevel: "info" } };

describe("framing", () => {
  test("frames split and joined across chunks come out whole, in order", () => {
    const frames = Buffer.concat([encodeFrame({ a: 1 }), encodeFrame({ b: "two" }), encodeFrame([3])]);
    const decoder = new FrameDecoder();
    const bodies: string[] = [];
    for (let i = 0; i < frames.length; i += 3) for (const b of decoder.push(frames.subarray(i, i + 3))) bodies.push(b.toString());
    expect(bodies).toEqual(['{"a":1}', '{"b":"two"}', "[3]"]);
    expect(decoder.buffered).toBe(0);
  });

  test("an oversized length is refused from the header alone, and the decoder stays failed", () => {
    const decoder = new FrameDecoder();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffff_ffff);
    expect(() => decoder.push(header)).toThrow(FrameError);
    expect(() => decoder.push(encodeFrame({}))).toThrow(/already failed/);
    expect(() => encodeFrame({ big: "x".repeat(MAX_FRAME_BYTES) })).toThrow(/exceeds/);
  });
});

describe("messages", () => {
  test("a bootstrap is parsed and normalised", () => {
    expect(parseParentMessage(body(bootstrap))).toEqual({ ...bootstrap, config: { ...bootstrap.config } });
    const upper = { ...bootstrap, config: { ...bootstrap.config, egress: [{ host: "DB.Example.com", port: 5432, vsockPort: 8000 }] } };
    expect((parseParentMessage(body(upper)) as Extract<ParentMessage, { type: "bootstrap" }>).config.egress[0]!.host).toBe("db.example.com");
  });

  test.each([
    [{ ...bootstrap, v: 2 }, /version 2 is not supported/],
    [{ ...bootstrap, extra: 1 }, /unknown field "extra"/],
    [{ ...bootstrap, config: { ...bootstrap.config, trustRoot: "x" } }, /bootstrap.config: unknown field "trustRoot"/],
    [{ ...bootstrap, config: { ...bootstrap.config, egress: [{ host: "a", port: 1, vsockPort: 9100 }] } }, /egress\[0\]\.vsockPort: expected an integer from 8000 to 8099/],
    [{ ...bootstrap, config: { ...bootstrap.config, egress: [{ host: "a", port: 1, vsockPort: 8000 }, { host: "A", port: 1, vsockPort: 8001 }] } }, /duplicate destination a:1/],
    [{ ...bootstrap, config: { ...bootstrap.config, egress: [{ host: "a b", port: 1, vsockPort: 8000 }] } }, /host: malformed/],
    [{ ...bootstrap, config: { ...bootstrap.config, logLevel: "loud" } }, /logLevel: expected one of/],
    [{ v: 1, id: 1, type: "credentials", credentials: { accessKeyId: "AKIA", secretAccessKey: "s", expiration: "tomorrow" } }, /expiration: malformed/],
    [{ v: 1, id: 1, type: "credentials", credentials: { accessKeyId: "AKIA" } }, /missing field "secretAccessKey"/],
    [{ v: 1, id: 1, type: "seal" }, /unknown type "seal"/],
    [{ v: 1, id: -1, type: "health" }, /id: expected an integer/],
    [[1, 2], /expected a JSON object/],
  ])("refuses %j", (message, reason) => {
    expect(() => parseParentMessage(body(message))).toThrow(ControlMessageError);
    expect(() => parseParentMessage(body(message))).toThrow(reason);
  });

  test("refuses bytes that are not JSON", () => {
    expect(() => parseParentMessage(Buffer.from([0xff, 0x00]))).toThrow(/not valid JSON/);
  });

  test("the parent validates what the enclave says too", () => {
    expect(parseEnclaveMessage(body({ v: 1, id: 3, type: "health", health: { state: "serving", keys: 8, uptimeSeconds: 12 } }))).toMatchObject({ health: { state: "serving" } });
    expect(() => parseEnclaveMessage(body({ v: 1, id: 3, type: "health", health: { state: "sleeping", keys: 8, uptimeSeconds: 12 } }))).toThrow(/state/);
  });
});

describe("the channel over a real socket", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function connected(handle: (m: ParentMessage) => Promise<EnclaveReply>, refused: string[]) {
    server = createServer((socket) => serveControlStream(socket, handle, (reason) => refused.push(reason)));
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const socket = createConnection((server.address() as { port: number }).port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    return socket;
  }

  test("requests get their answers; a malformed one is refused and the channel keeps working", async () => {
    const refused: string[] = [];
    const seen: string[] = [];
    const socket = await connected(async (message) => {
      seen.push(message.type);
      if (message.type === "health") return { type: "health", health: { state: "serving", keys: 3, uptimeSeconds: 1 } };
      return { type: "ok" };
    }, refused);
    const client = new ControlClient(socket, 2_000);
    await client.expectOk({ type: "bootstrap", config: { egress: [], proxyProtocol: false } });
    socket.write(encodeFrame({ v: 1, id: 99, type: "bootstrap", config: { egress: "everywhere", proxyProtocol: false } }));
    expect(await client.health()).toEqual({ state: "serving", keys: 3, uptimeSeconds: 1 });
    expect(refused).toEqual([expect.stringMatching(/egress: expected a list/)]);
    expect(seen).toEqual(["bootstrap", "health"]);
    client.close();
  });

  test("an oversized frame closes the connection; the client learns why", async () => {
    const refused: string[] = [];
    const socket = await connected(async () => ({ type: "ok" }), refused);
    const client = new ControlClient(socket, 2_000);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    socket.write(header);
    expect((await client.closed).message).toMatch(/closed the control channel/);
    expect(refused).toEqual([expect.stringMatching(/over the 65536-byte limit/)]);
    await expect(client.health()).rejects.toThrow(/closed/);
  });

  test("a request the enclave never answers fails after the timeout", async () => {
    const silent = new Duplex({ read() {}, write(_chunk, _encoding, done) { done(); } });
    const client = new ControlClient(silent, 100);
    await expect(client.health()).rejects.toThrow(/did not answer a health request within 100 ms/);
  });

  test("an enclave-side error answer becomes a clear error", async () => {
    const socket: Socket = await connected(async () => {
      throw new Error("already bootstrapped with another configuration");
    }, []);
    const client = new ControlClient(socket, 2_000);
    await expect(client.expectOk({ type: "bootstrap", config: { egress: [], proxyProtocol: false } })).rejects.toThrow(/refused bootstrap: already bootstrapped/);
    client.close();
  });
});
