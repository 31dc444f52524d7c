import { createServer } from "node:http";
import { resolve } from "node:path";
import { DEFAULT_MAX_AGE_MS, resetPins, type AtlsVerifyOptions, type PcrPolicy } from "@strongroom/atls";
import { createMetricsServer, listen } from "@strongroom/enclave";
import { ALLOW_DEBUG_OPTION, readManifestPolicy, ROOT_OPTION } from "../attestation-options.ts";
import type { Command } from "../cli.ts";
import { readRootCertificateFile } from "../files.ts";
import { isLoopback, parseHostPort, type HostPort } from "../gateway/address.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { createProxy } from "../gateway/proxy.ts";
import { Upstream, UpstreamSet } from "../gateway/upstream.ts";
import { createLogger, LOG_LEVELS } from "../logger.ts";
import { parseOptions, UsageError, type OptionTable, type OptionValues } from "../options.ts";

/** Time for a TCP connection, the TLS handshake and verification. */
const CONNECT_TIMEOUT_MS = 10_000;
/** On SIGTERM, how long requests in flight may take to finish. */
const SHUTDOWN_GRACE_MS = 5_000;

const TOFU_OPTION = {
  name: "tofu",
  kind: "string",
  description: "pin file for trust on first use: the PCRs of the first signer verified are recorded here, and a signer of any other image is refused afterwards",
} as const;

export const GATEWAY_OPTIONS = [
  { name: "upstream", kind: "list", description: "HOST:PORT of a signer serving attested TLS; several signers of the same image are taken in turn, each verified and health-checked" },
  { name: "listen", kind: "string", default: "127.0.0.1:9001", description: "HOST:PORT where the validator client connects over plain HTTP (port 0 picks a free one)" },
  {
    name: "listen-any",
    kind: "boolean",
    default: false,
    description: "allow a --listen address other than loopback: the listening side is plain HTTP, so tokens would cross that network in the clear and whoever reaches it signs through the verified connection",
  },
  { name: "pcrs", kind: "string", description: "PCR manifest: JSON of the PCR sets a signer's image may have (several during an upgrade); excludes --tofu" },
  TOFU_OPTION,
  ROOT_OPTION,
  ALLOW_DEBUG_OPTION,
  { name: "fresh", kind: "boolean", default: false, description: "on each new connection, also ask the signer for a new document whose nonce is ours and which binds this TLS session" },
  {
    name: "max-age-minutes",
    kind: "integer",
    default: DEFAULT_MAX_AGE_MS / 60_000,
    min: 1,
    max: 10_080,
    description: "refuse a signer whose attestation document is older than this (signers re-issue theirs every 60 minutes by default)",
  },
  { name: "connections", kind: "integer", default: 16, min: 1, max: 1024, description: "aTLS connections kept open to each upstream (each new one costs a handshake and a verification)" },
  { name: "health-interval-seconds", kind: "integer", default: 5, min: 1, max: 3600, description: "how often each upstream is asked GET /upcheck" },
  { name: "metrics-port", kind: "integer", max: 65535, description: "serve Prometheus metrics on this port at /metrics (verifications, requests, upstream health)" },
  { name: "metrics-host", kind: "string", default: "127.0.0.1", description: "address of the metrics port" },
  { name: "log-level", kind: "string", default: "info", description: `one of ${LOG_LEVELS.join(", ")}` },
] as const satisfies OptionTable;

type GatewayValues = OptionValues<typeof GATEWAY_OPTIONS>;

interface GatewaySettings {
  readonly values: GatewayValues;
  readonly upstreams: readonly HostPort[];
  readonly listen: HostPort;
  readonly verify: AtlsVerifyOptions;
}

/** Every check of the command line, before anything listens or connects. */
function readGatewaySettings(argv: readonly string[], env: NodeJS.ProcessEnv): GatewaySettings {
  const values = parseOptions(GATEWAY_OPTIONS, argv, env);
  if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) {
    throw new UsageError(`--log-level: "${values["log-level"]}" is not one of ${LOG_LEVELS.join(", ")}`);
  }
  if (values.upstream.length === 0) throw new UsageError("--upstream is required: HOST:PORT of a signer serving attested TLS (repeat it for several)");
  const upstreams = values.upstream.map((value) => parseHostPort(value, "--upstream"));
  const listenAddress = parseHostPort(values.listen, "--listen");
  if (!isLoopback(listenAddress.host) && !values["listen-any"]) {
    throw new UsageError(
      `--listen: ${values.listen} is not a loopback address. The gateway's listening side is plain HTTP: the validator client's tokens would cross the network in the clear, and anyone who reaches the port signs through the verified connection. Run the gateway beside the validator client on 127.0.0.1, or give --listen-any if that network is protected otherwise`,
    );
  }
  const verify: AtlsVerifyOptions = {
    pcrPolicy: readPcrPolicy(values.pcrs, values.tofu),
    ...(values.root !== undefined && { root: readRootCertificateFile(values.root, "--root") }),
    allowDebug: values["allow-debug"],
    maxAgeMs: values["max-age-minutes"] * 60_000,
  };
  return { values, upstreams, listen: listenAddress, verify };
}

function readPcrPolicy(manifest: string | undefined, pinFile: string | undefined): PcrPolicy {
  if (manifest !== undefined && pinFile !== undefined) throw new UsageError("--pcrs and --tofu exclude each other: accept the images a manifest lists, or pin the first one seen");
  if (pinFile !== undefined) return { kind: "tofu", pinFile: resolve(pinFile) };
  if (manifest === undefined) {
    throw new UsageError("give --pcrs MANIFEST (the PCRs of the image you built or reviewed) or --tofu PINFILE (pin the first signer's image, refuse any other later)");
  }
  return readManifestPolicy(manifest, "--pcrs");
}

/**
 * `strongroom gateway`: plain HTTP on loopback for the validator client,
 * attested TLS to the signers. Each connection to a signer is verified
 * (attestation document, chain to the root, PCRs, key binding) before a
 * byte of a request is written to it.
 */
async function runGateway(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values, upstreams: addresses, listen: listenAddress, verify } = readGatewaySettings(argv, env);
  const log = createLogger(values["log-level"]);
  const metrics = new GatewayMetrics();
  const upstreamSettings = { verify, fresh: values.fresh, connections: values.connections, connectTimeoutMs: CONNECT_TIMEOUT_MS, log, metrics };
  const upstreams = new UpstreamSet(
    addresses.map((address) => new Upstream(address, upstreamSettings)),
    values["health-interval-seconds"] * 1000,
  );
  // Validator clients keep connections open; the request deadlines bound clients that trickle.
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 10_000, requestTimeout: 60_000 }, createProxy(upstreams, log, metrics));
  const metricsServer = values["metrics-port"] !== undefined ? createMetricsServer(metrics.registry) : undefined;
  let url: string;
  let metricsUrl: string | undefined;
  try {
    url = await listen(server, listenAddress.host, listenAddress.port, "http");
    if (metricsServer !== undefined) metricsUrl = await listen(metricsServer, values["metrics-host"], values["metrics-port"]!, "http");
  } catch (error) {
    server.close();
    await upstreams.close();
    throw error;
  }
  upstreams.startHealthChecks();
  const policy = verify.pcrPolicy.kind === "tofu" ? { tofu: verify.pcrPolicy.pinFile } : { pcrSets: verify.pcrPolicy.sets.length };
  log.info(
    {
      url,
      upstreams: upstreams.all.map((upstream) => upstream.name),
      ...policy,
      root: values.root ?? "AWS Nitro Enclaves Root G1",
      fresh: values.fresh,
      maxAgeMinutes: values["max-age-minutes"],
      ...(metricsUrl !== undefined && { metrics: `${metricsUrl}/metrics` }),
    },
    "gateway listening",
  );
  // Requests in flight are answered, within a bound; nothing else needs closing before the process ends.
  const stop = () => {
    log.info("shutting down");
    metricsServer?.close();
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

const PIN_OPTIONS = [
  { ...TOFU_OPTION, description: "the pin file of `strongroom gateway --tofu`" },
  { name: "reset", kind: "boolean", default: false, description: "forget the pinned PCRs: the next signer verified is pinned anew" },
] as const satisfies OptionTable;

export const GATEWAY_COMMAND: Command = {
  summary: "Plain HTTP on loopback for a validator client, attested TLS to strongroom signers (verified before any byte is sent).",
  options: GATEWAY_OPTIONS,
  run: runGateway,
  subcommands: {
    pin: {
      summary: "Manage a trust-on-first-use pin file: --reset forgets the pinned image so that a deliberate upgrade can be pinned.",
      options: PIN_OPTIONS,
      async run(argv, env) {
        const values = parseOptions(PIN_OPTIONS, argv, env);
        if (values.tofu === undefined) throw new UsageError("--tofu is required: the pin file to reset");
        if (!values.reset) throw new UsageError("nothing to do: give --reset to forget the pinned image");
        resetPins(resolve(values.tofu));
        process.stdout.write(`reset ${values.tofu}: the next signer the gateway verifies is pinned anew\n`);
      },
    },
  },
};
