// The attestation document: the COSE payload, a CBOR map whose keys come in
// the order the Nitro Security Module writes them.
import { bytesEqual, copyBytes } from "../bytes.ts";
import { type CborValue, encodeCbor } from "../cbor.ts";
import { decodeCborOrMalformed, malformed } from "./errors.ts";
import { MAX_CABUNDLE_LENGTH, MAX_CERTIFICATE_BYTES, MAX_MODULE_ID_BYTES, MAX_PCRS, MAX_USER_FIELD_BYTES, PCR_LENGTHS } from "./limits.ts";

export interface AttestationDocument {
  /** The issuing NSM's module ID, e.g. `i-0a22e5c5f24d22174-enc0191cceb4289903f`. */
  readonly moduleId: string;
  /** The digest the PCRs are computed with; Nitro uses SHA384 only. */
  readonly digest: "SHA384";
  /** When the NSM made the document. */
  readonly timestamp: Date;
  /** The same instant in milliseconds since the Unix epoch, as the document carries it. */
  readonly timestampMs: number;
  /** Platform configuration registers by index (0..31), in ascending order. */
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  /** The signing (leaf) certificate, DER. */
  readonly certificate: Uint8Array;
  /** The issuing chain, DER, root first. */
  readonly cabundle: readonly Uint8Array[];
  readonly publicKey?: Uint8Array;
  readonly userData?: Uint8Array;
  readonly nonce?: Uint8Array;
}

/** The keys, in the order Nitro writes them; each is present, the last three possibly null. */
const KEYS = ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"] as const;

/**
 * The payload bytes of a document. Timestamps past 2^32 ms (every real one)
 * are written as 8-byte unsigned integers, smaller ones in their shortest
 * form; PCRs in ascending index order; absent optional fields as null.
 */
export function encodeAttestationPayload(document: AttestationDocument): Uint8Array {
  const pcrs = new Map([...document.pcrs].sort(([a], [b]) => a - b));
  return encodeCbor(
    new Map<string, CborValue>([
      ["module_id", document.moduleId],
      ["digest", document.digest],
      ["timestamp", document.timestampMs],
      ["pcrs", pcrs],
      ["certificate", document.certificate],
      ["cabundle", document.cabundle],
      ["public_key", document.publicKey ?? null],
      ["user_data", document.userData ?? null],
      ["nonce", document.nonce ?? null],
    ]),
  );
}

/**
 * Reads a document from the COSE payload, checking every field's type, size
 * and position; then checks that the payload is exactly the canonical
 * encoding of what was read, so that no duplicate key, long-form length or
 * stray tag can hide in it.
 */
export function parseAttestationPayload(payload: Uint8Array): AttestationDocument {
  const decoded = decodeCborOrMalformed(payload, "the attestation payload");
  if (!(decoded instanceof Map)) throw malformed("the attestation payload is not a CBOR map");
  const keys = [...decoded.keys()];
  KEYS.forEach((key, index) => {
    if (keys[index] !== key) {
      const found = keys[index] === undefined ? "nothing" : describeKey(keys[index]);
      throw malformed(`the attestation payload must hold ${KEYS.join(", ")} in that order; key ${index + 1} is ${found}, not "${key}"`);
    }
  });
  if (keys.length !== KEYS.length) throw malformed(`the attestation payload has ${keys.length} keys; it must have exactly ${KEYS.length}`);

  const timestampMs = readTimestamp(decoded.get("timestamp"));
  const document: AttestationDocument = {
    moduleId: readModuleId(decoded.get("module_id")),
    digest: readDigest(decoded.get("digest")),
    timestamp: new Date(timestampMs),
    timestampMs,
    pcrs: readPcrs(decoded.get("pcrs")),
    certificate: readCertificate(decoded.get("certificate"), "certificate"),
    cabundle: readCabundle(decoded.get("cabundle")),
    publicKey: readOptional(decoded.get("public_key"), "public_key"),
    userData: readOptional(decoded.get("user_data"), "user_data"),
    nonce: readOptional(decoded.get("nonce"), "nonce"),
  };
  if (!bytesEqual(encodeAttestationPayload(document), payload)) {
    throw malformed("the attestation payload is not in the canonical CBOR encoding Nitro uses (duplicate keys, long-form or indefinite lengths, or extra tags)");
  }
  return document;
}

function describeKey(key: unknown): string {
  return (typeof key === "string" ? JSON.stringify(key) : `${typeof key} ${String(key)}`).slice(0, 60);
}

function readModuleId(value: unknown): string {
  if (typeof value !== "string") throw malformed("module_id is not a text string");
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes === 0 || bytes > MAX_MODULE_ID_BYTES) throw malformed(`module_id is ${bytes} bytes; 1 to ${MAX_MODULE_ID_BYTES} are allowed`);
  return value;
}

function readDigest(value: unknown): "SHA384" {
  if (value !== "SHA384") throw malformed(`digest is ${JSON.stringify(String(value)).slice(0, 40)}; Nitro documents use "SHA384"`);
  return value;
}

function readTimestamp(value: unknown): number {
  // cbor-x gives 8-byte integers as bigint and shorter ones as number.
  const ms = typeof value === "bigint" && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  if (typeof ms !== "number" || !Number.isSafeInteger(ms) || ms <= 0) throw malformed("timestamp is not a positive integer number of milliseconds");
  if (Number.isNaN(new Date(ms).getTime())) throw malformed("timestamp is beyond the range of dates");
  return ms;
}

function readPcrs(value: unknown): ReadonlyMap<number, Uint8Array> {
  if (!(value instanceof Map)) throw malformed("pcrs is not a map");
  if (value.size === 0 || value.size > MAX_PCRS) throw malformed(`pcrs holds ${value.size} registers; 1 to ${MAX_PCRS} are allowed`);
  const pcrs = new Map<number, Uint8Array>();
  let previous = -1;
  for (const [index, content] of value as Map<unknown, unknown>) {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= MAX_PCRS) {
      throw malformed(`pcrs has the key ${describeKey(index)}; PCR indexes are integers from 0 to ${MAX_PCRS - 1}`);
    }
    if (index <= previous) throw malformed(`pcrs lists PCR${index} after PCR${previous}; indexes must ascend`);
    if (!(content instanceof Uint8Array) || !PCR_LENGTHS.has(content.length)) {
      throw malformed(`PCR${index} is not a byte string of ${[...PCR_LENGTHS].join(", ")} bytes`);
    }
    pcrs.set(index, copyBytes(content));
    previous = index;
  }
  return pcrs;
}

function readCertificate(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${what} is not a byte string`);
  if (value.length === 0 || value.length > MAX_CERTIFICATE_BYTES) throw malformed(`${what} is ${value.length} bytes; 1 to ${MAX_CERTIFICATE_BYTES} are allowed`);
  return copyBytes(value);
}

function readCabundle(value: unknown): Uint8Array[] {
  if (!Array.isArray(value)) throw malformed("cabundle is not an array");
  if (value.length === 0 || value.length > MAX_CABUNDLE_LENGTH) throw malformed(`cabundle holds ${value.length} certificates; 1 to ${MAX_CABUNDLE_LENGTH} are allowed`);
  return value.map((entry: unknown, index) => readCertificate(entry, `cabundle[${index}]`));
}

function readOptional(value: unknown, what: string): Uint8Array | undefined {
  if (value === null) return undefined;
  if (!(value instanceof Uint8Array)) throw malformed(`${what} is neither a byte string nor null`);
  if (value.length > MAX_USER_FIELD_BYTES) throw malformed(`${what} is ${value.length} bytes; at most ${MAX_USER_FIELD_BYTES} are allowed`);
  return copyBytes(value);
}
