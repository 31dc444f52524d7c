// What the user_data of aTLS documents binds: the certificate's key, or one
// TLS session. Server and client compute these with the same functions.
import { createHash } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { ATLS_USER_DATA_PREFIX, EXPORTER_BYTES, EXPORTER_LABEL, FRESH_USER_DATA_PREFIX } from "./oid.ts";

const KEY_PREFIX = Buffer.from(ATLS_USER_DATA_PREFIX, "latin1");
const FRESH_PREFIX = Buffer.from(FRESH_USER_DATA_PREFIX, "latin1");
const NO_CONTEXT = Buffer.alloc(0);

/** ATLS_USER_DATA_PREFIX ‖ SHA-384(spki), for the document in a certificate with this SubjectPublicKeyInfo (DER). */
export function keyBinding(spki: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([KEY_PREFIX, createHash("sha384").update(spki).digest()]));
}

/** FRESH_USER_DATA_PREFIX ‖ the exporter value, for a fresh document that binds one session. */
export function channelBinding(exporter: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([FRESH_PREFIX, exporter]));
}

/**
 * This session's exporter value (RFC 8446 §7.5, no context — in TLS 1.3 the
 * same as an empty one): both ends of one TLS 1.3 session compute the same
 * bytes, and no other session has them.
 */
export function sessionExporter(socket: TLSSocket): Uint8Array {
  if (socket.getProtocol() !== "TLSv1.3") throw new Error(`channel binding needs TLS 1.3; this session is ${socket.getProtocol() ?? "not established"}`);
  return new Uint8Array(socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, NO_CONTEXT));
}
