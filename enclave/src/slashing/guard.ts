import type { SigningRequest, SlashingData } from "@strongroom/eth2";
import { SlashingDatabaseError, SlashingProtectionError, type Decision, type SlashingProtection } from "@strongroom/slashing";
import type { Logger } from "pino";
import { publicKeyBytes } from "../keys/public-key.ts";
import type { SignerMetrics } from "../metrics.ts";
import { RecentSignings } from "./recent-signings.ts";

export type GuardOutcome =
  | { readonly kind: "allowed" }
  | { readonly kind: "refused"; readonly message: string }
  | { readonly kind: "unavailable"; readonly message: string };

export interface SlashingHealth {
  readonly status: "UP" | "DOWN";
  readonly database: string;
  readonly error?: string;
}

const HEALTH_PROBE_INTERVAL_MS = 5_000;

/**
 * Slashing protection for the signing pipeline: the database's check-and-record
 * under a bounded time, then the in-process record of recent signings. Fails
 * closed: a database that cannot answer in time means no block or attestation.
 */
export class SlashingGuard {
  private readonly db: SlashingProtection;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly recent = new RecentSignings();
  private lastError: string | undefined;
  private readonly probe: NodeJS.Timeout;

  private readonly metrics: SignerMetrics;

  constructor(db: SlashingProtection, timeoutMs: number, log: Logger, metrics: SignerMetrics) {
    this.db = db;
    this.timeoutMs = timeoutMs;
    this.log = log;
    this.metrics = metrics;
    // Health recovers by itself: the probe notices when the database is back even without traffic.
    this.probe = setInterval(() => void this.run(() => db.ping()).catch(() => undefined), HEALTH_PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  get database(): SlashingProtection {
    return this.db;
  }

  health(): SlashingHealth {
    return this.lastError === undefined
      ? { status: "UP", database: this.db.description }
      : { status: "DOWN", database: this.db.description, error: this.lastError };
  }

  /** For BLOCK, BLOCK_V2 and ATTESTATION requests (those that carry slashing data). */
  async check(publicKey: string, request: SigningRequest, slashing: SlashingData): Promise<GuardOutcome> {
    const { signingRoot } = request;
    const genesisValidatorsRoot = request.genesisValidatorsRoot ?? new Uint8Array(32);
    let decision: Decision;
    try {
      decision = await this.run(() =>
        slashing.kind === "block"
          ? this.db.checkAndRecordBlock({ publicKey: publicKeyBytes(publicKey), slot: slashing.slot, signingRoot, genesisValidatorsRoot })
          : this.db.checkAndRecordAttestation({
              publicKey: publicKeyBytes(publicKey),
              sourceEpoch: slashing.sourceEpoch,
              targetEpoch: slashing.targetEpoch,
              signingRoot,
              genesisValidatorsRoot,
            }),
      );
    } catch (error) {
      this.log.error({ publicKey, reason: (error as Error).message }, "slashing-protection database unavailable: refusing to sign");
      return { kind: "unavailable", message: `slashing protection is unavailable (${(error as Error).message}); not signing. Retry once the database answers` };
    }
    if (!decision.allowed) {
      this.metrics.slashingRefusals.inc({ rule: decision.rule });
      this.log.warn({ publicKey, rule: decision.rule, type: request.type }, "slashing protection refused a signing");
      return { kind: "refused", message: `refused by slashing protection: ${decision.rule}: ${decision.message}` };
    }
    const conflict =
      slashing.kind === "block"
        ? this.recent.checkAndRememberBlock(publicKey, slashing.slot, signingRoot)
        : this.recent.checkAndRememberAttestation(publicKey, slashing.sourceEpoch, slashing.targetEpoch, signingRoot);
    if (conflict !== undefined) {
      this.metrics.slashingRefusals.inc({ rule: conflict });
      this.log.error({ publicKey, rule: conflict }, "the database allowed a signing that conflicts with one this signer made since it started: the database may have been rolled back or tampered with");
      return {
        kind: "refused",
        message: `refused by slashing protection: ${conflict}: conflicts with a message this signer signed since it started (the database allowed it; check it for a rollback)`,
      };
    }
    return { kind: "allowed" };
  }

  /** Runs a database operation under the time bound; updates health from its outcome. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SlashingDatabaseError(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const stopTimer = this.metrics.slashingDatabaseDuration.startTimer();
    try {
      const result = await Promise.race([operation(), deadline]);
      this.lastError = undefined;
      return result;
    } catch (error) {
      if (!(error instanceof SlashingProtectionError)) this.metrics.slashingDatabaseErrors.inc();
      // A refused import is the caller's problem; anything else means the database is not answering properly.
      if (!(error instanceof SlashingProtectionError)) this.lastError = error instanceof Error ? error.message : String(error);
      throw error;
    } finally {
      stopTimer();
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.probe);
    await this.db.close();
  }
}
