import type { ServerResponse } from "node:http";
import type { SignerMetrics } from "../metrics.ts";

/** GET /metrics in Prometheus' text format: on the metrics port, and on the API for scope `metrics`. */
export function handleMetrics(metrics: SignerMetrics, res: ServerResponse): void {
  void metrics.registry.metrics().then(
    (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
    () => res.writeHead(500).end(),
  );
}
