// Shared fixtures for the aTLS tests: simulated enclaves (a temporary
// simulator directory and application directories, so that two images have
// different PCRs), aTLS servers on loopback, impostor servers that record
// whether any application byte reached them, and HTTP over one socket.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import { Client } from "undici";
import { NsmClient, readCertificate, SimulatedNsm, type PcrSet, type SimulatedNsmOptions } from "@strongroom/nitro";
import { ATTESTATION_PATH, createAtlsServer, handleAttestationRequest, type AtlsServer, type AtlsServerOptions, type AtlsVerifyOptions } from "../src/index.ts";
import { privateKeyPem } from "../src/private-key-pem.ts";

export interface World {
  readonly dir: string;
  readonly simDir: string;
  readonly appDir: string;
  /** Another enclave program: its PCR0 and PCR2 differ from appDir's. */
  readonly otherAppDir: string;
  /** A second simulator, with its own root CA. */
  readonly otherSimDir: string;
  cleanup(): void;
}

export function createWorld(): World {
  const dir = mkdtempSync(join(tmpdir(), "atls-test-"));
  const app = (name: string, content: string) => {
    const path = join(dir, name);
    mkdirSync(path);
    writeFileSync(join(path, "main.js"), content);
    return path;
  };
  return {
    dir,
    simDir: join(dir, "sim"),
    otherSimDir: join(dir, "other-sim"),
    appDir: app("app", "the genuine signer\n"),
    otherAppDir: app("other-app", "some other program\n"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Enclave {
  readonly device: SimulatedNsm;
  readonly nsm: NsmClient;
  /** The simulator's root, DER: what a client is given as `root`. */
  readonly root: Uint8Array;
  /** PCR0, 1 and 2 of the image: a one-set manifest that accepts it. */
  readonly manifest: PcrSet;
}

export async function bootEnclave(options: Pick<SimulatedNsmOptions, "simDir" | "applicationDir" | "debug" | "now">): Promise<Enclave> {
  const device = await SimulatedNsm.create(options);
  const nsm = new NsmClient(device);
  const manifest = new Map<number, Uint8Array>();
  // The PCRs as the enclave reports them (debug mode reads them as zero).
  for (const index of [0, 1, 2]) manifest.set(index, (await nsm.describePcr(index)).value);
  return { device, nsm, root: device.rootCertificate, manifest };
}

/** A world with the genuine enclave booted, and the verify options that accept exactly it: the usual start of a test file. */
export async function genuineSetup(): Promise<{ world: World; enclave: Enclave; options: AtlsVerifyOptions }> {
  const world = createWorld();
  const enclave = await bootEnclave({ simDir: world.simDir, applicationDir: world.appDir });
  return { world, enclave, options: { pcrPolicy: { kind: "manifest", sets: [enclave.manifest] }, root: enclave.root } };
}

/** GET answers "hello <path>"; POST ATTESTATION_PATH answers a fresh attestation. */
export function helloListener(nsm: NsmClient): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.url === ATTESTATION_PATH) return void handleAttestationRequest(nsm, req, res);
    const body = `hello ${req.url}`;
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
}

export interface RecordedServer {
  readonly port: number;
  /** TLS handshakes completed. */
  readonly handshakes: () => number;
  /** Bytes of application data received after any handshake. */
  readonly applicationBytes: () => number;
  /** Resolves when every connection accepted so far is over (closed, or failed in its handshake): nothing more can arrive. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Listens on loopback and records, for each TCP connection, whether it
 * completed a handshake and every application byte received after it.
 */
export async function recordAndListen(server: TlsServer): Promise<RecordedServer> {
  let handshakes = 0;
  let bytes = 0;
  let accepted = 0;
  let over = 0;
  const waiting = new Set<() => void>();
  const ended = () => {
    over++;
    for (const wake of waiting) wake();
  };
  server.on("connection", () => void accepted++);
  server.on("secureConnection", (socket: TLSSocket) => {
    handshakes++;
    socket.on("data", (chunk: Buffer) => void (bytes += chunk.length));
    socket.once("close", ended);
  });
  // Node reports exactly one of secureConnection and tlsClientError for each connection.
  server.on("tlsClientError", ended);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    handshakes: () => handshakes,
    applicationBytes: () => bytes,
    idle: () =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (over < accepted) return;
          waiting.delete(check);
          resolve();
        };
        waiting.add(check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        (server as TlsServer & { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** A TLS 1.3 server that presents this key and certificate, answers nothing, and records what reaches it. */
export function startImpostor(key: KeyObject, certPem: string, options: { tls12Only?: boolean } = {}): Promise<RecordedServer> {
  const pem = privateKeyPem(key);
  const versions = options.tls12Only === true ? ({ minVersion: "TLSv1.2", maxVersion: "TLSv1.2" } as const) : ({ minVersion: "TLSv1.3" } as const);
  const server = createTlsServer({ key: pem, cert: certPem, ...versions }, (socket) => socket.on("error", () => {}));
  pem.fill(0);
  return recordAndListen(server);
}

export interface RunningAtlsServer extends AtlsServer, RecordedServer {}

export async function startAtlsServer(options: Omit<AtlsServerOptions, "subjectAltNames"> & { subjectAltNames?: readonly string[] }): Promise<RunningAtlsServer> {
  const atls = await createAtlsServer({ subjectAltNames: ["localhost", "127.0.0.1"], ...options });
  const recorded = await recordAndListen(atls.server);
  return {
    ...atls,
    ...recorded,
    close: async () => {
      atls.stop();
      await recorded.close();
    },
  };
}

/** An undici Client that sends its requests over this one socket (keep-alive on it; no second connection). */
export function clientOn(socket: TLSSocket): Client {
  let used = false;
  return new Client("https://atls.test", {
    // undici wants its connector to answer asynchronously, as a real connection does.
    connect(_options, callback) {
      const once = !used;
      used = true;
      process.nextTick(() => (once ? callback(null, socket) : callback(new Error("this test client has only its one socket"), null)));
    },
  });
}

export async function get(client: Client, path: string): Promise<{ status: number; body: string }> {
  const response = await client.request({ method: "GET", path });
  return { status: response.statusCode, body: await response.body.text() };
}

/** The DER SubjectPublicKeyInfo inside a certificate, hex: which key a server presented. */
export function spkiOf(certificate: Uint8Array): string {
  return Buffer.from(readCertificate(certificate).spki).toString("hex");
}

export function newKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "P-384" });
}
