import { Counter, Gauge, Registry } from "prom-client";

/** How a connection attempt to an upstream ended. */
export type VerificationOutcome = "verified" | "refused" | "error";

/** The gateway's Prometheus metrics: counts and upstream names only. */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly verifications = new Counter({
    name: "strongroom_gateway_verifications_total",
    help: "aTLS connections to upstreams by outcome: verified, refused (the attestation failed verification; nothing was sent), error (no TLS peer to verify)",
    labelNames: ["upstream", "outcome"] as const,
    registers: [this.registry],
  });

  readonly requests = new Counter({
    name: "strongroom_gateway_requests_total",
    help: "Requests from the validator client by upstream (\"none\" when no upstream took it) and status",
    labelNames: ["upstream", "status"] as const,
    registers: [this.registry],
  });

  readonly healthy = new Gauge({
    name: "strongroom_gateway_upstream_healthy",
    help: "1 while the upstream answers GET /upcheck over verified aTLS, else 0",
    labelNames: ["upstream"] as const,
    registers: [this.registry],
  });

  /** Label children by their labels: one lookup per request instead of hashing the labels. */
  private readonly requestCounters = new Map<string, { inc(): void }>();

  countRequest(upstream: string, status: number): void {
    const key = `${upstream}|${status}`;
    let counter = this.requestCounters.get(key);
    if (counter === undefined) {
      counter = this.requests.labels(upstream, String(status));
      this.requestCounters.set(key, counter);
    }
    counter.inc();
  }
}
