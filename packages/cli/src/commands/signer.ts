import { mkdirSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startSigner, type InMemoryKey, type RunningSigner, type SlashingProtectionOptions } from "@strongroom/enclave";
import type { Logger } from "pino";
import { createLogger, LOG_LEVELS } from "../logger.ts";
import { resolveNetwork } from "../network.ts";
import { parseOptions, UsageError, type OptionTable, type OptionValues } from "../options.ts";

export const SIGNER_OPTIONS = [
  { name: "network", kind: "string", default: "mainnet", description: "mainnet, sepolia, hoodi, gnosis, or the path of a consensus config YAML file" },
  { name: "http-host", kind: "string", default: "127.0.0.1", aliases: ["http-listen-host"], description: "address to listen on" },
  { name: "http-port", kind: "integer", default: 9000, max: 65535, aliases: ["http-listen-port"], description: "TCP port to listen on (0 picks a free port)" },
  { name: "key-config-path", kind: "string", aliases: ["key-store-path"], description: "directory of Web3Signer key-config YAML files (type file-raw or file-keystore, keyType BLS)" },
  { name: "keystores-path", kind: "string", description: "directory of EIP-2335 keystore .json files" },
  { name: "keystores-passwords-path", kind: "string", description: "directory of password files, one per keystore: <keystore name>.txt" },
  { name: "slashing-protection-enabled", kind: "boolean", default: true, description: "check every block and attestation against the slashing-protection database (Web3Signer's option); false only when another layer protects these keys" },
  { name: "slashing-protection-db-url", kind: "string", description: "postgres://user@host:port/db (Web3Signer's schema; password from PGPASSWORD or ~/.pgpass), dynamodb://table?region=…[&endpoint=…], or pglite:///dir; default: embedded PGlite under --data-path" },
  { name: "slashing-protection-in-memory", kind: "boolean", default: false, description: "keep slashing protection in memory only (lost on restart: for tests and demos)" },
  { name: "slashing-protection-db-timeout-ms", kind: "integer", default: 2000, min: 50, max: 60000, description: "bound on one database operation; past it blocks and attestations get 503" },
  { name: "data-path", kind: "string", default: defaultDataPath(), description: "directory for the embedded slashing-protection database" },
  { name: "signing-threads", kind: "integer", default: availableParallelism(), min: 1, max: 1024, description: "worker threads that compute BLS signatures" },
  { name: "decryption-threads", kind: "integer", default: availableParallelism(), min: 1, max: 1024, description: "worker threads that decrypt keystores" },
  { name: "log-level", kind: "string", default: "info", description: `one of ${LOG_LEVELS.join(", ")}` },
] as const satisfies OptionTable;

export type SignerValues = OptionValues<typeof SIGNER_OPTIONS>;

function defaultDataPath(): string {
  return join(process.env["XDG_DATA_HOME"] ?? join(homedir(), ".local", "share"), "strongroom");
}

/** Where slashing protection lives: an explicit URL, memory on request, else embedded PGlite on disk. */
function slashingProtectionOptions(values: SignerValues, log: Logger): SlashingProtectionOptions | undefined {
  if (!values["slashing-protection-enabled"]) {
    log.warn("slashing protection is disabled: blocks and attestations are signed without any check");
    return undefined;
  }
  const timeoutMs = values["slashing-protection-db-timeout-ms"];
  const url = values["slashing-protection-db-url"];
  if (url !== undefined) return { url, timeoutMs };
  if (values["slashing-protection-in-memory"]) {
    log.warn("slashing protection is in memory only: its history is lost when the signer stops, and a restarted signer can be made to sign slashable messages");
    return { url: "pglite:memory", timeoutMs };
  }
  const directory = resolve(values["data-path"], "slashing-protection");
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  return { url: pathToFileURL(directory).href.replace(/^file:/, "pglite:"), timeoutMs };
}

export function readSignerOptions(argv: readonly string[], env: NodeJS.ProcessEnv): SignerValues {
  const values = parseOptions(SIGNER_OPTIONS, argv, env);
  if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) {
    throw new UsageError(`--log-level: "${values["log-level"]}" is not one of ${LOG_LEVELS.join(", ")}`);
  }
  if (values["slashing-protection-in-memory"] && values["slashing-protection-db-url"] !== undefined) {
    throw new UsageError("--slashing-protection-in-memory and --slashing-protection-db-url exclude each other");
  }
  if ((values["keystores-path"] === undefined) !== (values["keystores-passwords-path"] === undefined)) {
    throw new UsageError("--keystores-path and --keystores-passwords-path must be given together");
  }
  return values;
}

/** Starts the standard-mode signer from resolved options; the network is validated before any key is touched. */
export async function runSigner(values: SignerValues, inMemoryKeys: readonly InMemoryKey[] = []): Promise<RunningSigner> {
  const network = resolveNetwork(values.network);
  const log = createLogger(values["log-level"]);
  const slashingProtection = slashingProtectionOptions(values, log);
  const signer = await startSigner({
    network,
    host: values["http-host"],
    port: values["http-port"],
    keySources: {
      keyConfigDir: values["key-config-path"],
      keystoresPath: values["keystores-path"],
      keystoresPasswordsPath: values["keystores-passwords-path"],
    },
    inMemoryKeys,
    slashingProtection,
    signingThreads: values["signing-threads"],
    decryptionThreads: values["decryption-threads"],
    log,
  });
  const stop = () => {
    log.info("shutting down");
    void signer.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return signer;
}
