// Fresh, channel-bound attestation over real aTLS connections: the genuine
// exchange, and servers that answer with a document that is genuine but not
// fresh for this session (cached, relayed from another session, for another
// nonce, from another enclave); then the route's answers to bad requests.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { request } from "undici";
import { NsmClient } from "@strongroom/nitro";
import { ATTESTATION_PATH, AtlsVerificationError, connectAtls, createAtlsDispatcher, freshAttestation, type AtlsVerifyOptions } from "../src/index.ts";
import { bootEnclave, clientOn, genuineSetup, get, helloListener, startAtlsServer, type Enclave, type RunningAtlsServer, type World } from "./support.ts";

let world: World;
let enclave: Enclave;
let options: AtlsVerifyOptions;
const servers: RunningAtlsServer[] = [];

beforeAll(async () => ({ world, enclave, options } = await genuineSetup()));
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(() => world.cleanup());

async function serve(requestListener: (req: IncomingMessage, res: ServerResponse) => void, nsm = enclave.nsm): Promise<RunningAtlsServer> {
  const server = await startAtlsServer({ nsm, requestListener });
  servers.push(server);
  return server;
}

/** The nonce a client sent to the attestation route. */
async function nonceOf(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const { nonce } = JSON.parse(Buffer.concat(chunks).toString()) as { nonce: string };
  return new Uint8Array(Buffer.from(nonce.slice(2), "hex"));
}

function sendDocument(res: ServerResponse, document: Uint8Array): void {
  const body = JSON.stringify({ document: Buffer.from(document).toString("base64") });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** A server whose attestation route is `answer`; other paths say hello. */
function cheating(answer: (req: IncomingMessage, res: ServerResponse) => Promise<void>): (req: IncomingMessage, res: ServerResponse) => void {
  const hello = helloListener(enclave.nsm);
  return (req, res) => void (req.url === ATTESTATION_PATH ? answer(req, res) : hello(req, res));
}

async function refusal(port: number): Promise<AtlsVerificationError> {
  const error: unknown = await connectAtls({ host: "127.0.0.1", port, fresh: true, ...options }).then(
    () => new Error("accepted"),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AtlsVerificationError);
  return error as AtlsVerificationError;
}

describe("fresh attestation", () => {
  it("succeeds against the genuine server, and the socket then carries the client's own HTTP", async () => {
    let asked = 0;
    const hello = helloListener(enclave.nsm);
    const server = await serve((req, res) => {
      if (req.url === ATTESTATION_PATH) asked++;
      hello(req, res);
    });
    const { socket, peer } = await connectAtls({ host: "127.0.0.1", port: server.port, fresh: true, ...options });
    expect(asked).toBe(1);
    expect(peer.moduleId).toBe(enclave.device.moduleId);
    const client = clientOn(socket);
    expect(await get(client, "/after-fresh")).toEqual({ status: 200, body: "hello /after-fresh" });
    expect(await get(client, "/again")).toEqual({ status: 200, body: "hello /again" });
    await client.close();
  });

  it("refuses a document cached from an earlier session", async () => {
    let cached: Uint8Array | undefined;
    const server = await serve(
      cheating(async (req, res) => {
        const nonce = await nonceOf(req);
        cached ??= await freshAttestation(enclave.nsm, req.socket as TLSSocket, nonce);
        sendDocument(res, cached);
      }),
    );
    (await connectAtls({ host: "127.0.0.1", port: server.port, fresh: true, ...options })).socket.destroy();
    const error = await refusal(server.port);
    expect(error.reason).toBe("nonce-mismatch");
    expect(error.message).toMatch(/a replayed document/);
  });

  it("refuses a document made for this nonce on another session (a relay in the middle)", async () => {
    let held: TLSSocket | undefined;
    const hello = helloListener(enclave.nsm);
    const server = await serve((req, res) => {
      if (req.url === "/hold") held = req.socket as TLSSocket;
      if (req.url !== ATTESTATION_PATH) return hello(req, res);
      void nonceOf(req).then(async (nonce) => sendDocument(res, await freshAttestation(enclave.nsm, held!, nonce)));
    });
    const other = await connectAtls({ host: "127.0.0.1", port: server.port, ...options });
    const otherClient = clientOn(other.socket);
    await get(otherClient, "/hold");
    const error = await refusal(server.port);
    expect(error.reason).toBe("channel-binding");
    expect(error.message).toMatch(/made for another TLS session/);
    await otherClient.close();
  });

  it("refuses a document for another nonce", async () => {
    const server = await serve(
      cheating(async (req, res) => {
        const nonce = await nonceOf(req);
        nonce[0]! ^= 1;
        sendDocument(res, await freshAttestation(enclave.nsm, req.socket as TLSSocket, nonce));
      }),
    );
    expect((await refusal(server.port)).reason).toBe("nonce-mismatch");
  });

  it("refuses a document from another enclave of the same image", async () => {
    const twin = await bootEnclave({ simDir: world.simDir, applicationDir: world.appDir });
    const server = await serve(
      cheating(async (req, res) => sendDocument(res, await freshAttestation(twin.nsm, req.socket as TLSSocket, await nonceOf(req)))),
    );
    const error = await refusal(server.port);
    expect(error.reason).toBe("enclave-mismatch");
    expect(error.message).toContain(twin.device.moduleId);
  });

  it("refuses a server that does not answer the request with a document, naming its status", async () => {
    const notFound = (withLength: boolean) => (_req: IncomingMessage, res: ServerResponse) => {
      const body = JSON.stringify({ message: "no such route\u0007" });
      res.writeHead(404, { "content-type": "application/json", ...(withLength && { "content-length": Buffer.byteLength(body) }) });
      res.end(body);
    };
    const error = await refusal((await serve(notFound(true))).port);
    expect(error.reason).toBe("fresh-attestation");
    expect(error.message).toMatch(/it answered 404: no such route\?$/);
    // Chunked: the exchange does not read the body, but still says what the server answered.
    expect((await refusal((await serve(notFound(false))).port)).message).toMatch(/the 404 response uses Transfer-Encoding/);
  });
});

describe("the attestation route", () => {
  const post = async (port: number, body: string | Buffer, method = "POST") => {
    const dispatcher = createAtlsDispatcher(options);
    try {
      const response = await request(`https://127.0.0.1:${port}${ATTESTATION_PATH}`, { method: method as "POST", body: method === "GET" ? null : body, dispatcher });
      return { status: response.statusCode, body: (await response.body.json()) as Record<string, string>, headers: response.headers };
    } finally {
      await dispatcher.close();
    }
  };

  it("answers a good request with a base64 document, not to be cached", async () => {
    const server = await serve(helloListener(enclave.nsm));
    const answer = await post(server.port, JSON.stringify({ nonce: `0x${"ab".repeat(32)}` }));
    expect(answer.status).toBe(200);
    expect(answer.headers["cache-control"]).toBe("no-store");
    expect(Buffer.from(answer.body.document!, "base64")[0]).toBe(0x84);
  });

  it.each([
    ["not JSON", 400, "{nonce"],
    ["a nonce of 7 bytes", 400, JSON.stringify({ nonce: `0x${"00".repeat(7)}` })],
    ["a nonce of 65 bytes", 400, JSON.stringify({ nonce: `0x${"00".repeat(65)}` })],
    ["a nonce without 0x", 400, JSON.stringify({ nonce: "00".repeat(8) })],
    ["an extra field", 400, JSON.stringify({ nonce: `0x${"00".repeat(8)}`, more: 1 })],
    ["a list", 400, "[]"],
    ["a body over 1 KiB", 413, Buffer.alloc(1025, 0x20)],
  ] as const)("answers %s with %i and a message", async (_, status, body) => {
    const server = await serve(helloListener(enclave.nsm));
    const answer = await post(server.port, body);
    expect(answer.status).toBe(status);
    expect(answer.body.message).toMatch(/nonce/);
  });

  it("answers another method with 405, and 503 when the NSM fails", async () => {
    const server = await serve(helloListener(enclave.nsm));
    const wrong = await post(server.port, "", "GET");
    expect([wrong.status, wrong.headers.allow]).toEqual([405, "POST"]);

    const broken = await bootEnclave({ simDir: world.simDir, applicationDir: world.appDir });
    const failing = await serve(helloListener(new NsmClient(broken.device)), enclave.nsm);
    broken.device.close();
    const answer = await post(failing.port, JSON.stringify({ nonce: `0x${"00".repeat(8)}` }));
    expect(answer.status).toBe(503);
    expect(answer.body.message).toMatch(/could not produce an attestation document.*try again/);
  });
});
