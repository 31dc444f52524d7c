import { createWriteStream } from "node:fs";
import { resolve } from "node:path";
import { LOG_LEVELS as ENCLAVE_LOG_LEVELS, PARENT_CID, type LogLevel } from "@strongroom/control";
import { createSimulatedTransport, createVsockTransport, type Transport } from "@strongroom/nitro";
import {
  AuditRecorder,
  CREDENTIAL_SOURCE_CHOICES,
  CredentialRefresher,
  NitroEnclaveLifecycle,
  parseEgressAllowlist,
  selectCredentialSource,
  SimEnclaveLifecycle,
  startParent,
  type CredentialSourceChoice,
  type EgressRoute,
  type EnclaveLifecycle,
  type RunningParent,
} from "@strongroom/parent";
import type { Logger } from "pino";
import { createLogger, LOG_LEVELS } from "../logger.ts";
import { parseOptions, UsageError, type OptionTable, type OptionValues } from "../options.ts";

export const PARENT_OPTIONS = [
  { name: "mode", kind: "string", description: "sim (the enclave is a local process, vsock over Unix sockets) or nitro (a Nitro Enclave run with nitro-cli)" },
  { name: "simulator-dir", kind: "string", description: "sim mode: the simulator's directory (vsock sockets, pid file, the enclave's console log)" },
  { name: "enclave-config", kind: "string", description: "sim mode: the YAML options file of `strongroom enclave` (what a real image bakes in)" },
  { name: "eif-path", kind: "string", description: "nitro mode: the enclave image file" },
  { name: "cpu-count", kind: "integer", default: 2, min: 1, max: 1024, description: "nitro mode: vCPUs for the enclave (even on hyperthreaded hosts)" },
  { name: "memory-mib", kind: "integer", default: 4096, min: 64, max: 1 << 24, description: "nitro mode: memory for the enclave" },
  { name: "enclave-cid", kind: "integer", min: 4, max: 4294967294, description: "nitro mode: the enclave's CID [default: chosen by nitro-cli]" },
  { name: "enclave-name", kind: "string", default: "strongroom", description: "nitro mode: the enclave's name, by which a restarted parent finds it again" },
  { name: "debug-mode", kind: "boolean", default: false, description: "nitro mode: run the enclave in debug mode (its attestation documents have all-zero PCRs, which clients refuse)" },
  { name: "nitro-cli", kind: "string", default: "nitro-cli", description: "nitro mode: the nitro-cli program" },
  { name: "ingress-host", kind: "string", default: "127.0.0.1", description: "TCP address clients (or a strongroom gateway) connect to; relayed to the enclave's aTLS port" },
  { name: "ingress-port", kind: "integer", default: 9000, max: 65535, description: "TCP port of the ingress (0 picks a free one)" },
  { name: "proxy-protocol", kind: "boolean", default: true, description: "tell the enclave each client's address with a PROXY v2 header (the enclave has only the parent's word for it)" },
  { name: "egress", kind: "list", description: "host:port the enclave may reach (its slashing database, KMS, DynamoDB); each gets a vsock port from 8000 in order" },
  { name: "aws-region", kind: "string", description: "AWS region for the enclave's SDK clients" },
  {
    name: "aws-credentials",
    kind: "string",
    default: "none",
    description: `forward the parent's AWS credentials to the enclave, kept fresh: none, or ${CREDENTIAL_SOURCE_CHOICES.join(", ")} (auto: environment, then ECS/EKS container endpoint, then IMDSv2)`,
  },
  { name: "credentials-refresh-before-seconds", kind: "integer", default: 900, min: 1, max: 86_400, description: "fetch new AWS credentials this long before the current ones expire (at most half their lifetime)" },
  { name: "enclave-log-file", kind: "string", description: "append the enclave's logs (NDJSON) to this file [default: stdout, beside the parent's own]" },
  { name: "enclave-log-level", kind: "string", description: `the enclave's log level, sent at bootstrap: one of ${ENCLAVE_LOG_LEVELS.join(", ")}` },
  { name: "metrics-enabled", kind: "boolean", default: true, description: "serve Prometheus metrics (the parent's and the enclave's) on TCP" },
  { name: "metrics-host", kind: "string", default: "127.0.0.1", description: "address of the metrics port" },
  { name: "metrics-port", kind: "integer", default: 9101, max: 65535, description: "metrics port (0 picks a free one)" },
  { name: "audit-file", kind: "string", description: "record every byte relayed, per channel, to this file (boundary audits and tests)" },
  { name: "stop-enclave-on-exit", kind: "boolean", default: false, description: "terminate the enclave when the parent stops; by default it keeps running and the next parent adopts it" },
  { name: "log-level", kind: "string", default: "info", description: `one of ${LOG_LEVELS.join(", ")}` },
] as const satisfies OptionTable;

export type ParentValues = OptionValues<typeof PARENT_OPTIONS>;

export function readParentOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ParentValues & { readonly routes: readonly EgressRoute[] } {
  const values = parseOptions(PARENT_OPTIONS, argv, env);
  const { mode } = values;
  if (mode !== "sim" && mode !== "nitro") throw new UsageError(`--mode: give sim or nitro${mode === undefined ? "" : `, not "${mode}"`}`);
  const only = (names: readonly (keyof ParentValues)[], inMode: "sim" | "nitro") => {
    for (const name of names) if (mode !== inMode && values[name] !== undefined) throw new UsageError(`--${name}: only in ${inMode} mode`);
  };
  only(["simulator-dir", "enclave-config"], "sim");
  only(["eif-path", "enclave-cid"], "nitro");
  if (mode === "sim" && (values["simulator-dir"] === undefined || values["enclave-config"] === undefined)) throw new UsageError("--simulator-dir and --enclave-config: required in sim mode");
  if (mode === "nitro" && values["eif-path"] === undefined) throw new UsageError("--eif-path: required in nitro mode");
  if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) throw new UsageError(`--log-level: "${values["log-level"]}" is not one of ${LOG_LEVELS.join(", ")}`);
  const enclaveLevel = values["enclave-log-level"];
  if (enclaveLevel !== undefined && !(ENCLAVE_LOG_LEVELS as readonly string[]).includes(enclaveLevel)) {
    throw new UsageError(`--enclave-log-level: "${enclaveLevel}" is not one of ${ENCLAVE_LOG_LEVELS.join(", ")}`);
  }
  const credentials = values["aws-credentials"];
  if (credentials !== "none" && !(CREDENTIAL_SOURCE_CHOICES as readonly string[]).includes(credentials)) {
    throw new UsageError(`--aws-credentials: "${credentials}" is not none or one of ${CREDENTIAL_SOURCE_CHOICES.join(", ")}`);
  }
  let routes: EgressRoute[];
  try {
    routes = parseEgressAllowlist(values.egress);
  } catch (error) {
    throw new UsageError(`--egress: ${(error as Error).message}`);
  }
  return { ...values, routes };
}

function lifecycleFor(values: ParentValues, log: Logger): EnclaveLifecycle {
  if (values.mode === "nitro") {
    return new NitroEnclaveLifecycle({
      command: values["nitro-cli"],
      run: {
        eifPath: resolve(values["eif-path"]!),
        cpuCount: values["cpu-count"],
        memoryMiB: values["memory-mib"],
        enclaveName: values["enclave-name"],
        debugMode: values["debug-mode"],
        ...(values["enclave-cid"] !== undefined && { enclaveCid: values["enclave-cid"] }),
      },
      log,
    });
  }
  const simDir = resolve(values["simulator-dir"]!);
  // The same program that runs this parent (built or from source, with the same Node flags) runs the enclave.
  const command: [string, ...string[]] = [
    process.execPath,
    ...process.execArgv,
    process.argv[1]!,
    "enclave",
    "--mode=sim",
    `--simulator-dir=${simDir}`,
    `--config=${resolve(values["enclave-config"]!)}`,
  ];
  return new SimEnclaveLifecycle({ simDir, command, log });
}

function transportFor(values: ParentValues): Transport {
  return values.mode === "nitro" ? createVsockTransport() : createSimulatedTransport({ simDir: resolve(values["simulator-dir"]!), cid: PARENT_CID });
}

/** `strongroom parent`: the untrusted half beside the enclave. */
export async function runParent(values: ParentValues & { readonly routes: readonly EgressRoute[] }, env: NodeJS.ProcessEnv): Promise<RunningParent> {
  const log = createLogger(values["log-level"], undefined, "strongroom-parent");
  let credentials: CredentialRefresher | undefined;
  if (values["aws-credentials"] !== "none") {
    credentials = new CredentialRefresher({
      source: selectCredentialSource(values["aws-credentials"] as CredentialSourceChoice, { env }),
      refreshBeforeMs: values["credentials-refresh-before-seconds"] * 1000,
      log,
    });
    credentials.start();
    await credentials.ready();
  }
  const enclaveLogs = values["enclave-log-file"] === undefined ? process.stdout : createWriteStream(resolve(values["enclave-log-file"]), { flags: "a", mode: 0o600 });
  const parent = await startParent({
    transport: transportFor(values),
    lifecycle: lifecycleFor(values, log),
    ingress: { host: values["ingress-host"], port: values["ingress-port"], proxyProtocol: values["proxy-protocol"] },
    egress: values.routes,
    ...(values["aws-region"] !== undefined && { region: values["aws-region"] }),
    ...(values["enclave-log-level"] !== undefined && { enclaveLogLevel: values["enclave-log-level"] as LogLevel }),
    ...(credentials && { credentials }),
    enclaveLogs,
    ...(values["metrics-enabled"] && { metrics: { host: values["metrics-host"], port: values["metrics-port"] } }),
    ...(values["audit-file"] !== undefined && { audit: AuditRecorder.open(resolve(values["audit-file"])) }),
    stopEnclaveOnExit: values["stop-enclave-on-exit"],
    log,
  });
  const stop = () => {
    log.info("shutting down");
    credentials?.stop();
    void parent.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return parent;
}
