// The parent's Prometheus endpoint on TCP: its own counters, followed by the
// enclave's (fetched over vsock 5002 on each scrape — counts only, plain HTTP
// inside the host), so one scrape target covers both. The enclave's answer is
// bounded and relayed as text; an unreachable enclave shows as
// strongroom_parent_enclave_metrics_up 0, never as a failed scrape.
import { createServer, request, type Server } from "node:http";
import { ENCLAVE_PORTS } from "@strongroom/control";
import type { Transport } from "@strongroom/nitro";
import { Counter, Gauge, Registry } from "prom-client";

const MAX_ENCLAVE_METRICS_BYTES = 4 << 20;
const ENCLAVE_METRICS_TIMEOUT_MS = 3_000;

export class ParentMetrics {
  readonly registry = new Registry();
  readonly enclaveRestarts = new Counter({ name: "strongroom_parent_enclave_restarts_total", help: "Enclaves the watchdog restarted", registers: [this.registry] });
  readonly enclaveMetricsUp = new Gauge({ name: "strongroom_parent_enclave_metrics_up", help: "1 when the enclave answered the last metrics scrape", registers: [this.registry] });

  constructor(sources: { ingressConnections: () => number; enclaveServing: () => boolean; credentialsExpiry: () => Date | undefined }) {
    new Gauge({
      name: "strongroom_parent_ingress_connections",
      help: "Client connections relayed to the enclave now",
      registers: [this.registry],
      collect() {
        this.set(sources.ingressConnections());
      },
    });
    new Gauge({
      name: "strongroom_parent_enclave_serving",
      help: "1 when the enclave reports it serves the API",
      registers: [this.registry],
      collect() {
        this.set(sources.enclaveServing() ? 1 : 0);
      },
    });
    new Gauge({
      name: "strongroom_parent_aws_credentials_expiry_seconds",
      help: "Unix time at which the forwarded AWS credentials expire (absent without expiring credentials)",
      registers: [this.registry],
      collect() {
        const expiry = sources.credentialsExpiry();
        if (expiry !== undefined) this.set(expiry.getTime() / 1000);
      },
    });
  }
}

/** GET /metrics: the parent's metrics, then the enclave's. */
export function createParentMetricsServer(metrics: ParentMetrics, transport: Transport, enclaveCid: () => number | undefined): Server {
  return createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics here\n");
      return;
    }
    void (async () => {
      const enclave = await enclaveMetrics(transport, enclaveCid()).catch(() => undefined);
      metrics.enclaveMetricsUp.set(enclave === undefined ? 0 : 1);
      const own = await metrics.registry.metrics();
      res.writeHead(200, { "content-type": metrics.registry.contentType }).end(enclave === undefined ? own : `${own}\n${enclave}`);
    })();
  });
}

async function enclaveMetrics(transport: Transport, cid: number | undefined): Promise<string> {
  if (cid === undefined) throw new Error("no enclave");
  const stream = await transport.connect(cid, ENCLAVE_PORTS.metrics);
  return new Promise((resolve, reject) => {
    const req = request({ createConnection: () => stream as never, path: "/metrics", headers: { host: "enclave" }, timeout: ENCLAVE_METRICS_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ENCLAVE_METRICS_BYTES) req.destroy(new Error("enclave metrics too large"));
        else chunks.push(chunk);
      });
      res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error(`enclave metrics answered ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("enclave metrics timed out")));
    req.on("error", reject);
    req.end();
  });
}
