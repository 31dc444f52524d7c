// The one-request HTTP/1.1 exchange used for fresh attestation, against raw
// TCP servers that answer well and badly.
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { exchange } from "../src/http1.ts";

let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** A server that answers the first request it gets with `answer` (and, if asked, closes). */
async function answering(answer: string, close = false): Promise<Socket> {
  server = createServer((socket) => {
    sockets.push(socket);
    socket.once("data", () => (close ? socket.end(answer) : socket.write(answer)));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
  sockets.push(socket);
  await new Promise((resolve) => socket.once("connect", resolve));
  return socket;
}

const request = Buffer.from("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");

describe("exchange", () => {
  it("reads a response with a Content-Length and leaves the socket as it found it", async () => {
    const socket = await answering("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\n{}");
    const listeners = () => ["readable", "data", "end", "close", "error"].map((event) => socket.listenerCount(event));
    const before = listeners();
    const response = await exchange(socket, request, 100);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe("{}");
    expect(response.headers.get("x-a")).toBe("1, 2");
    expect(listeners()).toEqual(before);
    expect(socket.readableFlowing).not.toBe(true);
  });

  it.each([
    ["a status line that is not HTTP/1.1", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", /does not start with an HTTP\/1\.1 status line/],
    ["a malformed header", "HTTP/1.1 200 OK\r\nbad header\r\nContent-Length: 0\r\n\r\n", /malformed header line/],
    ["chunked encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", /the 200 response uses Transfer-Encoding/],
    ["no Content-Length", "HTTP/1.1 200 OK\r\n\r\n", /no single, valid Content-Length/],
    ["two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", /no single, valid Content-Length/],
    ["a body over the limit", "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", /the 200 response body is 101 bytes, over the 100 expected/],
    ["bytes after the response", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy", /1 bytes after its response/],
    ["a head without end", `HTTP/1.1 200 OK\r\n${"x-pad: y\r\n".repeat(2000)}`, /head is over 16384 bytes/],
  ])("refuses %s", async (_, answer, message) => {
    const socket = await answering(answer);
    await expect(exchange(socket, request, 100)).rejects.toThrow(message);
  });

  it("refuses a response cut short", async () => {
    const socket = await answering("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true);
    await expect(exchange(socket, request, 100)).rejects.toThrow(/closed the connection before its response was complete/);
  });
});
