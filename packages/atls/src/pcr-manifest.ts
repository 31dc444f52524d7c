// PCR manifests: the PCR values a client accepts. A JSON object names one
// set, {"PCR0":"<hex>",…} or {"0":"<hex>",…}; nitro-cli's output (build-enclave,
// describe-eif: {"Measurements":{"HashAlgorithm":…,"PCR0":…},…}) is read as its
// Measurements; a list of such objects names several sets, any of which may
// match (the old and the new image during a rolling upgrade).
import { MAX_PCRS, PCR_LENGTHS, type PcrSet } from "@strongroom/nitro";
import { readSmallFile } from "./files.ts";

/** Far more than any manifest of a few images; larger files are refused unread. */
const MAX_MANIFEST_BYTES = 1024 * 1024;
const PCR_NAME = /^(?:PCR)?(0|[1-9]\d?)$/;
const HEX = /^(?:0x)?((?:[0-9a-fA-F]{2})+)$/;

/** The accepted PCR sets in a manifest file; throws Error naming the file, the entry and what is wrong. */
export function readPcrManifest(path: string): PcrSet[] {
  const file = readSmallFile(path, MAX_MANIFEST_BYTES, "PCR manifest");
  if (file === undefined) throw new Error(`the PCR manifest ${path} does not exist`);
  return parsePcrManifest(file.bytes.toString("utf8"), path);
}

/** The PCR sets in manifest text; `source` names it in errors. */
export function parsePcrManifest(text: string, source: string): PcrSet[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON (${(error as Error).message}); a PCR manifest is {"PCR0":"<hex>",…} or a list of such objects`);
  }
  if (!Array.isArray(json)) return [readSet(json, source)];
  if (json.length === 0) throw new Error(`${source} is an empty list, which no enclave can match; list at least one set of PCRs`);
  return json.map((entry, index) => readSet(entry, `${source}, entry ${index}`));
}

function readSet(entry: unknown, where: string): PcrSet {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new Error(`${where}: expected an object such as {"PCR0":"<hex>"}, got ${describe(entry)}`);
  const object = entry as Record<string, unknown>;
  const measurements = object.Measurements;
  if (measurements !== undefined) {
    if (typeof measurements !== "object" || measurements === null || Array.isArray(measurements)) throw new Error(`${where}: "Measurements" is not an object`);
    const { HashAlgorithm: _, ...pcrs } = measurements as Record<string, unknown>;
    return readPcrs(pcrs, `${where}, Measurements`);
  }
  return readPcrs(object, where);
}

function readPcrs(object: Record<string, unknown>, where: string): PcrSet {
  const pcrs = new Map<number, Uint8Array>();
  for (const [key, value] of Object.entries(object)) {
    const name = PCR_NAME.exec(key);
    const index = Number(name?.[1]);
    if (name === null || index >= MAX_PCRS) throw new Error(`${where}: "${key.slice(0, 40)}" is not a PCR (PCR0 to PCR${MAX_PCRS - 1}, or 0 to ${MAX_PCRS - 1})`);
    if (pcrs.has(index)) throw new Error(`${where}: PCR${index} is given twice`);
    const hex = typeof value === "string" ? HEX.exec(value) : null;
    const bytes = Buffer.from(hex?.[1] ?? "", "hex");
    if (hex === null || !PCR_LENGTHS.has(bytes.length)) throw new Error(`${where}: ${key} must be ${[...PCR_LENGTHS].join(", ")} bytes of hex (SHA-384 PCRs are 96 hex digits), got ${describe(value)}`);
    pcrs.set(index, new Uint8Array(bytes));
  }
  if (pcrs.size === 0) throw new Error(`${where} names no PCR, so every enclave would match it; give at least PCR0, PCR1 and PCR2 of the image`);
  return pcrs;
}

function describe(value: unknown): string {
  return (JSON.stringify(value) ?? String(value)).slice(0, 60);
}
