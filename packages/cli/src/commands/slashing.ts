import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { publicKeyBytes } from "@strongroom/enclave";
import { interchangeToJson, MAX_INTERCHANGE_BYTES, openSlashingProtection, parseInterchange, type Interchange, type SlashingProtection } from "@strongroom/slashing";
import type { Command } from "../cli.ts";
import { resolveNetwork } from "../network.ts";
import { parseOptions, UsageError, type OptionTable } from "../options.ts";
import { progressBar } from "../progress.ts";
import { parsePublicKeyList } from "../public-keys.ts";

const DB_OPTION = { name: "db", kind: "string", description: "the slashing-protection database: postgres://…, dynamodb://table?region=…, or pglite:///dir" } as const;

/** Validators per import transaction: large files import in steps, with progress, without one huge transaction. */
const IMPORT_CHUNK = 256;

const IMPORT_OPTIONS = [DB_OPTION] as const satisfies OptionTable;
const EXPORT_OPTIONS = [
  DB_OPTION,
  { name: "pubkeys", kind: "string", description: "comma-separated public keys to export (default: every validator in the database)" },
] as const satisfies OptionTable;
const PRUNE_OPTIONS = [
  DB_OPTION,
  { name: "keep-epochs", kind: "integer", min: 1, description: "epochs of history to keep below each validator's latest record" },
  { name: "network", kind: "string", default: "mainnet", description: "network whose epoch length converts epochs to slots for blocks" },
] as const satisfies OptionTable;

function requireDb(db: string | undefined): string {
  if (db === undefined) throw new UsageError("--db is required: the slashing-protection database URL");
  return db;
}

async function withDatabase<T>(url: string, work: (db: SlashingProtection) => Promise<T>): Promise<T> {
  const db = await openSlashingProtection(url, { operationTimeoutMs: 120_000 });
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

function readInterchangeFile(path: string): Interchange {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (size > MAX_INTERCHANGE_BYTES) throw new UsageError(`${path} is larger than ${MAX_INTERCHANGE_BYTES} bytes; split it`);
  return parseInterchange(readFileSync(path));
}

export const SLASHING_COMMANDS: Record<string, Command> = {
  import: {
    summary: "Import an EIP-3076 interchange file (v5) into the database; the low watermark is never lowered.",
    options: IMPORT_OPTIONS,
    positionals: ["file"],
    async run(argv, env) {
      const values = parseOptions(IMPORT_OPTIONS, argv, env, ["file"]);
      const file = values.positionals[0]!;
      const url = requireDb(values.db);
      const interchange = readInterchangeFile(file);
      await withDatabase(url, async (db) => {
        const progress = progressBar("importing validators", interchange.data.length);
        let blocks = 0;
        let attestations = 0;
        // A file without validators is still imported once: its genesis validators root is checked (or recorded).
        const chunks = Math.max(1, Math.ceil(interchange.data.length / IMPORT_CHUNK));
        for (let chunk = 0; chunk < chunks; chunk++) {
          const data = interchange.data.slice(chunk * IMPORT_CHUNK, (chunk + 1) * IMPORT_CHUNK);
          const summary = await db.importInterchange({ ...interchange, data });
          blocks += summary.blocks;
          attestations += summary.attestations;
          progress.update(Math.min((chunk + 1) * IMPORT_CHUNK, interchange.data.length));
        }
        progress.finish();
        process.stdout.write(`imported ${interchange.data.length} validators, ${blocks} blocks, ${attestations} attestations from ${file} into ${db.description}\n`);
      });
    },
  },
  export: {
    summary: "Export the database (or some keys) as an EIP-3076 interchange file (v5); '-' writes to stdout.",
    options: EXPORT_OPTIONS,
    positionals: ["file"],
    async run(argv, env) {
      const values = parseOptions(EXPORT_OPTIONS, argv, env, ["file"]);
      const file = values.positionals[0]!;
      const publicKeys = values.pubkeys === undefined ? undefined : parsePublicKeyList(values.pubkeys, "--pubkeys").map(publicKeyBytes);
      const interchange = await withDatabase(requireDb(values.db), (db) => db.exportInterchange(publicKeys));
      const text = `${JSON.stringify(interchangeToJson(interchange), null, 2)}\n`;
      if (file === "-") {
        process.stdout.write(text);
        return;
      }
      // Written beside the target and renamed, so a reader never sees half a file.
      writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
      renameSync(`${file}.tmp`, file);
      process.stderr.write(`exported ${interchange.data.length} validators to ${file}\n`);
    },
  },
  prune: {
    summary: "Delete history older than --keep-epochs below each validator's latest record, raising its low watermark.",
    options: PRUNE_OPTIONS,
    async run(argv, env) {
      const values = parseOptions(PRUNE_OPTIONS, argv, env);
      if (values["keep-epochs"] === undefined) throw new UsageError("--keep-epochs is required");
      const keepEpochs = BigInt(values["keep-epochs"]);
      const { slotsPerEpoch } = resolveNetwork(values.network);
      const summary = await withDatabase(requireDb(values.db), (db) => db.prune(keepEpochs, slotsPerEpoch));
      process.stdout.write(`pruned ${summary.blocksDeleted} blocks and ${summary.attestationsDeleted} attestations\n`);
    },
  },
};
