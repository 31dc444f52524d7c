// The untrusted parent (DESIGN.md §1, §5): it moves bytes and nothing else.
// In order: the log sink (so the enclave's first lines land), the egress
// proxies, the enclave (adopted if one already runs, else started), the
// control link and its watchdog, the ingress for clients, and metrics.
import type { Server } from "node:http";
import type { BootstrapConfig } from "@strongroom/control";
import type { Transport } from "@strongroom/nitro";
import type { Logger } from "pino";
import type { AuditRecorder } from "./audit.ts";
import type { CredentialRefresher } from "./aws/index.ts";
import { ControlLink } from "./control-link.ts";
import { startEgress, type EgressRoute } from "./egress.ts";
import { startIngress } from "./ingress.ts";
import type { EnclaveLifecycle } from "./lifecycle/types.ts";
import { startLogSink } from "./log-sink.ts";
import { createParentMetricsServer, ParentMetrics } from "./metrics.ts";
import { Watchdog, type WatchdogOptions } from "./watchdog.ts";

export interface ParentOptions {
  readonly transport: Transport;
  readonly lifecycle: EnclaveLifecycle;
  /** Where validator clients (or a gateway) connect; relayed to the enclave's aTLS port. */
  readonly ingress: { readonly host: string; readonly port: number; readonly proxyProtocol: boolean };
  readonly egress: readonly EgressRoute[];
  /** Resolve egress host names at start (off only for tests of unresolvable names). */
  readonly resolveEgress?: boolean;
  readonly region?: string;
  readonly enclaveLogLevel?: BootstrapConfig["logLevel"];
  /** Forward these AWS credentials (kept fresh) to the enclave; undefined: none. */
  readonly credentials?: CredentialRefresher;
  /** Where the enclave's log lines go (NDJSON). */
  readonly enclaveLogs: NodeJS.WritableStream;
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly audit?: AuditRecorder;
  /** Terminate the enclave when the parent stops (otherwise it keeps running, to be adopted by the next parent). */
  readonly stopEnclaveOnExit: boolean;
  readonly watchdog?: Pick<WatchdogOptions, "checkEveryMs" | "unresponsiveAfterMs" | "minBackoffMs" | "maxBackoffMs">;
  readonly log: Logger;
}

export interface RunningParent {
  /** host:port of the ingress. */
  readonly ingressUrl: string;
  readonly metricsUrl?: string;
  readonly link: ControlLink;
  close(): Promise<void>;
}

export async function startParent(options: ParentOptions): Promise<RunningParent> {
  const { transport, lifecycle, log, audit } = options;
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    const sink = await startLogSink({ transport, output: options.enclaveLogs, audit, log });
    closers.push(() => sink.close());
    const egress = await startEgress({ transport, routes: options.egress, audit, log, resolve: options.resolveEgress ?? true });
    closers.push(() => egress.close());

    if (await lifecycle.adopt()) log.info({ enclave: lifecycle.describe() }, "adopted the enclave already running");
    else {
      await lifecycle.start();
      log.info({ enclave: lifecycle.describe() }, "started the enclave");
    }
    if (options.stopEnclaveOnExit) closers.push(() => lifecycle.stop());

    const bootstrap: BootstrapConfig = {
      egress: options.egress.map(({ host, port, vsockPort }) => ({ host, port, vsockPort })),
      proxyProtocol: options.ingress.proxyProtocol,
      ...(options.region !== undefined && { region: options.region }),
      ...(options.enclaveLogLevel !== undefined && { logLevel: options.enclaveLogLevel }),
    };
    const enclaveCid = () => lifecycle.cid();
    const link = new ControlLink({ transport, enclaveCid, bootstrap, ...(options.credentials && { credentials: options.credentials }), log });
    link.start();
    closers.push(() => link.stop());

    let metrics: ParentMetrics | undefined;
    const watchdog = new Watchdog({ ...options.watchdog, lifecycle, link, log, onRestart: () => metrics?.enclaveRestarts.inc() });
    watchdog.start();
    closers.push(() => watchdog.stop());

    const ingress = await startIngress({ ...options.ingress, transport, enclaveCid, audit, log });
    closers.push(() => ingress.close());

    let metricsUrl: string | undefined;
    if (options.metrics !== undefined) {
      metrics = new ParentMetrics({
        ingressConnections: () => ingress.connections(),
        enclaveServing: () => link.health().health?.state === "serving",
        credentialsExpiry: () => options.credentials?.current()?.expiration,
      });
      const server = createParentMetricsServer(metrics, transport, enclaveCid);
      metricsUrl = await listenOn(server, options.metrics.host, options.metrics.port);
      closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    }
    if (audit !== undefined) closers.unshift(() => audit.close());
    log.info({ ingress: ingress.url, egress: options.egress.length, ...(metricsUrl && { metrics: `${metricsUrl}/metrics` }) }, "parent running");
    return { ingressUrl: ingress.url, ...(metricsUrl !== undefined && { metricsUrl }), link, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function listenOn(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new Error(`cannot listen for metrics on ${host}:${port}: ${error.message}`)));
    server.listen(port, host, resolve);
  });
  const address = server.address() as { address: string; port: number; family: string };
  return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
}
