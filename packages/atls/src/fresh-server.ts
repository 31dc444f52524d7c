// The server side of fresh attestation: on request, a new document whose
// nonce is the client's and whose user_data binds the TLS session the request
// came on, so that a document cannot be carried to another session.
import type { IncomingMessage, ServerResponse } from "node:http";
import { TLSSocket } from "node:tls";
import type { NsmClient } from "@strongroom/nitro";
import { channelBinding, sessionExporter } from "./binding.ts";
import { MAX_NONCE_BYTES, MIN_NONCE_BYTES } from "./oid.ts";

/** {"nonce":"0x" + 128 hex digits} and some white space. */
const MAX_BODY_BYTES = 1024;
const NONCE = new RegExp(`^0x((?:[0-9a-fA-F]{2}){${MIN_NONCE_BYTES},${MAX_NONCE_BYTES}})$`);

/** A new document with this nonce, bound to this TLS 1.3 session: user_data = FRESH_USER_DATA_PREFIX ‖ the session's exporter value. */
export async function freshAttestation(nsm: NsmClient, socket: TLSSocket, nonce: Uint8Array): Promise<Uint8Array> {
  if (nonce.length < MIN_NONCE_BYTES || nonce.length > MAX_NONCE_BYTES) throw new RangeError(`a nonce is ${MIN_NONCE_BYTES} to ${MAX_NONCE_BYTES} bytes, not ${nonce.length}`);
  const exporter = sessionExporter(socket);
  const userData = channelBinding(exporter);
  try {
    return await nsm.attestation({ userData, nonce });
  } finally {
    exporter.fill(0);
    userData.fill(0);
  }
}

/**
 * Answers POST ATTESTATION_PATH: body {"nonce":"0x…"} (8 to 64 bytes), answer
 * {"document":"<base64 COSE_Sign1>"}. 405 for another method, 413 for a body
 * over 1 KiB, 400 for any other bad request, 503 when the NSM fails; errors
 * are {"message":"…"}. Never throws.
 */
export async function handleAttestationRequest(nsm: NsmClient, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "POST") return reply(res, 405, { message: `use POST with {"nonce":"0x…"}, not ${req.method}` }, { allow: "POST" });
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || socket.getProtocol() !== "TLSv1.3") {
    return reply(res, 400, { message: "fresh attestation binds a TLS 1.3 session; this request did not come over one (connect with aTLS)" });
  }
  const body = await readBody(req);
  if (body === "too-large") return reply(res, 413, { message: `the body is over ${MAX_BODY_BYTES} bytes; send {"nonce":"0x…"} with ${MIN_NONCE_BYTES} to ${MAX_NONCE_BYTES} bytes of hex` });
  if (body === undefined) return;
  const nonce = readNonce(body);
  if (nonce === undefined) return reply(res, 400, { message: `send {"nonce":"0x…"} with ${MIN_NONCE_BYTES} to ${MAX_NONCE_BYTES} bytes of hex and nothing else` });
  let document: Uint8Array;
  try {
    document = await freshAttestation(nsm, socket, nonce);
  } catch (error) {
    return reply(res, 503, { message: `the enclave could not produce an attestation document (${(error as Error).message}); try again` });
  }
  reply(res, 200, { document: Buffer.from(document).toString("base64") });
}

/** The body as text; "too-large" past the limit; undefined when the client went away. */
function readBody(req: IncomingMessage): Promise<string | "too-large" | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.resolve("too-large");
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data");
        req.resume();
        resolve("too-large");
      } else {
        chunks.push(chunk);
      }
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", () => resolve(undefined));
    req.on("close", () => resolve(undefined));
  });
}

function readNonce(body: string): Uint8Array | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const keys = Object.keys(parsed);
  const { nonce } = parsed as { nonce?: unknown };
  if (keys.length !== 1 || typeof nonce !== "string") return undefined;
  const match = NONCE.exec(nonce);
  return match === null ? undefined : new Uint8Array(Buffer.from(match[1]!, "hex"));
}

function reply(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(payload), "cache-control": "no-store" });
  res.end(payload);
}
