import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The signer's Prometheus metrics (DESIGN.md §10), in a registry of its own so
 * that two signers in one process (tests) do not share counters. Labels carry
 * only public values: routes, signing types, statuses, rule names, public keys.
 */
export class SignerMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: "strongroom_requests_total",
    help: "HTTP requests by route, signing type and status",
    labelNames: ["route", "type", "status"] as const,
    registers: [this.registry],
  });

  readonly signingDuration = new Histogram({
    name: "strongroom_signing_duration_seconds",
    help: "Time from admission to response of signing requests that were answered with a signature",
    labelNames: ["type"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly slashingRefusals = new Counter({
    name: "strongroom_slashing_refusals_total",
    help: "Signings refused by slashing protection, by rule",
    labelNames: ["rule"] as const,
    registers: [this.registry],
  });

  readonly slashingDatabaseDuration = new Histogram({
    name: "strongroom_slashing_db_duration_seconds",
    help: "Duration of slashing-protection database operations",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly slashingDatabaseErrors = new Counter({
    name: "strongroom_slashing_db_errors_total",
    help: "Slashing-protection database operations that failed or timed out",
    registers: [this.registry],
  });

  readonly backpressureRejections = new Counter({
    name: "strongroom_backpressure_rejections_total",
    help: "Signing requests refused with 503 because the signer was overloaded",
    registers: [this.registry],
  });

  readonly canarySignings = new Counter({
    name: "strongroom_canary_signing_total",
    help: "Requests that named a canary key",
    labelNames: ["pubkey"] as const,
    registers: [this.registry],
  });

  readonly authRefusals = new Counter({
    name: "strongroom_auth_refusals_total",
    help: "Requests refused by authentication (401: missing, malformed, unknown, expired, policy_gone, unavailable while the vault is sealed) or by policy (403: forbidden)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  /** Label children by their labels: looked up for every request, so made once. */
  private readonly children = new Map<string, object>();

  private child<T extends object>(key: string, make: () => T): T {
    let child = this.children.get(key) as T | undefined;
    if (child === undefined) {
      child = make();
      this.children.set(key, child);
    }
    return child;
  }

  /** Counts one answered request. */
  countRequest(route: string, type: string, status: number): void {
    this.child(`requests|${route}|${type}|${status}`, () => this.requests.labels(route, type, String(status))).inc();
  }

  countAuthRefusal(reason: string): void {
    this.child(`auth|${reason}`, () => this.authRefusals.labels(reason)).inc();
  }

  observeSigning(type: string, seconds: number): void {
    this.child(`signing|${type}`, () => this.signingDuration.labels(type)).observe(seconds);
  }

  /** The vault's state as a gauge per state (1 for the current one), for signers with a vault. */
  watchVault(state: () => string, failedKeys: () => number): void {
    const states = ["uninitialized", "sealed", "unsealed", "awaiting_rotation"];
    new Gauge({
      name: "strongroom_vault_state",
      help: "The vault's state: 1 for the current one (uninitialized, sealed, unsealed, awaiting_rotation)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const now = state();
        for (const s of states) this.labels(s).set(s === now ? 1 : 0);
      },
    });
    new Gauge({
      name: "strongroom_vault_keys_failed",
      help: "Sealed keys whose stored envelope did not open (they stay out of the signer)",
      registers: [this.registry],
      collect() {
        this.set(failedKeys());
      },
    });
  }

  constructor(keys: () => { total: number; loaded: number; failed: number; active: number }) {
    const loading = (name: string, help: string, pick: (k: ReturnType<typeof keys>) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(pick(keys()));
        },
      });
    loading("strongroom_keys_active", "Keys the signer can sign with now", (k) => k.active);
    loading("strongroom_keys_loading_total", "Keys found in the configured key sources", (k) => k.total);
    loading("strongroom_keys_loaded", "Keys from the key sources loaded so far", (k) => k.loaded);
    loading("strongroom_keys_failed", "Keys from the key sources that could not be loaded", (k) => k.failed);
    collectDefaultMetrics({ register: this.registry, prefix: "strongroom_" });
  }
}
