import { AtlsVerificationError, connectAtls, type AtlsVerifyOptions, type VerifiedPeer } from "@strongroom/atls";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { Pool } from "undici";
import { formatHostPort, type HostPort } from "./address.ts";
import type { GatewayMetrics } from "./metrics.ts";

export interface UpstreamSettings {
  readonly verify: AtlsVerifyOptions;
  /** Ask each new connection's signer for a fresh document bound to the session. */
  readonly fresh: boolean;
  /** aTLS connections kept open to each upstream. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
}

/** Idle connections close before the signer's 65 s keep-alive would close them under a request. */
const KEEP_ALIVE_MS = 60_000;
const HEALTH_TIMEOUT_MS = 5_000;

/**
 * A connection to an upstream that never carried a byte of the request: the
 * signer was unreachable, or its attestation failed verification (`refused`).
 * Another upstream may take the request.
 */
export class ConnectFailure extends Error {
  override readonly name = "ConnectFailure";
  readonly upstream: string;
  readonly refused: boolean;
  constructor(upstream: string, cause: unknown) {
    const refused = cause instanceof AtlsVerificationError;
    super(refused ? `${upstream} failed attestation (${cause.reason}): ${cause.message}` : `${upstream} is unreachable: ${describeError(cause)}`, { cause });
    this.upstream = upstream;
    this.refused = refused;
  }
}

/** The short reason of a network or HTTP client error. */
export function describeError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  return code !== undefined && message !== undefined && !message.includes(code) ? `${code} (${message})` : (message ?? code ?? String(error));
}

/**
 * One signer behind attested TLS: a keep-alive pool whose every connection
 * is verified before undici writes to it (connectAtls resolves only then),
 * and whether it answered its last health check.
 */
export class Upstream {
  readonly name: string;
  readonly pool: Pool;
  private readonly address: HostPort;
  private readonly settings: UpstreamSettings;
  /** Why it is out of rotation; undefined while healthy (and before the first check). */
  private downReason: string | undefined;

  constructor(address: HostPort, settings: UpstreamSettings) {
    this.address = address;
    this.settings = settings;
    this.name = formatHostPort(address);
    this.pool = new Pool(`https://${this.name}`, {
      connections: settings.connections,
      connect: (_options, callback) => {
        this.connect().then(
          (socket) => callback(null, socket),
          (failure: ConnectFailure) => callback(failure, null),
        );
      },
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: KEEP_ALIVE_MS,
    });
    settings.metrics.healthy.set({ upstream: this.name }, 1);
  }

  get healthy(): boolean {
    return this.downReason === undefined;
  }

  /** A verified connection, logged and counted; any failure becomes a ConnectFailure and takes the upstream out of rotation. */
  private async connect(): Promise<TLSSocket> {
    const { verify, fresh, connectTimeoutMs, log, metrics } = this.settings;
    try {
      const { socket, peer } = await connectAtls({ ...verify, host: this.address.host, port: this.address.port, fresh, timeoutMs: connectTimeoutMs });
      // Each request is one small write that should leave at once, as undici's own connector arranges.
      socket.setNoDelay(true);
      metrics.verifications.inc({ upstream: this.name, outcome: "verified" });
      log.info({ upstream: this.name, ...describePeer(peer), fingerprint: socket.getPeerX509Certificate()?.fingerprint256, fresh }, "upstream verified");
      return socket;
    } catch (error) {
      const failure = new ConnectFailure(this.name, error);
      metrics.verifications.inc({ upstream: this.name, outcome: failure.refused ? "refused" : "error" });
      if (error instanceof AtlsVerificationError) {
        log.error({ upstream: this.name, failure: error.reason, reason: error.message }, "upstream refused: its attestation failed verification; nothing was sent to it");
      } else {
        log.warn({ upstream: this.name, reason: describeError(error) }, "upstream unreachable");
      }
      this.markDown(failure.message);
      throw failure;
    }
  }

  /** GET /upcheck over the pool (so over verified aTLS). */
  async checkHealth(): Promise<void> {
    try {
      const { statusCode, body } = await this.pool.request({ method: "GET", path: "/upcheck", headersTimeout: HEALTH_TIMEOUT_MS, bodyTimeout: HEALTH_TIMEOUT_MS });
      await body.dump();
      if (statusCode === 200) this.markUp();
      else this.markDown(`${this.name} answered GET /upcheck with ${statusCode}`);
    } catch (error) {
      this.markDown(error instanceof ConnectFailure ? error.message : `${this.name} failed GET /upcheck: ${describeError(error)}`);
    }
  }

  markDown(reason: string): void {
    if (this.downReason === undefined) {
      this.settings.log.warn({ upstream: this.name, reason }, "upstream unhealthy: healthy upstreams take its requests until it answers GET /upcheck again");
      this.settings.metrics.healthy.set({ upstream: this.name }, 0);
    }
    this.downReason = reason;
  }

  private markUp(): void {
    if (this.downReason === undefined) return;
    this.downReason = undefined;
    this.settings.metrics.healthy.set({ upstream: this.name }, 1);
    this.settings.log.info({ upstream: this.name }, "upstream healthy again");
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

function describePeer(peer: VerifiedPeer): Record<string, unknown> {
  const hex = (index: number) => {
    const value = peer.pcrs.get(index);
    return value === undefined ? undefined : Buffer.from(value).toString("hex");
  };
  return {
    moduleId: peer.moduleId,
    documentTime: peer.timestamp.toISOString(),
    pcr0: hex(0),
    ...(peer.debug && { debug: true }),
    ...(peer.pinned !== undefined && { pinned: peer.pinned }),
  };
}

/**
 * The upstreams, taken in turn: round-robin over the healthy ones. When none
 * is healthy every one is tried, so that a signer that has just come back
 * (or the only one, before its next check) is found at once.
 */
export class UpstreamSet {
  readonly all: readonly Upstream[];
  private readonly healthIntervalMs: number;
  private turn = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(upstreams: readonly Upstream[], healthIntervalMs: number) {
    this.all = upstreams;
    this.healthIntervalMs = healthIntervalMs;
  }

  /** The upstreams to try for one request, in order. */
  candidates(): Upstream[] {
    const healthy = this.all.filter((upstream) => upstream.healthy);
    const from = healthy.length > 0 ? healthy : this.all;
    const start = this.turn++ % from.length;
    return [...from.slice(start), ...from.slice(0, start)];
  }

  /** Checks every upstream now, then every interval after the previous round ends. */
  startHealthChecks(): void {
    const round = async () => {
      await Promise.all(this.all.map((upstream) => upstream.checkHealth()));
      if (!this.closed) this.timer = setTimeout(() => void round(), this.healthIntervalMs);
    };
    void round();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await Promise.all(this.all.map((upstream) => upstream.close()));
  }
}
