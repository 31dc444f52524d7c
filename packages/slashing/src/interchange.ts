import type { Interchange, InterchangeValidator } from "./protection.ts";
import { SlashingProtectionError } from "./protection.ts";

/** Interchange files of tens of thousands of validators are tens of MiB; beyond this something is wrong. */
export const MAX_INTERCHANGE_BYTES = 256 << 20;
const UINT64_MAX = (1n << 64n) - 1n;

function fail(path: string, problem: string): never {
  throw new SlashingProtectionError(`interchange: ${path}: ${problem}`);
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(path, "must be an object");
  return value as Record<string, unknown>;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, "must be an array");
  return value;
}

function uint64(value: unknown, path: string): bigint {
  if (typeof value !== "string" || !/^\d{1,20}$/.test(value)) fail(path, "must be a decimal uint64 string");
  const n = BigInt(value);
  if (n > UINT64_MAX) fail(path, "exceeds 2^64-1");
  return n;
}

function bytes(value: unknown, length: number, path: string): Uint8Array {
  if (typeof value !== "string" || value.length !== 2 + 2 * length || !/^0x[0-9a-fA-F]*$/.test(value)) {
    fail(path, `must be 0x followed by ${length} bytes of hex`);
  }
  return new Uint8Array(Buffer.from(value.slice(2), "hex"));
}

/** An absent or all-zero signing root means "unknown" (EIP-3076): it never counts as a repeat. */
function optionalRoot(value: unknown, path: string): Uint8Array | undefined {
  if (value === undefined || value === null) return undefined;
  const root = bytes(value, 32, path);
  return root.some((b) => b !== 0) ? root : undefined;
}

/**
 * Parses and validates an EIP-3076 interchange (format version 5) from its
 * JSON text or bytes. Every problem is a SlashingProtectionError naming the
 * offending path; nothing is imported from a file that is not entirely valid.
 */
export function parseInterchange(input: string | Uint8Array): Interchange {
  if (input.length > MAX_INTERCHANGE_BYTES) fail("file", `larger than ${MAX_INTERCHANGE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(typeof input === "string" ? input : Buffer.from(input).toString("utf8"));
  } catch (error) {
    fail("file", `not valid JSON (${error instanceof SyntaxError ? error.message : "nesting too deep"})`);
  }
  const top = object(json, "top level");
  const metadata = object(top["metadata"], "metadata");
  const version = metadata["interchange_format_version"];
  if (version !== "5" && version !== 5) fail("metadata.interchange_format_version", `must be "5", got ${JSON.stringify(version)?.slice(0, 40)}`);
  const genesisValidatorsRoot = bytes(metadata["genesis_validators_root"], 32, "metadata.genesis_validators_root");

  const data = array(top["data"], "data").map((entry, i): InterchangeValidator => {
    const path = `data[${i}]`;
    const validator = object(entry, path);
    const blocks = validator["signed_blocks"] === undefined ? [] : array(validator["signed_blocks"], `${path}.signed_blocks`);
    const attestations =
      validator["signed_attestations"] === undefined ? [] : array(validator["signed_attestations"], `${path}.signed_attestations`);
    return {
      publicKey: bytes(validator["pubkey"], 48, `${path}.pubkey`),
      signedBlocks: blocks.map((b, j) => {
        const block = object(b, `${path}.signed_blocks[${j}]`);
        const signingRoot = optionalRoot(block["signing_root"], `${path}.signed_blocks[${j}].signing_root`);
        const slot = uint64(block["slot"], `${path}.signed_blocks[${j}].slot`);
        return signingRoot === undefined ? { slot } : { slot, signingRoot };
      }),
      signedAttestations: attestations.map((a, j) => {
        const at = `${path}.signed_attestations[${j}]`;
        const attestation = object(a, at);
        const sourceEpoch = uint64(attestation["source_epoch"], `${at}.source_epoch`);
        const targetEpoch = uint64(attestation["target_epoch"], `${at}.target_epoch`);
        const signingRoot = optionalRoot(attestation["signing_root"], `${at}.signing_root`);
        return signingRoot === undefined ? { sourceEpoch, targetEpoch } : { sourceEpoch, targetEpoch, signingRoot };
      }),
    };
  });
  return { genesisValidatorsRoot, data };
}

const hex = (b: Uint8Array) => `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")}`;

/** The EIP-3076 v5 JSON object of an interchange (numbers as decimal strings, roots omitted when unknown). */
export function interchangeToJson(interchange: Interchange): unknown {
  return {
    metadata: { interchange_format_version: "5", genesis_validators_root: hex(interchange.genesisValidatorsRoot) },
    data: interchange.data.map((v) => ({
      pubkey: hex(v.publicKey),
      signed_blocks: v.signedBlocks.map((b) => ({ slot: b.slot.toString(), ...(b.signingRoot && { signing_root: hex(b.signingRoot) }) })),
      signed_attestations: v.signedAttestations.map((a) => ({
        source_epoch: a.sourceEpoch.toString(),
        target_epoch: a.targetEpoch.toString(),
        ...(a.signingRoot && { signing_root: hex(a.signingRoot) }),
      })),
    })),
  };
}
