// The client side of fresh attestation: on a verified aTLS socket, POST a
// random nonce to ATTESTATION_PATH and verify the answer: a new document from
// the same enclave, with this nonce, bound to this very TLS session. A
// document relayed from another session (a machine in the middle that holds
// its own connection to the enclave) carries another exporter value.
import { randomBytes } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { MAX_DOCUMENT_BYTES } from "@strongroom/nitro";
import { channelBinding, sessionExporter } from "./binding.ts";
import { AtlsVerificationError } from "./errors.ts";
import { exchange } from "./http1.ts";
import { ATTESTATION_PATH } from "./oid.ts";
import { verifyDocument, type VerifiedPeer, type VerifySettings } from "./verify.ts";

const NONCE_BYTES = 32;
/** {"document":"<base64 of the largest document>"}, with room to spare. */
const MAX_RESPONSE_BYTES = 2 * MAX_DOCUMENT_BYTES;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DO_NOT_TRUST = "do not trust this connection";

/** Runs the exchange on `socket` (already verified as `peer`); throws AtlsVerificationError unless the fresh document checks out. */
export async function verifyFreshAttestation(socket: TLSSocket, authority: string, settings: VerifySettings, peer: VerifiedPeer): Promise<void> {
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const document = await requestDocument(socket, authority, nonce);
  const verified = verifyDocument(document, settings, settings.now(), "the fresh attestation document");
  const { nonce: answered, userData, moduleId, pcrs } = verified.document;
  if (answered === undefined || Buffer.compare(answered, nonce) !== 0) {
    throw new AtlsVerificationError("nonce-mismatch", `the fresh attestation document answers another request (its nonce is not the one sent): a replayed document; ${DO_NOT_TRUST}`);
  }
  const exporter = sessionExporter(socket);
  const binding = channelBinding(exporter);
  try {
    if (userData === undefined || Buffer.compare(userData, binding) !== 0) {
      throw new AtlsVerificationError(
        "channel-binding",
        `the fresh attestation document was made for another TLS session (its user_data does not bind this session's exporter value): it was relayed from another connection; ${DO_NOT_TRUST}`,
      );
    }
  } finally {
    exporter.fill(0);
    binding.fill(0);
  }
  const samePcrs = pcrs.size === peer.pcrs.size && [...pcrs].every(([index, value]) => Buffer.compare(value, peer.pcrs.get(index) ?? Buffer.alloc(0)) === 0);
  if (moduleId !== peer.moduleId || !samePcrs) {
    throw new AtlsVerificationError(
      "enclave-mismatch",
      `the fresh attestation document comes from another enclave (${moduleId}) or image than the certificate's (${peer.moduleId}); ${DO_NOT_TRUST}`,
    );
  }
}

async function requestDocument(socket: TLSSocket, authority: string, nonce: Uint8Array): Promise<Uint8Array> {
  const body = JSON.stringify({ nonce: `0x${Buffer.from(nonce).toString("hex")}` });
  const request = Buffer.from(
    `POST ${ATTESTATION_PATH} HTTP/1.1\r\nhost: ${authority}\r\ncontent-type: application/json\r\naccept: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    "latin1",
  );
  const refuse = (what: string) => new AtlsVerificationError("fresh-attestation", `the server did not answer the fresh attestation request (POST ${ATTESTATION_PATH}) with a document: ${what}`);
  let response;
  try {
    response = await exchange(socket, request, MAX_RESPONSE_BYTES);
  } catch (error) {
    throw refuse((error as Error).message);
  }
  const answer = readJson(response.body);
  if (response.status !== 200) {
    const message = typeof answer?.message === "string" ? `: ${printable(answer.message)}` : "";
    throw refuse(`it answered ${response.status}${message}`);
  }
  const encoded = answer?.document;
  if (typeof encoded !== "string" || !BASE64.test(encoded) || encoded.length === 0) throw refuse('its answer is not {"document":"<base64>"}');
  return new Uint8Array(Buffer.from(encoded, "base64"));
}

function readJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A server's words in our message: printable ASCII, bounded. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}
