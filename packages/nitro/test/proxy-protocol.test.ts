// PROXY protocol v2 over real TCP socket pairs: what encodeProxyV2 writes, what
// readProxyV2 takes (the header and not a byte more), and what it refuses.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { encodeProxyV2, MAX_PROXY_V2_BODY, ProxyProtocolError, readProxyV2, type ProxyHeader } from "../src/transport/index.ts";
import { readToEnd } from "./stream-support.ts";

const SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const TIMEOUT_MS = 5_000;

const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A connected pair over 127.0.0.1: `sender` is the connecting end, `receiver` the accepted one. */
async function socketPair(): Promise<{ sender: Socket; receiver: Socket }> {
  const server = createServer({ allowHalfOpen: true });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const sender = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  const [receiver] = await accepted;
  for (const socket of [sender, receiver]) {
    sockets.push(socket);
    socket.on("error", () => {});
  }
  return { sender, receiver };
}

/** Sends `bytes` (then ends, unless told not to) and reads the header on the other side. */
async function receive(bytes: Buffer | readonly Buffer[], { end = true, timeoutMs = TIMEOUT_MS } = {}): Promise<{ header: ProxyHeader; rest: Buffer }> {
  const { sender, receiver } = await socketPair();
  // Settled at once, so that an early refusal is not an unhandled rejection while the pieces go out.
  const reading = readProxyV2(receiver, timeoutMs).then(
    (header) => ({ header }),
    (error: unknown) => ({ error }),
  );
  for (const piece of Array.isArray(bytes) ? bytes : [bytes]) {
    sender.write(piece);
    // Separate TCP segments: each piece arrives in a 'readable' of its own.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (end) sender.end();
  const outcome = await reading;
  if ("error" in outcome) throw outcome.error;
  return { header: outcome.header, rest: await readToEnd(receiver) };
}

async function refusal(bytes: Buffer | readonly Buffer[], options?: { end?: boolean; timeoutMs?: number }): Promise<ProxyProtocolError> {
  const error = await receive(bytes, options).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(ProxyProtocolError);
  return error as ProxyProtocolError;
}

/** A header with these bytes after the signature: version/command, family, length, body. */
function rawHeader(versionCommand: number, family: number, body: Buffer, length = body.length): Buffer {
  const fixed = Buffer.from([versionCommand, family, length >> 8, length & 0xff]);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

const payload = randomBytes(64 * 1024);

describe("encodeProxyV2", () => {
  test("writes TCP over IPv4 as the spec lays it out", () => {
    const header = encodeProxyV2({ source: { address: "192.0.2.10", port: 51234 }, destination: { address: "10.0.0.1", port: 9000 } });
    expect(header.toString("hex")).toBe(`${SIGNATURE.toString("hex")}2111000c` + "c000020a" + "0a000001" + "c822" + "2328");
  });

  test("writes TCP over IPv6 as the spec lays it out", () => {
    const header = encodeProxyV2({ source: { address: "2001:db8::1", port: 1 }, destination: { address: "::1", port: 443 } });
    expect(header.subarray(12, 16).toString("hex")).toBe("21210024");
    expect(header.subarray(16).toString("hex")).toBe("20010db8000000000000000000000001" + "00000000000000000000000000000001" + "0001" + "01bb");
  });

  test("writes IPv4-mapped IPv6 addresses as IPv4", () => {
    const header = encodeProxyV2({ source: { address: "::ffff:192.0.2.10", port: 1 }, destination: { address: "::FFFF:7f00:1", port: 2 } });
    expect(header[13]).toBe(0x11);
    expect(header.subarray(16, 24).toString("hex")).toBe("c000020a7f000001");
  });

  test("writes an IPv4 address beside an IPv6 one as IPv4-mapped IPv6", () => {
    const header = encodeProxyV2({ source: { address: "192.0.2.10", port: 1 }, destination: { address: "2001:db8::2", port: 2 } });
    expect(header[13]).toBe(0x21);
    expect(header.subarray(16, 32).toString("hex")).toBe("00000000000000000000ffffc000020a");
  });

  test("leaves a zone index off", () => {
    const header = encodeProxyV2({ source: { address: "fe80::1%eth0", port: 1 }, destination: { address: "fe80::2", port: 2 } });
    expect(header.subarray(16, 32).toString("hex")).toBe("fe800000000000000000000000000001");
  });

  test.each([
    [{ address: "example.com", port: 1 }, /source address "example.com" is not an IPv4 or IPv6 address/],
    [{ address: "1.2.3.4", port: 65536 }, /source port 65536 is not an integer from 0 to 65535/],
    [{ address: "1.2.3.4", port: 1.5 }, /source port 1.5/],
  ])("refuses %o", (source, message) => {
    expect(() => encodeProxyV2({ source, destination: { address: "1.2.3.4", port: 1 } })).toThrow(message);
  });
});

describe("readProxyV2", () => {
  test("takes an IPv4 header and leaves what follows it intact", async () => {
    const header = encodeProxyV2({ source: { address: "192.0.2.10", port: 51234 }, destination: { address: "10.0.0.1", port: 9000 } });
    const { header: read, rest } = await receive(Buffer.concat([header, payload]));
    expect(read).toEqual({ kind: "proxy", source: { address: "192.0.2.10", port: 51234 }, destination: { address: "10.0.0.1", port: 9000 } });
    expect(rest.equals(payload)).toBe(true);
  });

  test("takes an IPv6 header and leaves what follows it intact", async () => {
    const header = encodeProxyV2({ source: { address: "2001:db8:0:0:1:0:0:1", port: 65535 }, destination: { address: "::1", port: 0 } });
    const { header: read, rest } = await receive(Buffer.concat([header, payload]));
    expect(read).toEqual({ kind: "proxy", source: { address: "2001:db8::1:0:0:1", port: 65535 }, destination: { address: "::1", port: 0 } });
    expect(rest.equals(payload)).toBe(true);
  });

  test("takes a header already buffered when it is called, as right after an earlier reader (the simulated transport's preamble)", async () => {
    const { sender, receiver } = await socketPair();
    const header = encodeProxyV2({ source: { address: "192.0.2.10", port: 1 }, destination: { address: "192.0.2.11", port: 2 } });
    // The earlier reader takes its 4 bytes, stops listening and hands over in the same turn,
    // with the header already in the buffer: no new 'readable' will announce it.
    const read = new Promise<ProxyHeader>((resolve, reject) => {
      const onReadable = () => {
        if (receiver.read(4) === null) return;
        receiver.off("readable", onReadable);
        readProxyV2(receiver, 1_000).then(resolve, reject);
      };
      receiver.on("readable", onReadable);
    });
    sender.write(Buffer.concat([Buffer.from("VSIM"), header]));
    await expect(read).resolves.toMatchObject({ kind: "proxy", source: { address: "192.0.2.10" } });
    sender.end("after");
    expect((await readToEnd(receiver)).toString()).toBe("after");
  });

  test("takes a header that arrives a few bytes at a time, and the bytes sent with its last piece", async () => {
    const header = encodeProxyV2({ source: { address: "192.0.2.10", port: 1 }, destination: { address: "192.0.2.11", port: 2 } });
    const pieces = [header.subarray(0, 3), header.subarray(3, 15), header.subarray(15, 20), Buffer.concat([header.subarray(20), Buffer.from("after")])];
    const { header: read, rest } = await receive(pieces);
    expect(read).toMatchObject({ kind: "proxy", source: { address: "192.0.2.10", port: 1 } });
    expect(rest.toString()).toBe("after");
  });

  test("returns a header alone, with nothing after it, and the stream then ends", async () => {
    const { header, rest } = await receive(encodeProxyV2({ source: { address: "1.2.3.4", port: 5 }, destination: { address: "5.6.7.8", port: 9 } }));
    expect(header.kind).toBe("proxy");
    expect(rest.length).toBe(0);
  });

  test("skips TLVs after the addresses", async () => {
    const addresses = encodeProxyV2({ source: { address: "192.0.2.10", port: 1 }, destination: { address: "192.0.2.11", port: 2 } }).subarray(16);
    // PP2_TYPE_AUTHORITY "signer.example", then a NOOP of 3 bytes.
    const tlvs = Buffer.concat([Buffer.from([0x02, 0x00, 14]), Buffer.from("signer.example"), Buffer.from([0x04, 0x00, 3, 0, 0, 0])]);
    const { header, rest } = await receive(Buffer.concat([rawHeader(0x21, 0x11, Buffer.concat([addresses, tlvs])), payload]));
    expect(header).toEqual({ kind: "proxy", source: { address: "192.0.2.10", port: 1 }, destination: { address: "192.0.2.11", port: 2 } });
    expect(rest.equals(payload)).toBe(true);
  });

  test("accepts a body of exactly the bound", async () => {
    const addresses = encodeProxyV2({ source: { address: "192.0.2.10", port: 1 }, destination: { address: "192.0.2.11", port: 2 } }).subarray(16);
    const noop = Buffer.alloc(MAX_PROXY_V2_BODY - addresses.length);
    noop.writeUInt8(0x04, 0);
    noop.writeUInt16BE(noop.length - 3, 1);
    const { header, rest } = await receive(Buffer.concat([rawHeader(0x21, 0x11, Buffer.concat([addresses, noop])), Buffer.from("x")]));
    expect(header.kind).toBe("proxy");
    expect(rest.toString()).toBe("x");
  });

  test("reads IPv4-mapped IPv6 addresses as IPv4", async () => {
    const body = Buffer.concat([Buffer.from("00000000000000000000ffffc000020a", "hex"), Buffer.from("20010db8000000000000000000000001", "hex"), Buffer.from("00010002", "hex")]);
    const { header } = await receive(rawHeader(0x21, 0x21, body));
    expect(header).toEqual({ kind: "proxy", source: { address: "192.0.2.10", port: 1 }, destination: { address: "2001:db8::1", port: 2 } });
  });

  test("writes IPv6 in the canonical form a URL parser gives", async () => {
    const samples = ["::", "::1", "1::", "2001:db8::", "0:0:1:0:0:0:0:1", "1:0:0:2:0:0:0:3", "1:2:3:4:5:6:7:8", "0:1:0:1:0:1:0:1", "fe80::abcd:0:0:1", "ABCD:EF01::"];
    for (const address of samples) {
      const { header } = await receive(encodeProxyV2({ source: { address, port: 1 }, destination: { address: "::2", port: 2 } }));
      const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
      expect(header).toMatchObject({ source: { address: canonical } });
    }
  });

  test("takes a LOCAL header, skipping whatever block it carries", async () => {
    const { header, rest } = await receive(Buffer.concat([rawHeader(0x20, 0x00, Buffer.alloc(0)), Buffer.from("health")]));
    expect(header).toEqual({ kind: "local" });
    expect(rest.toString()).toBe("health");
    const withBlock = await receive(Buffer.concat([rawHeader(0x20, 0x31, Buffer.alloc(20, 7)), Buffer.from("check")]));
    expect(withBlock.header).toEqual({ kind: "local" });
    expect(withBlock.rest.toString()).toBe("check");
  });

  const ipv4Block = Buffer.alloc(12);

  test.each([
    ["a wrong signature", Buffer.concat([Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ipv4Block]), "signature"],
    ["a version 1 text header", Buffer.from("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"), "signature"],
    ["version 1 in the binary form", rawHeader(0x11, 0x11, ipv4Block), "version"],
    ["version 3", rawHeader(0x31, 0x11, ipv4Block), "version"],
    ["an unassigned command", rawHeader(0x22, 0x11, ipv4Block), "command"],
    ["UDP over IPv4", rawHeader(0x21, 0x12, ipv4Block), "family"],
    ["a UNIX stream", rawHeader(0x21, 0x31, Buffer.alloc(216)), "family"],
    ["an unspecified family with PROXY", rawHeader(0x21, 0x00, Buffer.alloc(0)), "family"],
    ["an undefined family", rawHeader(0x21, 0x41, ipv4Block), "family"],
    ["a length over the bound", rawHeader(0x21, 0x11, Buffer.alloc(0), MAX_PROXY_V2_BODY + 1), "length"],
    ["the largest length", rawHeader(0x21, 0x11, Buffer.alloc(0), 0xffff), "length"],
    ["an IPv4 block too short", rawHeader(0x21, 0x11, Buffer.alloc(11)), "length"],
    ["an IPv6 block too short", rawHeader(0x21, 0x21, Buffer.alloc(12)), "length"],
  ])("refuses %s", async (_, bytes, failure) => {
    const error = await refusal(Buffer.concat([bytes, payload]));
    expect(error.failure).toBe(failure);
    expect(error.message).toMatch(/^PROXY protocol v2: /);
  });

  test("refuses a stream that ends inside the fixed part or inside the addresses", async () => {
    const header = encodeProxyV2({ source: { address: "192.0.2.10", port: 1 }, destination: { address: "192.0.2.11", port: 2 } });
    for (const cut of [0, 5, 15, 16, header.length - 1]) {
      const error = await refusal(header.subarray(0, cut));
      expect(error.failure).toBe("truncated");
    }
  });

  test("refuses a header that does not come whole in time", async () => {
    const header = encodeProxyV2({ source: { address: "192.0.2.10", port: 1 }, destination: { address: "192.0.2.11", port: 2 } });
    const error = await refusal(header.subarray(0, 20), { end: false, timeoutMs: 100 });
    expect(error.failure).toBe("timeout");
    expect(error.message).toMatch(/no whole header within 100 ms/);
  });

  test("refuses a stream that fails or was destroyed", async () => {
    const { sender, receiver } = await socketPair();
    const reading = readProxyV2(receiver, TIMEOUT_MS);
    sender.resetAndDestroy();
    await expect(reading).rejects.toMatchObject({ failure: expect.stringMatching(/^(stream|truncated)$/) });
    await expect(readProxyV2(receiver, TIMEOUT_MS)).rejects.toMatchObject({ failure: "truncated" });
  });
});
