import { createServer, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

/** GET /metrics in Prometheus' text format: on the metrics port, and on the API for scope `metrics`. */
export function handleMetrics(registry: Registry, res: ServerResponse): void {
  void registry.metrics().then(
    (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
    () => res.writeHead(500).end(),
  );
}

/** A metrics port: GET /metrics and nothing else. Counts only, so no token is asked for. */
export function createMetricsServer(registry: Registry): Server {
  return createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    handleMetrics(registry, res);
  });
}
