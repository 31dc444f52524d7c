// The signing core as an enclave (modes sim and nitro, DESIGN.md §3, §5): it
// listens on vsock for the parent's control channel, waits for a bootstrap
// that says how to reach the outside, then serves the API over attested TLS
// on vsock 5000 and metrics on 5002. Everything it trusts — the network, the
// slashing database, the roots its outbound TLS verifies, who administers
// it — comes from its own (measured) configuration; the parent only supplies
// routes, credentials and a log level, all validated.
import { isDeepStrictEqual } from "node:util";
import { ENCLAVE_PORTS, PARENT_CID, serveControlStream, type BootstrapConfig, type EnclaveHealth, type EnclaveReply, type ParentMessage } from "@strongroom/control";
import type { Transport, TransportServer } from "@strongroom/nitro";
import type { Logger } from "pino";
import { startSigner, type AtlsServing, type RunningSigner, type SignerOptions, type SlashingProtectionOptions } from "../signer.ts";
import { EgressRoutes } from "./egress.ts";
import { ForwardedCredentials } from "./forwarded-credentials.ts";
import { openEnclaveVault, type OpenedVault, type VaultLocation } from "../vault/open.ts";
import type { OutboundOptions } from "@strongroom/slashing";

export interface EnclaveOptions {
  readonly transport: Transport;
  /** The signer's settings, from the enclave's configuration; where it listens and how it reaches the database come from here. */
  readonly signer: Omit<SignerOptions, "listen" | "atls" | "tls" | "metrics" | "slashingProtection" | "keySources" | "log">;
  readonly atls: AtlsServing;
  /** Slashing protection is not optional in an enclave: postgres:// or dynamodb://, over verified TLS. */
  readonly slashingProtection: Omit<SlashingProtectionOptions, "outbound">;
  /** The vault's DynamoDB tables and KMS: keys sealed under a master key that KMS releases only to this image. */
  readonly vault?: VaultLocation;
  /** Roots for outbound TLS instead of Node's bundled ones (the simulator's service CA; never in nitro mode). */
  readonly trustedCertificates?: readonly string[];
  readonly log: Logger;
}

export interface RunningEnclave {
  /** Resolves with the signer once a bootstrap has started it. */
  readonly serving: Promise<RunningSigner>;
  health(): EnclaveHealth;
  close(): Promise<void>;
}

type State = { kind: "awaiting-bootstrap"; reason?: string } | { kind: "starting"; config: BootstrapConfig } | { kind: "serving"; config: BootstrapConfig; signer: RunningSigner };

export async function startEnclave(options: EnclaveOptions): Promise<RunningEnclave> {
  const { log, transport } = options;
  const started = Date.now();
  const credentials = new ForwardedCredentials();
  let state: State = { kind: "awaiting-bootstrap" };
  let closeVault = () => {};
  let onServing: (signer: RunningSigner) => void = () => {};
  const serving = new Promise<RunningSigner>((resolve) => (onServing = resolve));

  const health = (): EnclaveHealth => {
    const expiration = credentials.expiration();
    return {
      state: state.kind,
      keys: state.kind === "serving" ? state.signer.keys.size : 0,
      uptimeSeconds: Math.floor((Date.now() - started) / 1000),
      ...(expiration !== undefined && { credentialsExpiration: expiration.toISOString() }),
      ...(state.kind === "awaiting-bootstrap" && state.reason !== undefined && { reason: state.reason }),
    };
  };

  const bootstrap = async (config: BootstrapConfig): Promise<EnclaveReply> => {
    if (state.kind !== "awaiting-bootstrap") {
      // A restarted parent bootstraps again: the same configuration is welcome, another one is not.
      if (isDeepStrictEqual(state.config, config)) return { type: "ok" };
      return { type: "error", message: "already bootstrapped with another configuration; restart the enclave to change it" };
    }
    state = { kind: "starting", config };
    if (config.logLevel !== undefined) log.level = config.logLevel;
    const egress = new EgressRoutes(transport, config.egress);
    const outbound: OutboundOptions = {
      connect: (host, port) => egress.connect(host, port),
      awsCredentials: credentials.provider,
      ...(options.trustedCertificates !== undefined && { ca: options.trustedCertificates }),
    };
    let opened: OpenedVault | undefined;
    try {
      opened = options.vault && (await openEnclaveVault(options.vault, options.atls.nsm, outbound, config.region, log));
      const signer = await startSigner({
        ...options.signer,
        listen: { transport, apiPort: ENCLAVE_PORTS.api, metricsPort: ENCLAVE_PORTS.metrics, proxyProtocol: config.proxyProtocol },
        atls: options.atls,
        keySources: {},
        slashingProtection: { ...options.slashingProtection, outbound },
        ...(opened !== undefined && { vault: { vault: opened.vault, store: opened.store } }),
        log,
      });
      state = { kind: "serving", config, signer };
      closeVault = () => opened?.close();
      onServing(signer);
      log.info({ egress: config.egress.length, proxyProtocol: config.proxyProtocol }, "bootstrapped: serving");
      return { type: "ok" };
    } catch (error) {
      // The parent tries again (the database may be coming up); nothing was left listening.
      opened?.close();
      const reason = (error as Error).message;
      state = { kind: "awaiting-bootstrap", reason };
      log.error({ reason }, "bootstrap failed; waiting for the parent to try again");
      return { type: "error", message: `bootstrap failed: ${reason}` };
    }
  };

  const handle = async (message: ParentMessage): Promise<EnclaveReply> => {
    switch (message.type) {
      case "bootstrap":
        return bootstrap(message.config);
      case "credentials":
        credentials.update(message.credentials);
        log.debug({ expiration: message.credentials.expiration ?? "never" }, "AWS credentials updated");
        return { type: "ok" };
      case "health":
        return { type: "health", health: health() };
    }
  };

  const control: TransportServer = await transport.listen(ENCLAVE_PORTS.control, (stream) => {
    if (stream.remoteCid !== PARENT_CID && transport.kind === "vsock") {
      // Only the parent instance talks to the control port.
      log.warn({ cid: stream.remoteCid }, "control connection from a CID other than the parent's refused");
      stream.destroy();
      return;
    }
    serveControlStream(stream, handle, (reason) => log.warn({ reason }, "control message refused"));
  });
  log.info({ transport: transport.kind, ports: ENCLAVE_PORTS }, "enclave started; waiting for the parent's bootstrap");

  return {
    serving,
    health,
    async close() {
      await control.close();
      if (state.kind === "serving") await state.signer.close();
      closeVault();
    },
  };
}
