// connectAtls over real TLS on loopback against simulated enclaves: the
// genuine server is accepted under a manifest and under trust on first use;
// every impostor is refused before a single application byte reaches it.
import { statSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createSecureContext, createServer as createTlsServer } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { basicConstraintsExtension, buildCertificate, derToPem, encodeName } from "@strongroom/nitro";
import { AtlsIdentity, AtlsVerificationError, buildAtlsCertificate, connectAtls, readAtlsCertificate, resetPins, type AtlsVerifyOptions, type VerifiedPeer } from "../src/index.ts";
import { privateKeyPem } from "../src/private-key-pem.ts";
import { bootEnclave, clientOn, createWorld, get, helloListener, newKey, spkiOf, startAtlsServer, startImpostor, type Enclave, type RunningAtlsServer, type RecordedServer, type World } from "./support.ts";

const HOUR = 3600_000;
let world: World;
let genuine: Enclave;
const servers: RecordedServer[] = [];

beforeAll(async () => {
  world = createWorld();
  genuine = await bootEnclave({ simDir: world.simDir, applicationDir: world.appDir });
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(() => world.cleanup());

async function serve(enclave: Enclave): Promise<RunningAtlsServer> {
  const server = await startAtlsServer({ nsm: enclave.nsm, requestListener: helloListener(enclave.nsm) });
  servers.push(server);
  return server;
}

async function impostor(...args: Parameters<typeof startImpostor>): Promise<RecordedServer> {
  const server = await startImpostor(...args);
  servers.push(server);
  return server;
}

const manifest = (extra: Partial<AtlsVerifyOptions> = {}): AtlsVerifyOptions => ({ pcrPolicy: { kind: "manifest", sets: [genuine.manifest] }, root: genuine.root, ...extra });

/** Connects, expects a refusal for `reason`, and shows that the server received no application byte. */
async function expectRefused(server: RecordedServer, options: AtlsVerifyOptions, reason: string): Promise<AtlsVerificationError> {
  const before = server.applicationBytes();
  const error = await connectAtls({ host: "127.0.0.1", port: server.port, ...options }).then(
    () => {
      throw new Error("the impostor was accepted");
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AtlsVerificationError);
  expect((error as AtlsVerificationError).reason).toBe(reason);
  await server.idle();
  expect(server.applicationBytes()).toBe(before);
  return error as AtlsVerificationError;
}

async function connectAndGet(port: number, options: AtlsVerifyOptions): Promise<VerifiedPeer> {
  const { socket, peer } = await connectAtls({ host: "127.0.0.1", port, ...options });
  const client = clientOn(socket);
  try {
    expect(await get(client, "/upcheck")).toEqual({ status: 200, body: "hello /upcheck" });
  } finally {
    await client.destroy();
  }
  return peer;
}

describe("the genuine enclave", () => {
  it("is accepted under a manifest, and an HTTP request over the verified socket is answered (and recorded, as an impostor would record one)", async () => {
    const server = await serve(genuine);
    const peer = await connectAndGet(server.port, manifest());
    await server.idle();
    expect(server.handshakes()).toBe(1);
    expect(server.applicationBytes()).toBeGreaterThan(0);
    expect(peer.moduleId).toBe(genuine.device.moduleId);
    expect(peer.debug).toBe(false);
    expect(peer.pinned).toBeUndefined();
    expect(spkiOf(peer.certificate)).toBe(spkiOf(server.identity.certificate));
  });

  it("is accepted when any set of a manifest of several matches (a rolling upgrade)", async () => {
    const other = await bootEnclave({ simDir: world.simDir, applicationDir: world.otherAppDir });
    const server = await serve(genuine);
    await connectAndGet(server.port, manifest({ pcrPolicy: { kind: "manifest", sets: [other.manifest, genuine.manifest] } }));
  });

  it("by name, with SNI", async () => {
    const server = await serve(genuine);
    const { socket } = await connectAtls({ host: "localhost", port: server.port, ...manifest() });
    expect(socket.servername).toBe("localhost");
    socket.destroy();
  });
});

describe("trust on first use", () => {
  it("records PCR0, 1, 2 and 8 on the first connection (0600, atomically), matches them after, refuses another image until reset", async () => {
    const pinDir = join(world.dir, "tofu");
    const pinFile = join(pinDir, "pins.json");
    const tofu: AtlsVerifyOptions = { pcrPolicy: { kind: "tofu", pinFile }, root: genuine.root };
    const server = await serve(genuine);

    expect((await connectAndGet(server.port, tofu)).pinned).toBe("recorded");
    expect(statSync(pinFile).mode & 0o777).toBe(0o600);
    expect(readdirSync(pinDir)).toEqual(["pins.json"]);
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
    const m = genuine.device.measurements;
    expect(JSON.parse(readFileSync(pinFile, "utf8"))).toEqual({ PCR0: hex(m.pcr0), PCR1: hex(m.pcr1), PCR2: hex(m.pcr2), PCR8: hex(m.pcr8) });

    expect((await connectAndGet(server.port, tofu)).pinned).toBe("matched");

    const upgraded = await serve(await bootEnclave({ simDir: world.simDir, applicationDir: world.otherAppDir }));
    const error = await expectRefused(upgraded, tofu, "pin-mismatch");
    expect(error.message).toMatch(/the enclave's PCR0, PCR2 differ from the values pinned in .*pins\.json/);
    expect(error.message).toContain("strongroom gateway pin --reset");

    resetPins(pinFile);
    expect((await connectAndGet(upgraded.port, tofu)).pinned).toBe("recorded");
    await expectRefused(server, tofu, "pin-mismatch");
  });

  it("pins once when several first connections race", async () => {
    const pinFile = join(world.dir, "race", "pins.json");
    const server = await serve(genuine);
    const peers = await Promise.all(Array.from({ length: 6 }, () => connectAtls({ host: "127.0.0.1", port: server.port, pcrPolicy: { kind: "tofu", pinFile }, root: genuine.root })));
    for (const { socket } of peers) socket.destroy();
    expect(peers.map(({ peer }) => peer.pinned).sort()).toEqual(["matched", "matched", "matched", "matched", "matched", "recorded"]);
  });
});

describe("impostors are refused before any application byte", () => {
  it("a plain self-signed certificate (no attestation extension)", async () => {
    const { privateKey, publicKey } = newKey();
    const name = encodeName([["CN", "localhost"]]);
    const der = buildCertificate(
      { serialNumber: Uint8Array.of(1), issuer: name, subject: name, notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + HOUR), publicKey, extensions: [basicConstraintsExtension(false)] },
      privateKey,
    );
    const error = await expectRefused(await impostor(privateKey, derToPem(der)), manifest(), "no-attestation");
    expect(error.message).toMatch(/carries no attestation document/);
  });

  it("a genuine enclave of another image, under the manifest", async () => {
    const other = await bootEnclave({ simDir: world.simDir, applicationDir: world.otherAppDir });
    const error = await expectRefused(await serve(other), manifest(), "pcr-mismatch");
    expect(error.message).toMatch(/PCR0 is [0-9a-f]+, expected [0-9a-f]+/);
    expect(error.message).toMatch(/add the new image's PCRs to the manifest/);
  });

  it("a genuine document replayed in the impostor's own certificate", async () => {
    const identity = await AtlsIdentity.create({ nsm: genuine.nsm, subjectAltNames: ["localhost"] });
    const { document } = readAtlsCertificate(identity.certificate);
    const { privateKey, publicKey } = newKey();
    const der = buildAtlsCertificate({ publicKey, privateKey, document, notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + HOUR) });
    const error = await expectRefused(await impostor(privateKey, derToPem(der)), manifest(), "key-binding");
    expect(error.message).toMatch(/vouches for another key than the certificate's/);
  });

  it("the genuine certificate without its key: TLS cannot even be set up, and a TLS 1.2 server is refused in the handshake", async () => {
    const identity = await AtlsIdentity.create({ nsm: genuine.nsm, subjectAltNames: ["localhost"] });
    const cert = derToPem(identity.certificate);
    const key = privateKeyPem(newKey().privateKey);
    // OpenSSL checks that the key is the certificate's before it will present the certificate.
    expect(() => createSecureContext({ key, cert })).toThrow(/key values mismatch/);
    expect(() => createTlsServer({ key, cert })).toThrow(/key values mismatch/);
    // In TLS 1.3 the server must sign the handshake with the certificate's key (CertificateVerify); aTLS speaks nothing older.
    const { privateKey, publicKey } = newKey();
    const name = encodeName([["CN", "localhost"]]);
    const der = buildCertificate({ serialNumber: Uint8Array.of(2), issuer: name, subject: name, notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + HOUR), publicKey, extensions: [] }, privateKey);
    const old = await impostor(privateKey, derToPem(der), { tls12Only: true });
    await expect(connectAtls({ host: "127.0.0.1", port: old.port, ...manifest() })).rejects.toThrow(/protocol version|unsupported protocol/i);
    await old.idle();
    expect([old.handshakes(), old.applicationBytes()]).toEqual([0, 0]);
  });

  it("an expired document (the client's clock hours later), and one too old for maxAgeMs", async () => {
    const server = await serve(genuine);
    const later = new Date(Date.now() + 5 * HOUR);
    const expired = await expectRefused(server, manifest({ now: () => later }), "expired");
    expect(expired.message).toMatch(/check this machine's clock/);
    const soon = new Date(Date.now() + 60_000);
    await expectRefused(server, manifest({ now: () => soon, maxAgeMs: 30_000 }), "too-old");
  });

  it("a document under another root (another simulator's CA)", async () => {
    const stranger = await bootEnclave({ simDir: world.otherSimDir, applicationDir: world.appDir });
    const error = await expectRefused(await serve(stranger), manifest(), "untrusted-root");
    expect(error.message).toMatch(/give its attestation-root\.pem as the root/);
  });

  it("a debug-mode enclave, unless debug is allowed", async () => {
    const debug = await bootEnclave({ simDir: world.simDir, applicationDir: world.appDir, debug: true });
    const server = await serve(debug);
    const debugManifest: AtlsVerifyOptions = { pcrPolicy: { kind: "manifest", sets: [debug.manifest] }, root: debug.root };
    await expectRefused(server, debugManifest, "debug-enclave");
    const peer = await connectAndGet(server.port, { ...debugManifest, allowDebug: true });
    expect(peer.debug).toBe(true);
  });

  it("anything listening under the AWS root by default (a simulator's document is not trusted unless its root is given)", async () => {
    const server = await serve(genuine);
    await expectRefused(server, { pcrPolicy: { kind: "manifest", sets: [genuine.manifest] } }, "untrusted-root");
  });
});

describe("connection failures", () => {
  it("are the socket's own errors, not verification errors", async () => {
    const server = await serve(genuine);
    const port = server.port;
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await expect(connectAtls({ host: "127.0.0.1", port, ...manifest() })).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("check the target first", async () => {
    await expect(connectAtls({ host: "127.0.0.1", port: 0, ...manifest() })).rejects.toThrow(/port must be an integer from 1 to 65535/);
    await expect(connectAtls({ host: "", port: 1, ...manifest() })).rejects.toThrow(/host/);
  });
});
