import { MAX_DOCUMENT_BYTES, MAX_PCRS, PCR_LENGTHS, verifyAttestationDocument, type PcrSet, type VerifiedAttestation } from "@strongroom/nitro";
import type { Command } from "../cli.ts";
import { readFileBounded, readRootCertificateFile } from "../files.ts";
import { parseOptions, UsageError, type OptionTable } from "../options.ts";

const VERIFY_OPTIONS = [
  { name: "at", kind: "string", description: "verify as of this ISO-8601 instant (e.g. 2024-09-07T14:37:39.545Z) instead of now" },
  { name: "root", kind: "string", description: "PEM (or DER) file of the root to trust instead of AWS Nitro Enclaves Root G1, e.g. a simulator's attestation-root.pem" },
  { name: "allow-debug", kind: "boolean", default: false, description: "accept a document from a debug-mode enclave (PCR0 all zero)" },
  { name: "expect-pcr", kind: "list", description: "N=HEX: PCR N must be HEX (repeat the option, or separate with commas, for several)" },
] as const satisfies OptionTable;

/** Base64 of the largest document, with room for line breaks. */
const MAX_FILE_BYTES = MAX_DOCUMENT_BYTES * 2;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function readInstant(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const instant = new Date(value);
  if (!ISO_8601.test(value) || Number.isNaN(instant.getTime())) throw new UsageError(`--at: expected an ISO-8601 instant such as 2024-09-07T14:37:39.545Z, got ${JSON.stringify(value).slice(0, 60)}`);
  return instant;
}

function readExpectedPcrs(entries: readonly string[]): PcrSet | undefined {
  if (entries.length === 0) return undefined;
  const pcrs = new Map<number, Uint8Array>();
  for (const entry of entries) {
    const match = /^(\d{1,2})=(?:0x)?((?:[0-9a-fA-F]{2})+)$/.exec(entry);
    const index = Number(match?.[1]);
    const value = Buffer.from(match?.[2] ?? "", "hex");
    if (match === null || index >= MAX_PCRS || !PCR_LENGTHS.has(value.length)) {
      throw new UsageError(`--expect-pcr: expected N=HEX with N from 0 to ${MAX_PCRS - 1} and ${[...PCR_LENGTHS].join(", ")} bytes of hex, got ${JSON.stringify(entry).slice(0, 60)}`);
    }
    if (pcrs.has(index)) throw new UsageError(`--expect-pcr: PCR${index} is given twice`);
    pcrs.set(index, new Uint8Array(value));
  }
  return pcrs;
}

/** A COSE_Sign1 starts with 0x84 (an array of four) or 0xd2 (tag 18); anything else is read as base64 of one. */
function documentBytes(file: Buffer, path: string): Uint8Array {
  if (file[0] === 0x84 || file[0] === 0xd2) return new Uint8Array(file);
  const text = file.toString("latin1").replace(/\s+/g, "");
  if (text.length === 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new Error(`${path} is neither a CBOR COSE_Sign1 nor base64 of one`);
  return new Uint8Array(Buffer.from(text, "base64"));
}

const hex = (bytes: Uint8Array | undefined) => (bytes === undefined ? null : Buffer.from(bytes).toString("hex"));

function toJson(verified: VerifiedAttestation, root: string, at: Date): unknown {
  const { document } = verified;
  return {
    moduleId: document.moduleId,
    digest: document.digest,
    timestamp: document.timestamp.toISOString(),
    pcrs: Object.fromEntries([...document.pcrs].map(([index, value]) => [index, hex(value)])),
    certificate: hex(document.certificate),
    cabundle: document.cabundle.map(hex),
    publicKey: hex(document.publicKey),
    userData: hex(document.userData),
    nonce: hex(document.nonce),
    verification: {
      root,
      at: at.toISOString(),
      debug: verified.debug,
      validUntil: verified.validUntil.toISOString(),
      chain: verified.certificates.map(({ subject, notBefore, notAfter }) => ({ subject, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString() })),
    },
  };
}

export const ATTEST_COMMANDS: Record<string, Command> = {
  verify: {
    summary: "Verify an attestation document (raw CBOR or base64) and print it as JSON; exit 1 with the reason if it is not valid.",
    options: VERIFY_OPTIONS,
    positionals: ["file"],
    async run(argv, env) {
      const values = parseOptions(VERIFY_OPTIONS, argv, env, ["file"]);
      const file = values.positionals[0]!;
      const at = readInstant(values.at) ?? new Date();
      const expectedPcrs = readExpectedPcrs(values["expect-pcr"]);
      const root = values.root === undefined ? undefined : readRootCertificateFile(values.root, "--root");
      const bytes = documentBytes(readFileBounded(file, MAX_FILE_BYTES, "the document"), file);
      const verified = verifyAttestationDocument(bytes, { now: at, root, allowDebug: values["allow-debug"], expectedPcrs });
      process.stdout.write(`${JSON.stringify(toJson(verified, values.root ?? "AWS Nitro Enclaves Root G1", at), null, 2)}\n`);
    },
  },
};
