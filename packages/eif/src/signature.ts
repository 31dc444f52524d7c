// The signature section of an EIF, as aws-nitro-enclaves-image-format writes it (src/defs/mod.rs,
// src/utils/eif_signer.rs) and nitro-cli checks it before it launches an enclave:
//
//   section  = serde_cbor of Vec<PcrSignature>, one entry, for PCR0
//   PcrSignature { signing_certificate: Vec<u8> (the PEM text), signature: Vec<u8> (a COSE_Sign1) }
//   COSE_Sign1 untagged, protected {1: -35} (ES384), unprotected {}, payload = serde_cbor of
//   PcrInfo { register_index: i32 = 0, register_value: Vec<u8> = PCR0 }
//
// serde_cbor writes a struct as a map with text keys in declaration order and, without
// serde_bytes, a Vec<u8> as an array of integers, not a byte string: that is what is written and
// the only thing accepted here.
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { decodeCbor, derToPem, encodeCbor, encodeCoseSign1, PCR_LENGTH, pemToDer, signCoseSign1, verifyCoseSign1 } from "@strongroom/nitro";

/** Far above a certificate and a COSE_Sign1 (a few KiB); a bound for hostile input. */
export const MAX_SIGNATURE_SECTION_BYTES = 64 * 1024;
/** ES384's r‖s. */
const ES384_SIGNATURE_BYTES = 96;

/** A Vec<u8> as serde_cbor writes it. */
const byteArray = (bytes: Uint8Array): number[] => Array.from(bytes);

/** The COSE payload: PcrInfo for PCR0. */
function pcr0Payload(pcr0: Uint8Array): Uint8Array {
  return encodeCbor(
    new Map<string, number | number[]>([
      ["register_index", 0],
      ["register_value", byteArray(pcr0)],
    ]),
  );
}

function encodeSection(certificatePem: Uint8Array, coseSign1: Uint8Array): Uint8Array {
  return encodeCbor([
    new Map([
      ["signing_certificate", byteArray(certificatePem)],
      ["signature", byteArray(coseSign1)],
    ]),
  ]);
}

function checkPcr0(pcr0: Uint8Array): void {
  if (!(pcr0 instanceof Uint8Array) || pcr0.length !== PCR_LENGTH) throw new Error(`PCR0 must be ${PCR_LENGTH} bytes (SHA-384)`);
}

/** The certificate in a PEM text, which must hold exactly one CERTIFICATE block, and its P-384 key. */
function readSigningCertificate(pem: string): { der: Uint8Array; certificate: X509Certificate } {
  let der: Uint8Array;
  try {
    der = pemToDer(pem);
  } catch (error) {
    throw new Error(`the EIF signing certificate is not usable PEM: ${(error as Error).message}`);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (error) {
    throw new Error(`the EIF signing certificate is not an X.509 certificate (${(error as Error).message})`);
  }
  // nitro-cli measures PCR8 over OpenSSL's re-encoding of the certificate; this one measures the
  // bytes as given, so the two must be the same (no trailing bytes, no non-DER lengths).
  if (Buffer.compare(certificate.raw, der) !== 0) throw new Error("the EIF signing certificate is not in DER form (trailing bytes or non-minimal lengths): re-encode it, e.g. with `openssl x509`");
  checkP384(certificate.publicKey, "the EIF signing certificate's public key");
  return { der, certificate };
}

function checkP384(key: KeyObject, what: string): void {
  const curve = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  if (curve !== "secp384r1") {
    throw new Error(`${what} is ${curve ?? key.asymmetricKeyType ?? "of an unknown type"}; EIF signatures here are ES384, so use an EC P-384 (secp384r1) key`);
  }
}

/**
 * The signature section for an image with this PCR0, signed with a P-384 private key whose
 * certificate is given. Refuses a key of another kind, a key that does not match the certificate,
 * and a certificate outside its validity period at `now` (nitro-cli refuses to launch an EIF whose
 * signing certificate is not valid). ECDSA signatures are randomised, so two signings of the same
 * image differ in this section's bytes; PCR8 and every other PCR do not.
 */
export function signatureSection(pcr0: Uint8Array, certificatePem: string, privateKeyPem: string, options: { readonly now?: Date } = {}): Uint8Array {
  checkPcr0(pcr0);
  const { der, certificate } = readSigningCertificate(certificatePem);
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new Error(`the EIF signing key is not a usable PEM private key (${(error as Error).message})`);
  }
  checkP384(key, "the EIF signing key");
  if (!certificate.checkPrivateKey(key)) throw new Error("the EIF signing key does not belong to the signing certificate: give the private key of the certificate's public key");
  const now = options.now ?? new Date();
  if (now < certificate.validFromDate || now > certificate.validToDate) {
    throw new Error(`the EIF signing certificate is valid from ${certificate.validFromDate.toISOString()} to ${certificate.validToDate.toISOString()}, not at ${now.toISOString()}; nitro-cli will not launch an image signed with it`);
  }
  // The PEM is written in one canonical form, whatever surrounded the block in the caller's text.
  const pem = Buffer.from(derToPem(der), "utf8");
  return encodeSection(pem, signCoseSign1(pcr0Payload(pcr0), key));
}

/** A serde_cbor Vec<u8>: an array of integers 0..255. */
function readByteArray(value: unknown, what: string): Uint8Array {
  if (!Array.isArray(value)) throw new Error(`${what} is not a CBOR array of bytes (serde_cbor's Vec<u8>)`);
  const out = new Uint8Array(value.length);
  value.forEach((item, index) => {
    if (typeof item !== "number" || !Number.isInteger(item) || item < 0 || item > 255) throw new Error(`${what} holds ${String(item)} at index ${index}, not a byte`);
    out[index] = item;
  });
  return out;
}

/** Why a payload that is not this image's PcrInfo was refused: another PCR0, or not a PcrInfo at all. */
function describePayload(payload: Uint8Array): string {
  let value: unknown;
  try {
    value = decodeCbor(payload, "the EIF signature's payload");
  } catch {
    return "is not CBOR";
  }
  if (value instanceof Map && value.get("register_index") === 0) {
    try {
      return `signs PCR0 ${Buffer.from(readByteArray(value.get("register_value"), "register_value")).toString("hex")}`;
    } catch {
      // Falls through: not a PcrInfo after all.
    }
  }
  return "is not AWS's PcrInfo for PCR0";
}

/**
 * Checks a signature section against the PCR0 of the image that carries it: the exact encoding
 * AWS writes, one PcrSignature, a P-384 certificate, a payload that is this PCR0, and an ES384
 * signature that verifies with the certificate's key. Returns the certificate's DER (what PCR8
 * measures). The certificate's validity period is not checked, so an old image still verifies.
 */
export function verifySignatureSection(section: Uint8Array, pcr0: Uint8Array): Uint8Array {
  checkPcr0(pcr0);
  if (!(section instanceof Uint8Array)) throw new Error("the EIF signature section must be bytes");
  if (section.length > MAX_SIGNATURE_SECTION_BYTES) throw new Error(`the EIF signature section is ${section.length} bytes; at most ${MAX_SIGNATURE_SECTION_BYTES} are accepted`);
  const list = decodeCbor(section, "the EIF signature section");
  if (!Array.isArray(list) || list.length !== 1) throw new Error("the EIF signature section is not a CBOR array of exactly one PCR signature (AWS writes PCR0's only)");
  const entry: unknown = list[0];
  if (!(entry instanceof Map)) throw new Error("the EIF signature section's PCR signature is not a CBOR map");
  const pemBytes = readByteArray(entry.get("signing_certificate"), 'the EIF signature\'s "signing_certificate"');
  const coseBytes = readByteArray(entry.get("signature"), 'the EIF signature\'s "signature"');
  // Rebuilding from what was read and comparing leaves no byte unchecked: key names and order,
  // shortest-form integers and lengths, no extra keys, tags or trailing bytes.
  if (Buffer.compare(encodeSection(pemBytes, coseBytes), section) !== 0) {
    throw new Error("the EIF signature section is not exactly [{signing_certificate, signature}] in the CBOR encoding AWS's serde_cbor writes");
  }

  let pem: string;
  try {
    pem = new TextDecoder("utf-8", { fatal: true }).decode(pemBytes);
  } catch {
    throw new Error("the EIF signing certificate is not PEM text (not UTF-8)");
  }
  const { der, certificate } = readSigningCertificate(pem);

  const cose = decodeCbor(coseBytes, "the EIF signature's COSE_Sign1");
  if (!Array.isArray(cose) || cose.length !== 4) throw new Error("the EIF signature's COSE_Sign1 is not an untagged CBOR array of 4 items");
  const [, , payload, signature] = cose as unknown[];
  if (!(payload instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== ES384_SIGNATURE_BYTES) {
    throw new Error(`the EIF signature's COSE_Sign1 does not carry a byte-string payload and a ${ES384_SIGNATURE_BYTES}-byte ES384 signature`);
  }
  if (Buffer.compare(encodeCoseSign1({ payload, signature }), coseBytes) !== 0) {
    throw new Error("the EIF signature's COSE_Sign1 is not untagged with protected header {1: -35} (ES384) and an empty unprotected header, in canonical CBOR");
  }
  if (Buffer.compare(payload, pcr0Payload(pcr0)) !== 0) {
    throw new Error(`the EIF signature ${describePayload(payload)}, not this image's PCR0 ${Buffer.from(pcr0).toString("hex")}: the image was changed after signing, or signed for another image`);
  }
  if (!verifyCoseSign1({ payload, signature }, certificate.publicKey)) {
    throw new Error(`the EIF signature does not verify with the public key of its signing certificate (${certificate.subject.replace(/\n/g, ", ")})`);
  }
  return der;
}

