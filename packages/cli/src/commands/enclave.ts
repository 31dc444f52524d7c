import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ENCLAVE_PORTS, LOG_SINK_PORT, PARENT_CID, SIMULATED_ENCLAVE_CID } from "@strongroom/control";
import { LogStream, startEnclave, TokenStore, type AtlsServing, type RunningEnclave, type StoreOptions } from "@strongroom/enclave";
import { createSimulatedTransport, createVsockTransport, hardenProcess, NsmClient, RealNsmDevice, type Transport } from "@strongroom/nitro";
import type { Command } from "../dispatch.ts";
import { readSimulatedImage, simulatedEnclaveNsm } from "../enclave-image.ts";
import { createLogger, LOG_LEVELS } from "../logger.ts";
import { resolveNetwork } from "../network.ts";
import { parseOptions, pickOptions, UsageError, type OptionTable, type OptionValues } from "../options.ts";
import { parsePublicKeyList } from "../public-keys.ts";
import { readUnauthenticatedPolicy } from "../auth.ts";
import { SIGNER_OPTIONS, withGenesisValidatorsRoot } from "./signer.ts";

export const ENCLAVE_OPTIONS = [
  { name: "mode", kind: "string", description: "sim (a process beside the parent, vsock over Unix sockets, simulated NSM) or nitro (inside a Nitro Enclave: AF_VSOCK, /dev/nsm)" },
  { name: "simulator-dir", kind: "string", description: "sim mode: the simulator's directory (vsock sockets, the NSM's CA)" },
  {
    name: "slashing-protection-db-url",
    kind: "string",
    description: "postgres://user@host:port/db (always TLS, verified against the host name) or dynamodb://table?region=…[&endpoint=https://…]; reached through the parent's egress proxy for that host:port",
  },
  {
    name: "vault-db-url",
    kind: "string",
    description: "dynamodb://PREFIX?region=…[&endpoint=https://…]: the vault's tables PREFIX-keys (sealed validator keys) and PREFIX-state (shares, operators), over TLS through the parent's egress; without it keys live only in memory",
  },
  { name: "kms-endpoint", kind: "string", description: "https:// endpoint of KMS instead of the region's (the simulator's); reached through the parent's egress" },
  {
    name: "administrator-token-sha256",
    kind: "string",
    description: "hex SHA-256 of the administrator token (printf %s \"$TOKEN\" | sha256sum): the token for management and Key Manager imports over aTLS, never sent through the parent",
  },
  { name: "trusted-ca-file", kind: "list", description: "sim mode only: PEM roots that outbound TLS servers must chain to (the simulator's service CA) instead of the public roots" },
  ...pickOptions(SIGNER_OPTIONS, [
    "network",
    "genesis-validators-root",
    "canary-keys",
    "seal-on-canary",
    "slashing-protection-db-timeout-ms",
    "auth-unauthenticated-policy",
    "max-concurrent-signings",
    "max-queued-signings",
    "queue-deadline-ms",
    "http-header-timeout-ms",
    "http-request-timeout-ms",
    "signing-threads",
    "decryption-threads",
    "atls-san",
    "atls-rotate-minutes",
    "log-level",
  ]),
] as const satisfies OptionTable;

export type EnclaveValues = OptionValues<typeof ENCLAVE_OPTIONS>;

export function readEnclaveOptions(argv: readonly string[], env: NodeJS.ProcessEnv): EnclaveValues {
  const values = parseOptions(ENCLAVE_OPTIONS, argv, env);
  const mode = values.mode;
  if (mode !== "sim" && mode !== "nitro") throw new UsageError(`--mode: give sim or nitro${mode === undefined ? "" : `, not "${mode}"`}`);
  if (mode === "sim" && values["simulator-dir"] === undefined) throw new UsageError("--simulator-dir: required in sim mode");
  if (mode === "nitro" && values["simulator-dir"] !== undefined) throw new UsageError("--simulator-dir: only in sim mode");
  if (mode === "nitro" && values["trusted-ca-file"].length > 0) {
    throw new UsageError("--trusted-ca-file: refused in nitro mode; an enclave verifies its database and AWS endpoints against the public roots");
  }
  if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) throw new UsageError(`--log-level: "${values["log-level"]}" is not one of ${LOG_LEVELS.join(", ")}`);
  const url = values["slashing-protection-db-url"];
  if (url === undefined) throw new UsageError("--slashing-protection-db-url: required; an enclave never signs blocks or attestations without slashing protection");
  if (!/^(postgres|postgresql|dynamodb):\/\//.test(url)) {
    throw new UsageError("--slashing-protection-db-url: an enclave keeps its slashing history outside, over TLS: use postgres:// or dynamodb:// (pglite and memory would be lost on restart)");
  }
  if (/[?&]sslmode=(disable|allow|prefer|require|verify-ca)(&|$)/.test(url)) {
    throw new UsageError("--slashing-protection-db-url: a plaintext or unverified slashing database is refused; the enclave always uses TLS with the server's certificate verified (verify-full)");
  }
  if (/[?&]endpoint=http:/.test(url)) throw new UsageError("--slashing-protection-db-url: the DynamoDB endpoint must be https://");
  const vaultUrl = values["vault-db-url"];
  if (vaultUrl !== undefined && !vaultUrl.startsWith("dynamodb://")) throw new UsageError("--vault-db-url: the vault's store is DynamoDB: dynamodb://PREFIX?region=…");
  if (vaultUrl !== undefined && /[?&]endpoint=http:/.test(vaultUrl)) throw new UsageError("--vault-db-url: the DynamoDB endpoint must be https://");
  const kmsEndpoint = values["kms-endpoint"];
  if (kmsEndpoint !== undefined && (!URL.canParse(kmsEndpoint) || new URL(kmsEndpoint).protocol !== "https:")) throw new UsageError("--kms-endpoint: give an https:// URL");
  if (kmsEndpoint !== undefined && vaultUrl === undefined) throw new UsageError("--kms-endpoint: only with --vault-db-url (KMS serves the vault)");
  const digest = values["administrator-token-sha256"];
  if (digest !== undefined && !/^[0-9a-f]{64}$/.test(digest)) throw new UsageError("--administrator-token-sha256: expected 64 lowercase hex digits");
  return values;
}

export const ENCLAVE_COMMAND: Command = {
  summary: "Run the signing core as an enclave (sim or nitro mode): aTLS API on vsock 5000, control 5001, metrics 5002.",
  options: ENCLAVE_OPTIONS,
  run: async (argv, env) => void (await runEnclave(readEnclaveOptions(argv, env))),
};

/** The transport and NSM of the mode: real vsock and /dev/nsm, or their simulations in the simulator's directory. */
async function platform(values: EnclaveValues): Promise<{ transport: Transport; nsm: NsmClient; root?: string }> {
  if (values.mode === "nitro") return { transport: createVsockTransport(), nsm: new NsmClient(await RealNsmDevice.open()) };
  const simDir = resolve(values["simulator-dir"]!);
  const { nsm, rootCertificatePath } = await simulatedEnclaveNsm(simDir, readSimulatedImage(simDir));
  return { transport: createSimulatedTransport({ simDir, cid: SIMULATED_ENCLAVE_CID }), nsm, root: rootCertificatePath };
}

/** A store with a fresh random server secret: tokens made through the API last until the enclave stops. */
function inMemoryAuth(options: StoreOptions): TokenStore {
  const secret = randomBytes(32);
  try {
    return TokenStore.inMemory(secret, options);
  } finally {
    secret.fill(0);
  }
}

/**
 * `strongroom enclave`: the signing core inside an enclave (or the
 * simulator's stand-in for one). Its logs go to the parent over vsock. Its
 * tokens and policies are kept in the vault's state table when it has a
 * vault, in memory otherwise (a restart forgets them; the configured
 * administrator is configuration and stays).
 */
export async function runEnclave(values: EnclaveValues): Promise<RunningEnclave> {
  hardenProcess();
  const network = withGenesisValidatorsRoot(resolveNetwork(values.network), values["genesis-validators-root"]);
  const canaryKeys = parsePublicKeyList(values["canary-keys"], "--canary-keys");
  const trustedCertificates = values["trusted-ca-file"].map((path) => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      throw new UsageError(`--trusted-ca-file: cannot read ${path}: ${(error as Error).message}`);
    }
  });
  const unauthenticated = values["auth-unauthenticated-policy"] === undefined ? undefined : readUnauthenticatedPolicy(values["auth-unauthenticated-policy"]);
  const { transport, nsm, root } = await platform(values);
  const logStream = new LogStream({ connect: () => transport.connect(PARENT_CID, LOG_SINK_PORT) });
  const log = createLogger(values["log-level"], logStream, "strongroom-enclave");
  const digest = values["administrator-token-sha256"];
  const authOptions = {
    ...(unauthenticated !== undefined && { unauthenticated }),
    ...(digest !== undefined && { administratorSha256: Buffer.from(digest, "hex") }),
  };
  // With a vault, tokens and policies live sealed beside it, shared by every instance, and exist only while it is unsealed.
  const auth = values["vault-db-url"] !== undefined ? TokenStore.detached("the vault is not unsealed yet", authOptions) : inMemoryAuth(authOptions);
  const atls: AtlsServing = {
    nsm,
    subjectAltNames: values["atls-san"].length > 0 ? values["atls-san"] : ["localhost"],
    rotateEveryMs: values["atls-rotate-minutes"] * 60_000,
    ...(root !== undefined && { root }),
  };
  const enclave = await startEnclave({
    transport,
    atls,
    signer: {
      network,
      auth,
      canaryKeys,
      sealOnCanary: values["seal-on-canary"],
      admission: { maxConcurrent: values["max-concurrent-signings"], maxQueued: values["max-queued-signings"], queueDeadlineMs: values["queue-deadline-ms"] },
      timeouts: { headersMs: values["http-header-timeout-ms"], requestMs: values["http-request-timeout-ms"] },
      signingThreads: values["signing-threads"],
      decryptionThreads: values["decryption-threads"],
    },
    slashingProtection: { url: values["slashing-protection-db-url"]!, timeoutMs: values["slashing-protection-db-timeout-ms"] },
    ...(values["vault-db-url"] !== undefined && { vault: { url: values["vault-db-url"], ...(values["kms-endpoint"] !== undefined && { kmsEndpoint: values["kms-endpoint"] }) } }),
    ...(trustedCertificates.length > 0 && { trustedCertificates }),
    log,
  });
  const stop = () => {
    log.info("shutting down");
    void enclave
      .close()
      .then(() => logStream.close())
      .then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  if (digest === undefined) log.warn("no --administrator-token-sha256: nobody can manage tokens or import keys in this enclave");
  log.info({ mode: values.mode, ports: ENCLAVE_PORTS }, "strongroom enclave running");
  return enclave;
}
