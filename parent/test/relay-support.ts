// Test support for the parent's byte pipes: the two sides of simulated vsock,
// a logger whose lines the test can read, a TLS certificate, and small stream helpers.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { Readable } from "node:stream";
import { buildCertificate, createSimulatedTransport, derToPem, encodeName, subjectAltNameExtension, type Transport } from "@strongroom/nitro";
import { pino, type Logger } from "pino";

export const PARENT_CID = 3;
export const ENCLAVE_CID = 16;

export interface SimulatedVsock {
  readonly dir: string;
  /** The parent's side, CID 3. */
  readonly parent: Transport;
  /** The enclave's side, CID 16. */
  readonly enclave: Transport;
  remove(): void;
}

/** Both sides of simulated vsock in a fresh directory short enough for Unix socket paths. */
export function simulatedVsock(): SimulatedVsock {
  const dir = mkdtempSync("/tmp/sr-");
  return {
    dir,
    parent: createSimulatedTransport({ simDir: dir, cid: PARENT_CID }),
    enclave: createSimulatedTransport({ simDir: dir, cid: ENCLAVE_CID }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CapturedLog {
  readonly log: Logger;
  /** Every line written so far, parsed. */
  readonly lines: Record<string, unknown>[];
  /** Everything written so far, as written. */
  text(): string;
}

/** A pino logger at `level` whose output the test reads. */
export function capturedLog(level: pino.Level = "debug"): CapturedLog {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level },
    {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { log, lines, text: () => raw.join("") };
}

export const silentLog = (): Logger => pino({ level: "silent" });

/** A self-signed P-384 certificate for `names`, for a TLS server the test trusts explicitly. */
export function selfSignedTls(names: readonly string[]): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const name = encodeName([["CN", names[0] ?? "test"]]);
  const hour = 3_600_000;
  const der = buildCertificate(
    { serialNumber: Uint8Array.from(randomBytes(8), (byte, index) => (index === 0 ? byte & 0x7f : byte)), issuer: name, subject: name, notBefore: new Date(Date.now() - hour), notAfter: new Date(Date.now() + hour), publicKey, extensions: [subjectAltNameExtension(names)] },
    privateKey,
  );
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert: derToPem(der) };
}

/** Listens on 127.0.0.1 at a port of the system's choosing. */
export async function listenLocal<T extends Server>(server: T): Promise<{ server: T; port: number; close: () => Promise<void> }> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TCP port on 127.0.0.1 where nothing listens (it did a moment ago). */
export async function closedPort(): Promise<number> {
  const { port, close } = await listenLocal(createServer());
  await close();
  return port;
}

/**
 * A TCP port on 127.0.0.1 where connects hang: a child process listens with a
 * backlog of 1 and never accepts (its thread sleeps), and two connections
 * fill the kernel's accept queue, so that further SYNs are dropped. `stop`
 * ends the child.
 */
export async function unansweredPort(): Promise<{ port: number; stop: () => void }> {
  const script = `const server = require("node:net").createServer();
server.listen({ host: "127.0.0.1", port: 0, backlog: 1 }, () => {
  process.stdout.write(server.address().port + "\\n", () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
});`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(child.stdout, "data")) as [Buffer];
  const port = Number(line.toString().trim());
  const fillers = [await connectLocal(port), await connectLocal(port)];
  for (const filler of fillers) filler.on("error", () => {});
  return {
    port,
    stop: () => {
      for (const filler of fillers) filler.destroy();
      child.kill("SIGKILL");
    },
  };
}

/** A half-open TCP connection to 127.0.0.1:port, connected. */
export async function connectLocal(port: number): Promise<Socket> {
  const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  await once(socket, "connect");
  return socket;
}

/** Everything the stream yields until its end, as one buffer. */
export async function readToEnd(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * What a stream yields until its peer is done with it, however that happens
 * (an end, a reset, a close): the bytes, and the error code if it failed.
 */
export function readUntilGone(stream: Readable): Promise<{ data: Buffer; errorCode: string | undefined }> {
  const chunks: Buffer[] = [];
  let errorCode: string | undefined;
  return new Promise((resolve) => {
    const done = () => resolve({ data: Buffer.concat(chunks), errorCode });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (error: NodeJS.ErrnoException) => (errorCode = error.code ?? error.message));
    stream.once("end", done).once("close", done);
  });
}

/** Rejects when `promise` has not settled within `ms`: a bound on waiting, so that a hang fails fast instead of at the test timeout. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Yields to the event loop until `condition` holds (events, not a clock, decide when). */
export async function until(condition: () => boolean, turns = 100_000): Promise<void> {
  for (let turn = 0; turn < turns && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error("condition not reached");
}
