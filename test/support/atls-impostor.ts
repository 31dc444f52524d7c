// Servers that an aTLS client must refuse, built from the atls and nitro
// building blocks: each presents a chosen key and certificate over TLS 1.3
// and records every byte of application data it receives after the
// handshake, so that a test can show the client sent nothing at all.
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { mkdtempSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:tls";
import { ATLS_USER_DATA_PREFIX, ATTESTATION_EXTENSION_OID, AtlsIdentity, buildAtlsCertificate } from "@strongroom/atls";
import { basicConstraintsExtension, buildCertificate, derToPem, encodeName, loadOrCreateSimulatedCa, NsmClient, readCertificate, SimulatedNsm, simulatedMeasurements, type ApplicationFile, type ImageSections } from "@strongroom/nitro";

/** A key and certificate a TLS server can present. */
export interface Credentials {
  /** PEM. */
  readonly key: string | Buffer;
  readonly cert: string;
}

const pem = (key: KeyObject) => key.export({ type: "pkcs8", format: "pem" }) as string;

export interface RecordingServer {
  readonly port: number;
  /** TCP connections accepted. */
  connections(): number;
  /** Bytes of application data received after any handshake. */
  receivedBytes(): number;
  /** Resolves once every connection it accepted has closed: nothing more can arrive on them. */
  drained(): Promise<void>;
  close(): Promise<void>;
}

/** A TLS 1.3 server presenting `credentials` that answers nothing and records what it is sent. */
export async function startRecordingServer(credentials: Credentials): Promise<RecordingServer> {
  let received = 0;
  const open: Promise<void>[] = [];
  const server = createServer({ key: credentials.key, cert: credentials.cert, minVersion: "TLSv1.3" }, (socket) => {
    socket.on("data", (chunk: Buffer) => (received += chunk.length));
    socket.on("error", () => {});
  });
  server.on("connection", (socket: Socket) => open.push(new Promise((resolve) => socket.once("close", () => resolve()))));
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => open.length,
    receivedBytes: () => received,
    drained: async () => void (await Promise.all(open)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const HOUR = 3_600_000;

/** The image a test calls genuine, and another: the simulator measures these files as the application. */
export const GENUINE_IMAGE: readonly ApplicationFile[] = [{ path: "app/signer.js", content: new TextEncoder().encode("the genuine signer\n") }];
export const OTHER_IMAGE: readonly ApplicationFile[] = [{ path: "app/signer.js", content: new TextEncoder().encode("a different program\n") }];

/**
 * A simulator directory whose root was made a day ago, so that an NSM with a
 * clock hours in the past can still issue under it (an expired document, not
 * a document under another root).
 */
export function simulatorDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-atls-sim-"));
  loadOrCreateSimulatedCa(dir, { now: () => new Date(Date.now() - 24 * HOUR) });
  return dir;
}

export interface NsmSettings {
  readonly simDir: string;
  /** The application the simulated image is made around, or a whole image (an EIF's sections). */
  readonly image?: readonly ApplicationFile[] | ImageSections;
  readonly debug?: boolean;
  /** The NSM's clock (document timestamps and the chain's validity). */
  readonly now?: () => Date;
}

export async function simulatedNsm({ simDir, image = GENUINE_IMAGE, debug = false, now }: NsmSettings): Promise<NsmClient> {
  const boots = Array.isArray(image) ? { applicationFiles: image as readonly ApplicationFile[] } : { image: image as ImageSections };
  return new NsmClient(await SimulatedNsm.create({ simDir, ...boots, debug, ...(now && { now }) }));
}

/** The PCR manifest (JSON text) that accepts exactly this image. */
export async function manifestFor(image: readonly ApplicationFile[]): Promise<string> {
  const { pcr0, pcr1, pcr2 } = await simulatedMeasurements({ applicationFiles: image });
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
  return JSON.stringify({ PCR0: hex(pcr0), PCR1: hex(pcr1), PCR2: hex(pcr2) });
}

/** An aTLS identity as a genuine server makes it, from an NSM of these settings. */
export async function attestedCredentials(settings: NsmSettings): Promise<Credentials & { certificate: Uint8Array }> {
  const identity = await AtlsIdentity.create({ nsm: await simulatedNsm(settings), subjectAltNames: ["localhost"] });
  return { ...identity.secureContextOptions(), certificate: identity.certificate };
}

/** An ordinary self-signed P-384 certificate: a TLS server that is no enclave at all. */
export function selfSignedCredentials(): Credentials {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const name = encodeName([["CN", "localhost"]]);
  const now = Date.now();
  const der = buildCertificate(
    { serialNumber: randomBytes(16), issuer: name, subject: name, notBefore: new Date(now - HOUR), notAfter: new Date(now + HOUR), publicKey, extensions: [basicConstraintsExtension(false)] },
    privateKey,
  );
  return { key: pem(privateKey), cert: derToPem(der) };
}

/** A certificate for a new key of the impostor's that carries `document`, which it did not make for that key. */
export function credentialsCarrying(document: Uint8Array): Credentials {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const now = Date.now();
  const der = buildAtlsCertificate({ publicKey, privateKey, document, notBefore: new Date(now - HOUR), notAfter: new Date(now + HOUR) });
  return { key: pem(privateKey), cert: derToPem(der) };
}

/** The attestation document inside an aTLS certificate. */
export function documentOf(certificate: Uint8Array): Uint8Array {
  const extension = readCertificate(certificate).extensions.find(({ oid }) => oid === ATTESTATION_EXTENSION_OID);
  if (extension === undefined) throw new Error("not an aTLS certificate");
  return extension.value;
}

/** A genuine document, from an NSM of these settings, whose user_data binds some other key than the one it will be served with. */
export async function documentBindingAnotherKey(settings: NsmSettings): Promise<Uint8Array> {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const userData = Buffer.concat([Buffer.from(ATLS_USER_DATA_PREFIX, "latin1"), createHash("sha384").update(spki).digest()]);
  return (await simulatedNsm(settings)).attestation({ userData: new Uint8Array(userData) });
}
