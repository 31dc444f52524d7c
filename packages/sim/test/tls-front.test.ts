// The TLS front: a real pg client through the postgres front to PGlite served
// over the wire protocol, clients the front must refuse before any byte
// reaches the database, the negotiation at the byte level, and raw mode.
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { connect as connectTcp, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as connectTls, type TLSSocket } from "node:tls";
import pg from "pg";
import { servePglite, type PgliteServer } from "@strongroom/slashing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadOrCreateServiceCa, startTlsFront, type ServiceCa, type TlsFront } from "../src/index.ts";

const NAME = "postgres.sim.strongroom.internal";
const newCa = () => loadOrCreateServiceCa(mkdtempSync(join(tmpdir(), "strongroom-service-ca-")));

/** A TCP server that relays every connection to `target` and counts them: what reached the backend. */
async function countingRelay(target: { host: string; port: number }): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    const upstream = connectTcp(target);
    socket.pipe(upstream).pipe(socket);
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** Reads exactly `count` bytes, or fewer if the peer closes first. */
async function readBytes(socket: Socket, count: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < count) {
    const chunk = socket.read(Math.min(count - length, socket.readableLength || 1)) as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      length += chunk.length;
      continue;
    }
    if (socket.readableEnded || socket.destroyed) break;
    await Promise.race([once(socket, "readable"), once(socket, "close")]);
  }
  return Buffer.concat(chunks);
}

/** Everything the peer sends until it closes. */
async function readToClose(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  await once(socket, "close");
  return Buffer.concat(chunks);
}

const request = (code: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32BE(8, 0);
  bytes.writeUInt32BE(code, 4);
  return bytes;
};
const SSL_REQUEST = request(80877103);
const GSSENC_REQUEST = request(80877104);

/** The M (message) and C (SQLSTATE) fields of an ErrorResponse. */
function errorFields(message: Buffer): { code?: string; message?: string } {
  expect(message.subarray(0, 1).toString("latin1")).toBe("E");
  expect(message.readUInt32BE(1)).toBe(message.length - 1);
  const fields = new Map(
    message
      .subarray(5, -2)
      .toString("utf8")
      .split("\0")
      .map((field) => [field[0], field.slice(1)] as const),
  );
  return { code: fields.get("C"), message: fields.get("M") };
}

async function openTcp(port: number): Promise<Socket> {
  const socket = connectTcp({ host: "127.0.0.1", port });
  await once(socket, "connect");
  return socket;
}

async function tlsOver(socket: Socket, ca: ServiceCa, servername = NAME): Promise<TLSSocket> {
  const tls = connectTls({ socket, servername, ca: ca.certificatePem });
  await once(tls, "secureConnect");
  return tls;
}

describe("the postgres front before PGlite", () => {
  let ca: ServiceCa;
  let database: PgliteServer;
  let relay: Awaited<ReturnType<typeof countingRelay>>;
  let front: TlsFront;

  beforeAll(async () => {
    ca = newCa();
    database = await servePglite("memory");
    const url = new URL(database.url);
    relay = await countingRelay({ host: url.hostname, port: Number(url.port) });
    front = await startTlsFront({ ca, names: [NAME], backend: { host: "127.0.0.1", port: relay.port }, protocol: "postgres" });
  });
  afterAll(async () => {
    await front?.close();
    if (relay !== undefined) await closeServer(relay.server);
    await database?.close();
  });

  const client = (ssl: pg.ClientConfig["ssl"]) => new pg.Client({ host: "127.0.0.1", port: front.port, user: "postgres", database: "postgres", ssl, connectionTimeoutMillis: 10_000 });

  test("a client that verifies the service CA and the real name runs queries", async () => {
    const before = relay.connections();
    const verified = client({ ca: [ca.certificatePem], servername: NAME, rejectUnauthorized: true });
    await verified.connect();
    try {
      await verified.query("CREATE TABLE IF NOT EXISTS through_the_front (n integer)");
      await verified.query("INSERT INTO through_the_front VALUES ($1), ($2)", [20, 22]);
      const { rows } = await verified.query<{ total: number }>("SELECT sum(n)::integer AS total FROM through_the_front");
      expect(rows).toEqual([{ total: 42 }]);
    } finally {
      await verified.end();
    }
    expect(relay.connections()).toBe(before + 1);
  });

  test("a plaintext client gets PostgreSQL's ErrorResponse and never reaches the database", async () => {
    const before = relay.connections();
    await expect(client(false).connect()).rejects.toThrow("this server requires TLS (sslmode=verify-full)");
    expect(relay.connections()).toBe(before);
  });

  test("a client that trusts another CA fails verification and never reaches the database", async () => {
    const before = relay.connections();
    const other = newCa();
    await expect(client({ ca: [other.certificatePem], servername: NAME, rejectUnauthorized: true }).connect()).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    expect(relay.connections()).toBe(before);
  });

  test("a client that expects another server name fails verification and never reaches the database", async () => {
    const before = relay.connections();
    await expect(client({ ca: [ca.certificatePem], servername: "mysql.sim.strongroom.internal", rejectUnauthorized: true }).connect()).rejects.toMatchObject({ code: "ERR_TLS_CERT_ALTNAME_INVALID" });
    expect(relay.connections()).toBe(before);
  });
});

describe("the postgres negotiation, byte by byte", () => {
  let ca: ServiceCa;
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let front: TlsFront;

  beforeAll(async () => {
    ca = newCa();
    echo = await echoServer();
    front = await startTlsFront({ ca, names: [NAME], backend: { host: "127.0.0.1", port: echo.port }, protocol: "postgres" });
  });
  afterAll(async () => {
    await front?.close();
    if (echo !== undefined) await closeServer(echo.server);
  });

  test("SSLRequest is answered S and TLS follows on the same connection, whatever the chunking", async () => {
    const socket = await openTcp(front.port);
    socket.write(SSL_REQUEST.subarray(0, 3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.write(SSL_REQUEST.subarray(3));
    expect((await readBytes(socket, 1)).toString("latin1")).toBe("S");
    const tls = await tlsOver(socket, ca);
    expect(tls.authorized).toBe(true);
    tls.write("ping");
    expect((await readBytes(tls, 4)).toString("latin1")).toBe("ping");
    tls.destroy();
  });

  test("GSSENCRequest is answered N, and the client may then ask for TLS", async () => {
    const socket = await openTcp(front.port);
    socket.write(GSSENC_REQUEST);
    expect((await readBytes(socket, 1)).toString("latin1")).toBe("N");
    socket.write(SSL_REQUEST);
    expect((await readBytes(socket, 1)).toString("latin1")).toBe("S");
    const tls = await tlsOver(socket, ca);
    tls.write("pong");
    expect((await readBytes(tls, 4)).toString("latin1")).toBe("pong");
    tls.destroy();
  });

  test("a second GSSENCRequest is refused like plaintext", async () => {
    const socket = await openTcp(front.port);
    socket.write(GSSENC_REQUEST);
    expect((await readBytes(socket, 1)).toString("latin1")).toBe("N");
    const reply = readToClose(socket);
    socket.write(GSSENC_REQUEST);
    expect(errorFields(await reply)).toEqual({ code: "28000", message: "this server requires TLS (sslmode=verify-full)" });
  });

  test("bytes sent after the SSLRequest, before the answer, are refused as a protocol violation", async () => {
    const socket = await openTcp(front.port);
    const reply = readToClose(socket);
    // A StartupMessage-like tail an attacker could hope to have read as if it had come through TLS.
    socket.write(Buffer.concat([SSL_REQUEST, Buffer.from("\0\0\0\x08\0\x03\0\0", "latin1")]));
    const bytes = await reply;
    expect(bytes[0]).not.toBe("S".charCodeAt(0));
    expect(errorFields(bytes)).toEqual({ code: "08P01", message: "received unencrypted data after the SSLRequest" });
  });

  test("a start that is no request at all gets the ErrorResponse, however long", async () => {
    const socket = await openTcp(front.port);
    const reply = readToClose(socket);
    const startup = Buffer.alloc(64 * 1024, 0x41);
    startup.writeUInt32BE(startup.length, 0);
    socket.write(startup, () => undefined);
    socket.on("error", () => undefined);
    expect(errorFields(await reply).code).toBe("28000");
  });

  test("a client that says too little and leaves is let go", async () => {
    const socket = await openTcp(front.port);
    socket.end(Buffer.from([0, 0]));
    expect((await readToClose(socket)).length).toBe(0);
    // The front still serves.
    const next = await openTcp(front.port);
    next.write(SSL_REQUEST);
    expect((await readBytes(next, 1)).toString("latin1")).toBe("S");
    next.destroy();
  });
});

describe("the raw front", () => {
  let ca: ServiceCa;
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let front: TlsFront;
  const names = ["kms.us-east-1.sim.strongroom.internal", "127.0.0.1"];

  beforeAll(async () => {
    ca = newCa();
    echo = await echoServer();
    front = await startTlsFront({ ca, names, backend: { host: "127.0.0.1", port: echo.port }, protocol: "raw" });
  });
  afterAll(async () => {
    await front?.close();
    if (echo !== undefined) await closeServer(echo.server);
  });

  test("speaks TLS 1.2 or later from the first byte, with a certificate for its DNS names and IP addresses", async () => {
    for (const servername of [names[0]!, undefined]) {
      // Without SNI (an IP address), the certificate is checked against the IP the client connected to.
      const tls = connectTls({ host: "127.0.0.1", port: front.port, servername, ca: ca.certificatePem });
      await once(tls, "secureConnect");
      expect(tls.authorized).toBe(true);
      expect(["TLSv1.2", "TLSv1.3"]).toContain(tls.getProtocol());
      tls.write("hello");
      expect((await readBytes(tls, 5)).toString("latin1")).toBe("hello");
      tls.destroy();
    }
  });

  test("a client expecting a name the certificate lacks refuses it", async () => {
    const tls = connectTls({ host: "127.0.0.1", port: front.port, servername: "dynamodb.us-east-1.sim.strongroom.internal", ca: ca.certificatePem });
    const [error] = (await once(tls, "error")) as [NodeJS.ErrnoException];
    expect(error.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  test("a client whose backend is down is disconnected after the handshake, and the front keeps serving", async () => {
    const gone = await echoServer();
    await closeServer(gone.server);
    const orphan = await startTlsFront({ ca, names, backend: { host: "127.0.0.1", port: gone.port }, protocol: "raw" });
    try {
      const tls = connectTls({ host: "127.0.0.1", port: orphan.port, servername: names[0], ca: ca.certificatePem });
      tls.on("error", () => undefined);
      await once(tls, "secureConnect");
      await once(tls, "close");
      const again = connectTls({ host: "127.0.0.1", port: orphan.port, servername: names[0], ca: ca.certificatePem });
      again.on("error", () => undefined);
      await once(again, "secureConnect");
      again.destroy();
    } finally {
      await orphan.close();
    }
  });

  test("close() destroys open connections", async () => {
    const other = await startTlsFront({ ca, names, backend: { host: "127.0.0.1", port: echo.port }, protocol: "raw" });
    const tls = connectTls({ host: "127.0.0.1", port: other.port, servername: names[0], ca: ca.certificatePem });
    await once(tls, "secureConnect");
    tls.write("x");
    expect((await readBytes(tls, 1)).toString("latin1")).toBe("x");
    tls.on("error", () => undefined);
    const closed = once(tls, "close");
    await other.close();
    await closed;
    await expect(openTcp(other.port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });
});
