import { mkdirSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { DEFAULT_ROTATE_EVERY_MS, MAX_ROTATE_EVERY_MS } from "@strongroom/atls";
import { DEFAULT_HTTP_TIMEOUTS, defaultAdmissionLimits, startSigner, type AtlsServing, type InMemoryKey, type RunningSigner, type SlashingProtectionOptions } from "@strongroom/enclave";
import type { Network } from "@strongroom/eth2";
import type { Logger } from "pino";
import { openAuth } from "../auth.ts";
import { buildSimulatedImage, simulatedEnclaveNsm } from "../enclave-image.ts";
import { createLogger, LOG_LEVELS } from "../logger.ts";
import { resolveNetwork } from "../network.ts";
import { parsePublicKeyList } from "../public-keys.ts";
import { parseOptions, UsageError, type OptionTable, type OptionValues } from "../options.ts";

export const SIGNER_OPTIONS = [
  { name: "network", kind: "string", default: "mainnet", description: "mainnet, sepolia, hoodi, gnosis, or the path of a consensus config YAML file" },
  { name: "genesis-validators-root", kind: "string", description: "0x-hex genesis validators root of a network given as a config file (named networks know theirs); requests for any other network are refused with 403" },
  { name: "canary-keys", kind: "string", description: "comma-separated public keys that no legitimate client names; a request naming one is logged at warn and counted" },
  { name: "seal-on-canary", kind: "boolean", default: false, description: "stop all signing when a canary key is named, until the signer is restarted" },
  { name: "http-host", kind: "string", default: "127.0.0.1", aliases: ["http-listen-host"], description: "address to listen on" },
  { name: "http-port", kind: "integer", default: 9000, max: 65535, aliases: ["http-listen-port"], description: "TCP port to listen on (0 picks a free port)" },
  { name: "key-config-path", kind: "string", aliases: ["key-store-path"], description: "directory of Web3Signer key-config YAML files (type file-raw or file-keystore, keyType BLS)" },
  { name: "keystores-path", kind: "string", description: "directory of EIP-2335 keystore .json files" },
  { name: "keystores-passwords-path", kind: "string", description: "directory of password files, one per keystore: <keystore name>.txt" },
  { name: "slashing-protection-enabled", kind: "boolean", default: true, description: "check every block and attestation against the slashing-protection database (Web3Signer's option); false only when another layer protects these keys" },
  { name: "slashing-protection-db-url", kind: "string", description: "postgres://user@host:port/db (Web3Signer's schema; password from PGPASSWORD or ~/.pgpass), dynamodb://table?region=…[&endpoint=…], or pglite:///dir; default: embedded PGlite under --data-path" },
  { name: "slashing-protection-in-memory", kind: "boolean", default: false, description: "keep slashing protection in memory only (lost on restart: for tests and demos)" },
  { name: "slashing-protection-db-timeout-ms", kind: "integer", default: 2000, min: 50, max: 60000, description: "bound on one database operation; past it blocks and attestations get 503" },
  { name: "data-path", kind: "string", description: "directory for the embedded slashing-protection database and the auth state [default: $XDG_DATA_HOME/strongroom, else ~/.local/share/strongroom]" },
  { name: "auth-state-path", kind: "string", description: "file of tokens (only their HMACs) and policies, mode 0600 [default: <data-path>/auth-state.json]" },
  { name: "auth-server-secret", kind: "string", description: "env:NAME or file:/path holding at least 32 random bytes that key the token HMACs [default: generated on first start in <data-path>/auth-server-secret]" },
  { name: "auth-unauthenticated-policy", kind: "string", description: "serve requests without a token: \"loopback\" (every scope but manage, from 127.0.0.0/8 and ::1) or a JSON/YAML file of policy rules; without it every request but /upcheck and /healthcheck needs a token" },
  { name: "auth-bootstrap-token-file", kind: "string", description: "on the first start, write the administrator token to this file (0600) instead of showing it on stderr" },
  { name: "max-concurrent-signings", kind: "integer", default: defaultAdmissionLimits().maxConcurrent, min: 1, max: 1_000_000, description: "signing requests worked on at once; more wait in the queue" },
  { name: "max-queued-signings", kind: "integer", default: defaultAdmissionLimits().maxQueued, min: 0, max: 1_000_000, description: "signing requests that may wait; beyond, 503 with Retry-After before the body is read" },
  { name: "queue-deadline-ms", kind: "integer", default: defaultAdmissionLimits().queueDeadlineMs, min: 1, max: 600_000, description: "how long a signing request may wait for a place before 503" },
  { name: "http-header-timeout-ms", kind: "integer", default: DEFAULT_HTTP_TIMEOUTS.headersMs, min: 100, max: 600_000, description: "a client must send its request headers within this time (against slow clients)" },
  { name: "http-request-timeout-ms", kind: "integer", default: DEFAULT_HTTP_TIMEOUTS.requestMs, min: 100, max: 600_000, description: "a client must send its whole request within this time" },
  { name: "metrics-enabled", kind: "boolean", default: false, description: "serve Prometheus metrics on a port of their own (Web3Signer's option)" },
  { name: "metrics-host", kind: "string", default: "127.0.0.1", description: "address of the metrics port" },
  { name: "metrics-port", kind: "integer", default: 9001, max: 65535, description: "metrics port (0 picks a free one)" },
  { name: "signing-threads", kind: "integer", default: availableParallelism(), min: 1, max: 1024, description: "worker threads that compute BLS signatures" },
  { name: "decryption-threads", kind: "integer", default: availableParallelism(), min: 1, max: 1024, description: "worker threads that decrypt keystores" },
  { name: "tls-key-file", kind: "string", description: "serve the API over TLS (1.2 or later) with this PEM private key; with --tls-cert-file" },
  { name: "tls-cert-file", kind: "string", description: "the PEM certificate (chain) for --tls-key-file" },
  {
    name: "atls-simulator-dir",
    kind: "string",
    description:
      "serve attested TLS with the NSM simulator, whose CA lives in this directory (created if missing; clients trust its attestation-root.pem); the simulated image measures the enclave program's source, and the start-up log line shows the root and PCR0/1/2 to pin. Excludes --tls-*",
  },
  { name: "atls-san", kind: "list", description: "DNS name or IP address for the aTLS certificate's subjectAltName [default: localhost and --http-host]" },
  {
    name: "atls-rotate-minutes",
    kind: "integer",
    default: DEFAULT_ROTATE_EVERY_MS / 60_000,
    min: 1,
    max: MAX_ROTATE_EVERY_MS / 60_000,
    description: "replace the aTLS key, attestation document and certificate this often (well inside the NSM certificate's 3 hours)",
  },
  { name: "log-level", kind: "string", default: "info", description: `one of ${LOG_LEVELS.join(", ")}` },
] as const satisfies OptionTable;

export type SignerValues = OptionValues<typeof SIGNER_OPTIONS>;

/** A named network knows its root; a config file's network takes it from --genesis-validators-root. */
export function withGenesisValidatorsRoot(network: Network, value: string | undefined): Network {
  if (value === undefined) return network;
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new UsageError("--genesis-validators-root: expected 0x followed by 32 bytes of hex");
  const root = new Uint8Array(Buffer.from(value.slice(2), "hex"));
  if (network.genesisValidatorsRoot !== undefined && Buffer.compare(network.genesisValidatorsRoot, root) !== 0) {
    throw new UsageError(`--genesis-validators-root: ${value} is not ${network.name}'s`);
  }
  return { ...network, genesisValidatorsRoot: root };
}

/** Looked up when a signer starts, not when this module loads: an enclave has no home directory. */
function dataPath(values: SignerValues): string {
  if (values["data-path"] !== undefined) return resolve(values["data-path"]);
  return resolve(process.env["XDG_DATA_HOME"] ?? join(homedir(), ".local", "share"), "strongroom");
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
  const directory = join(dataPath(values), "slashing-protection");
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  return { url: pathToFileURL(directory).href.replace(/^file:/, "pglite:"), timeoutMs };
}

/**
 * --atls-simulator-dir: attested TLS from a simulated NSM, the stand-in for
 * the enclave until the split system exists. Its documents vouch for the
 * simulated image of this very program (see enclave-image.ts) and chain to
 * the simulator's root, which no client trusts unless told to.
 */
async function simulatedAtls(values: SignerValues, log: Logger): Promise<AtlsServing> {
  const simDir = resolve(values["atls-simulator-dir"]!);
  const { nsm, rootCertificatePath } = await simulatedEnclaveNsm(simDir, await buildSimulatedImage(simDir));
  log.warn({ root: rootCertificatePath }, "attested TLS from the NSM simulator: its documents prove nothing about real hardware; clients must be given this root explicitly");
  const host = values["http-host"];
  // A wildcard listen address names no host a client could check; loopback clients use localhost.
  const subjectAltNames = values["atls-san"].length > 0 ? values["atls-san"] : [...new Set(["localhost", ...(host === "0.0.0.0" || host === "::" ? [] : [host])])];
  return { nsm, subjectAltNames, rotateEveryMs: values["atls-rotate-minutes"] * 60_000, root: rootCertificatePath };
}

export function readSignerOptions(argv: readonly string[], env: NodeJS.ProcessEnv): SignerValues {
  const values = parseOptions(SIGNER_OPTIONS, argv, env);
  if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) {
    throw new UsageError(`--log-level: "${values["log-level"]}" is not one of ${LOG_LEVELS.join(", ")}`);
  }
  if (values["slashing-protection-in-memory"] && values["slashing-protection-db-url"] !== undefined) {
    throw new UsageError("--slashing-protection-in-memory and --slashing-protection-db-url exclude each other");
  }
  if (values["http-header-timeout-ms"] > values["http-request-timeout-ms"]) {
    throw new UsageError("--http-header-timeout-ms must not exceed --http-request-timeout-ms");
  }
  if ((values["keystores-path"] === undefined) !== (values["keystores-passwords-path"] === undefined)) {
    throw new UsageError("--keystores-path and --keystores-passwords-path must be given together");
  }
  if ((values["tls-key-file"] === undefined) !== (values["tls-cert-file"] === undefined)) {
    throw new UsageError("--tls-key-file and --tls-cert-file must be given together");
  }
  if (values["atls-simulator-dir"] !== undefined && values["tls-key-file"] !== undefined) {
    throw new UsageError("--atls-simulator-dir and --tls-key-file/--tls-cert-file exclude each other: the signer serves attested TLS or ordinary TLS");
  }
  if (values["atls-simulator-dir"] === undefined && values["atls-san"].length > 0) {
    throw new UsageError("--atls-san applies only to attested TLS; give --atls-simulator-dir");
  }
  return values;
}

/** Starts the standard-mode signer from resolved options; the network is validated before any key is touched. */
export async function runSigner(values: SignerValues, env: NodeJS.ProcessEnv, inMemoryKeys: readonly InMemoryKey[] = []): Promise<RunningSigner> {
  const network = withGenesisValidatorsRoot(resolveNetwork(values.network), values["genesis-validators-root"]);
  const canaryKeys = parsePublicKeyList(values["canary-keys"], "--canary-keys");
  const log = createLogger(values["log-level"]);
  if (network.genesisValidatorsRoot === undefined) {
    log.warn({ network: network.name }, "no genesis validators root for this network: requests for other networks cannot be refused; give --genesis-validators-root");
  }
  const dataDirectory = dataPath(values);
  const auth = await openAuth(
    {
      statePath: resolve(values["auth-state-path"] ?? join(dataDirectory, "auth-state.json")),
      serverSecret: values["auth-server-secret"],
      generatedSecretPath: join(dataDirectory, "auth-server-secret"),
      unauthenticatedPolicy: values["auth-unauthenticated-policy"],
      bootstrapTokenFile: values["auth-bootstrap-token-file"],
    },
    env,
    log,
  );
  const slashingProtection = slashingProtectionOptions(values, log);
  const signer = await startSigner({
    auth,
    network,
    listen: { host: values["http-host"], port: values["http-port"] },
    keySources: {
      keyConfigDir: values["key-config-path"],
      keystoresPath: values["keystores-path"],
      keystoresPasswordsPath: values["keystores-passwords-path"],
    },
    inMemoryKeys,
    slashingProtection,
    canaryKeys,
    sealOnCanary: values["seal-on-canary"],
    admission: {
      maxConcurrent: values["max-concurrent-signings"],
      maxQueued: values["max-queued-signings"],
      queueDeadlineMs: values["queue-deadline-ms"],
    },
    timeouts: { headersMs: values["http-header-timeout-ms"], requestMs: values["http-request-timeout-ms"] },
    ...(values["metrics-enabled"] && { metrics: { host: values["metrics-host"], port: values["metrics-port"] } }),
    ...(values["tls-key-file"] !== undefined && { tls: { keyFile: values["tls-key-file"], certFile: values["tls-cert-file"]! } }),
    ...(values["atls-simulator-dir"] !== undefined && { atls: await simulatedAtls(values, log) }),
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
