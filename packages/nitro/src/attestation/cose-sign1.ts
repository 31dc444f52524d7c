// COSE_Sign1 (RFC 9052 §4.2) exactly as the Nitro Security Module emits it:
// an untagged array [protected, unprotected, payload, signature] whose
// protected header is the map {1: -35} (alg ES384), whose unprotected header
// is empty and whose signature is ECDSA P-384 over SHA-384 as raw r‖s.
import { sign, verify, type KeyObject } from "node:crypto";
import { bytesEqual, copyBytes } from "../bytes.ts";
import { CborTag, encodeCbor } from "../cbor.ts";
import { decodeCborOrMalformed, malformed } from "./errors.ts";
import { MAX_DOCUMENT_BYTES, MAX_PAYLOAD_BYTES } from "./limits.ts";

/** CBOR tag 18 marks a COSE_Sign1; in its shortest (the only accepted) form it is this one byte. */
const COSE_SIGN1_TAG = 18;
const COSE_SIGN1_TAG_BYTE = 0xd2;
/** The encoded protected header {1: -35}: alg (label 1) is ES384 (-35). */
const ES384_PROTECTED_HEADER: Uint8Array = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);
/** ES384 signatures are r‖s, each 48 bytes (RFC 9053 §2.1). */
const ES384_SIGNATURE_BYTES = 96;

export interface CoseSign1 {
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** The bytes of an untagged COSE_Sign1 with Nitro's headers. */
export function encodeCoseSign1(message: CoseSign1): Uint8Array {
  return encodeCbor([ES384_PROTECTED_HEADER, new Map(), message.payload, message.signature]);
}

/**
 * Reads a COSE_Sign1, untagged or with tag 18, and checks its envelope: the
 * headers are exactly Nitro's, the sizes are within bounds, and the bytes are
 * the canonical encoding of what was read, so that no byte of the envelope
 * goes unchecked. The signature itself is checked by `verifyCoseSign1`.
 */
export function decodeCoseSign1(bytes: Uint8Array): CoseSign1 {
  if (!(bytes instanceof Uint8Array)) throw malformed("the attestation document must be bytes");
  if (bytes.length > MAX_DOCUMENT_BYTES) throw malformed(`the attestation document is ${bytes.length} bytes; at most ${MAX_DOCUMENT_BYTES} are allowed`);
  const body = bytes[0] === COSE_SIGN1_TAG_BYTE ? bytes.subarray(1) : bytes;
  const decoded = decodeCborOrMalformed(body, "the attestation document");
  if (decoded instanceof CborTag) {
    throw malformed(`the attestation document carries CBOR tag ${decoded.tag}${decoded.tag === COSE_SIGN1_TAG ? " in a long form" : ""}; a COSE_Sign1 is untagged or tag 18 (0xd2)`);
  }
  if (!Array.isArray(decoded) || decoded.length !== 4) throw malformed("the attestation document is not a COSE_Sign1 (an array of 4 items)");
  const [protectedHeader, unprotectedHeader, payload, signature] = decoded;
  if (!(protectedHeader instanceof Uint8Array) || !bytesEqual(protectedHeader, ES384_PROTECTED_HEADER)) {
    throw malformed("the COSE protected header is not {1: -35} (ES384) as a byte string");
  }
  if (!(unprotectedHeader instanceof Map) || unprotectedHeader.size !== 0) throw malformed("the COSE unprotected header is not an empty map");
  if (!(payload instanceof Uint8Array)) throw malformed("the COSE payload is not a byte string");
  if (payload.length === 0 || payload.length > MAX_PAYLOAD_BYTES) throw malformed(`the COSE payload is ${payload.length} bytes; 1 to ${MAX_PAYLOAD_BYTES} are allowed`);
  if (!(signature instanceof Uint8Array)) throw malformed("the COSE signature is not a byte string");
  if (signature.length !== ES384_SIGNATURE_BYTES) throw malformed(`the COSE signature is ${signature.length} bytes; ES384 signatures are ${ES384_SIGNATURE_BYTES}`);
  const message = { payload: copyBytes(payload), signature: copyBytes(signature) };
  if (!bytesEqual(encodeCoseSign1(message), body)) {
    throw malformed("the COSE_Sign1 is not in the canonical CBOR encoding Nitro uses (long-form lengths, indefinite lengths or extra tags)");
  }
  return message;
}

/** Sig_structure (RFC 9052 §4.4): ["Signature1", protected, external_aad = h'', payload]. */
function toBeSigned(payload: Uint8Array): Uint8Array {
  return encodeCbor(["Signature1", ES384_PROTECTED_HEADER, new Uint8Array(0), payload]);
}

/** Signs a payload as a Nitro document is signed, with a P-384 private key. */
export function signCoseSign1(payload: Uint8Array, privateKey: KeyObject): Uint8Array {
  const signature = sign("sha384", toBeSigned(payload), { key: privateKey, dsaEncoding: "ieee-p1363" });
  return encodeCoseSign1({ payload, signature });
}

/** Whether the signature is the P-384 key's ES384 signature over the payload. */
export function verifyCoseSign1(message: CoseSign1, publicKey: KeyObject): boolean {
  return verify("sha384", toBeSigned(message.payload), { key: publicKey, dsaEncoding: "ieee-p1363" }, message.signature);
}
