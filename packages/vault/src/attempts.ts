import { VaultError } from "./errors.ts";

/**
 * Rate limiting of wrong operator credentials. A passphrase record costs an
 * offline attacker scrypt per guess, but online guessing through the enclave
 * would cost only the enclave's time; this bounds it per operator:
 *
 * - `maxFailures` wrong credentials within a sliding `windowMs` lock the
 *   operator out for `baseLockoutMs`, doubling with each further lockout up
 *   to `maxLockoutMs`. Defaults: 5 within 15 min; 1 min, 2, 4, … capped at
 *   1 h. With the cap, a guesser gets at most ~5 tries an hour.
 * - The lockout level is forgotten after `forgetAfterMs` (24 h) without a
 *   failure, or at once after a success.
 * - One attempt per operator at a time (`attempt`): otherwise a burst of
 *   concurrent submissions would all run before the first failure counts.
 *
 * Keyed by operator id: call it with the ids of registered operators only
 * (the aTLS session's), not with arbitrary names from a request, or an
 * attacker fills the table (it is bounded by `maxOperators` anyway).
 * In memory: a restart clears it, and a restart also means sealed.
 */
export interface AttemptsPolicy {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly baseLockoutMs: number;
  readonly maxLockoutMs: number;
  readonly forgetAfterMs: number;
  readonly maxOperators: number;
}

export const DEFAULT_ATTEMPTS_POLICY: AttemptsPolicy = {
  maxFailures: 5,
  windowMs: 15 * 60_000,
  baseLockoutMs: 60_000,
  maxLockoutMs: 60 * 60_000,
  forgetAfterMs: 24 * 60 * 60_000,
  maxOperators: 10_000,
};

/** Refusal while an operator is locked out; `retryAfterMs` is public and suits a Retry-After header. */
export class CredentialLockedError extends VaultError {
  override name = "CredentialLockedError";
  readonly retryAfterMs: number;
  constructor(operatorId: string, retryAfterMs: number) {
    super(`operator "${operatorId}" is locked out after too many wrong credentials; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.retryAfterMs = retryAfterMs;
  }
}

export interface AttemptStatus {
  /** Failures inside the current window. */
  readonly failures: number;
  /** 0 when not locked out. */
  readonly lockedForMs: number;
  /** Lockouts so far (the next one lasts base · 2^lockouts, capped). */
  readonly lockouts: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
  lockouts: number;
  lastFailureAt: number;
  inFlight: boolean;
}

export class CredentialAttempts {
  readonly policy: AttemptsPolicy;
  readonly #now: () => number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #entries = new Map<string, Entry>();

  /**
   * `now` is the clock (ms; injectable for tests). `isFailure` decides which
   * errors of `attempt`'s callback are wrong credentials; by default every
   * VaultError, so the callback should be the unwrap alone (not storage
   * calls, whose failures are no guess).
   */
  constructor(options: { policy?: Partial<AttemptsPolicy>; now?: () => number; isFailure?: (error: unknown) => boolean } = {}) {
    const policy = { ...DEFAULT_ATTEMPTS_POLICY, ...options.policy };
    for (const [name, value] of Object.entries(policy)) {
      if (!Number.isInteger(value) || value < 1) throw new VaultError(`attempts policy: ${name} must be a positive integer`);
    }
    if (policy.maxLockoutMs < policy.baseLockoutMs) throw new VaultError("attempts policy: maxLockoutMs must be at least baseLockoutMs");
    this.policy = policy;
    this.#now = options.now ?? Date.now;
    this.#isFailure = options.isFailure ?? ((error) => error instanceof VaultError);
  }

  /** Refuse (CredentialLockedError) if `operatorId` is locked out now. */
  check(operatorId: string): void {
    const entry = this.#entries.get(operatorId);
    const now = this.#now();
    if (entry !== undefined && entry.lockedUntil > now) throw new CredentialLockedError(operatorId, entry.lockedUntil - now);
  }

  /**
   * Run one credential attempt for `operatorId`: refused while locked out or
   * while another attempt of the same operator runs; a failure (see
   * `isFailure`) is counted and rethrown, a success clears the record.
   */
  async attempt<T>(operatorId: string, run: () => Promise<T>): Promise<T> {
    this.check(operatorId);
    const entry = this.#entry(operatorId);
    if (entry.inFlight) throw new VaultError(`operator "${operatorId}" already has a credential attempt in progress`);
    entry.inFlight = true;
    let result: T;
    try {
      result = await run();
    } catch (error) {
      entry.inFlight = false;
      if (this.#isFailure(error)) this.recordFailure(operatorId);
      else this.#prune(operatorId);
      throw error;
    }
    entry.inFlight = false;
    this.recordSuccess(operatorId);
    return result;
  }

  /** Count one wrong credential; may start a lockout. */
  recordFailure(operatorId: string): void {
    const now = this.#now();
    const entry = this.#entry(operatorId);
    if (entry.lastFailureAt > 0 && now - entry.lastFailureAt >= this.policy.forgetAfterMs) entry.lockouts = 0;
    entry.failures = entry.failures.filter((at) => now - at < this.policy.windowMs);
    entry.failures.push(now);
    entry.lastFailureAt = now;
    if (entry.failures.length >= this.policy.maxFailures) {
      const duration = Math.min(this.policy.baseLockoutMs * 2 ** Math.min(entry.lockouts, 52), this.policy.maxLockoutMs);
      entry.lockedUntil = now + duration;
      entry.lockouts += 1;
      entry.failures = [];
    }
  }

  /** A right credential: forget the operator's failures and lockout level (not an ongoing lockout, which `attempt` would have refused). */
  recordSuccess(operatorId: string): void {
    const entry = this.#entries.get(operatorId);
    if (entry === undefined) return;
    entry.failures = [];
    entry.lockouts = 0;
    entry.lastFailureAt = 0;
    this.#prune(operatorId);
  }

  status(operatorId: string): AttemptStatus {
    const entry = this.#entries.get(operatorId);
    const now = this.#now();
    if (entry === undefined) return { failures: 0, lockedForMs: 0, lockouts: 0 };
    const forgotten = entry.lastFailureAt > 0 && now - entry.lastFailureAt >= this.policy.forgetAfterMs;
    return {
      failures: entry.failures.filter((at) => now - at < this.policy.windowMs).length,
      lockedForMs: Math.max(0, entry.lockedUntil - now),
      lockouts: forgotten ? 0 : entry.lockouts,
    };
  }

  #entry(operatorId: string): Entry {
    let entry = this.#entries.get(operatorId);
    if (entry === undefined) {
      if (this.#entries.size >= this.policy.maxOperators) {
        for (const id of [...this.#entries.keys()]) this.#prune(id);
        if (this.#entries.size >= this.policy.maxOperators) throw new VaultError("too many operators with recent credential failures");
      }
      entry = { failures: [], lockedUntil: 0, lockouts: 0, lastFailureAt: 0, inFlight: false };
      this.#entries.set(operatorId, entry);
    }
    return entry;
  }

  /** Drop an entry that no longer says anything. */
  #prune(operatorId: string): void {
    const entry = this.#entries.get(operatorId);
    if (entry === undefined || entry.inFlight) return;
    const now = this.#now();
    const failures = entry.failures.some((at) => now - at < this.policy.windowMs);
    const remembered = entry.lastFailureAt > 0 && now - entry.lastFailureAt < this.policy.forgetAfterMs && entry.lockouts > 0;
    if (!failures && entry.lockedUntil <= now && !remembered) this.#entries.delete(operatorId);
  }
}
