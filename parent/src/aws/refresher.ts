// Keeps the parent's AWS credentials fresh, so that the enclave always holds a set with time left.
//
// Schedule. Credentials that expire are refreshed `lead` before their expiration, where lead is
// refreshBeforeMs (default 15 min) or half their lifetime at receipt if that is shorter (1 h STS
// sessions refresh at 45 min; 6 h instance-profile ones at 5 h 45 min; a 2 s simulator set at 1 s).
// Long-term keys (no expiration) are never refreshed.
//
// Retries. A failed fetch, or an answer with the same credentials (IMDS hands out new ones only some
// minutes before the old expire: "at least five minutes" is all AWS promises), is retried after
// minRetryMs, doubling up to maxRetryMs — but never sleeping more than half of the time the current
// credentials have left, so that several tries land before they expire. Past expiration the
// refresher keeps trying at maxRetryMs and reports the state `expired`; the old credentials are
// never handed out again as if current. Credentials are only ever replaced by ones that expire later.
import type { Logger } from "pino";
import type { AwsCredentials, CredentialSummary } from "./credentials.ts";
import { CredentialSourceError } from "./http.ts";
import type { CredentialSource } from "./source.ts";

export const DEFAULT_REFRESH_BEFORE_MS = 15 * 60_000;
export const DEFAULT_MIN_RETRY_MS = 1_000;
export const DEFAULT_MAX_RETRY_MS = 60_000;

export interface CredentialRefresherOptions {
  readonly source: CredentialSource;
  /** Start fetching new credentials this long before expiry (at most half their lifetime); default 15 min. */
  readonly refreshBeforeMs?: number;
  /** First retry delay after a failed or unchanged fetch; default 1 s. */
  readonly minRetryMs?: number;
  /** Longest retry delay; default 60 s. */
  readonly maxRetryMs?: number;
  /** Default: silent. Entries carry the source, the access key id and times, never a secret. */
  readonly log?: Logger;
  /** Default Date.now. */
  readonly now?: () => number;
}

/**
 * `starting`: no credentials yet. `fresh`: credentials held, refresh not due. `refreshing`: due, and
 * not yet replaced. `expired`: the newest credentials held have expired. `stopped`: stop() was called.
 */
export type CredentialState = "starting" | "fresh" | "refreshing" | "expired" | "stopped";

export interface CredentialStatus {
  readonly state: CredentialState;
  readonly source: string;
  readonly credentials: CredentialSummary | null;
  /** When the next refresh is due (ISO time); null for long-term keys or without credentials. */
  readonly refreshAt: string | null;
  /** Failed or unchanged fetches since credentials were last replaced. */
  readonly attempts: number;
  readonly lastError: string | null;
  /** Fetches since start, by outcome. */
  readonly counts: { readonly updated: number; readonly unchanged: number; readonly failed: number };
}

type Listener<T> = (value: T) => void;

export class CredentialRefresher {
  readonly source: CredentialSource;
  readonly #refreshBeforeMs: number;
  readonly #minRetryMs: number;
  readonly #maxRetryMs: number;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #credentialListeners = new Set<Listener<AwsCredentials>>();
  readonly #expiredListeners = new Set<Listener<AwsCredentials>>();
  readonly #ready = Promise.withResolvers<AwsCredentials>();

  #current: AwsCredentials | undefined;
  #refreshAt: number | undefined;
  #attempts = 0;
  #lastError: string | null = null;
  readonly #counts = { updated: 0, unchanged: 0, failed: 0 };
  #started = false;
  #stopped = false;
  #inFlight: Promise<AwsCredentials> | undefined;
  #abort: AbortController | undefined;
  #timer: Alarm | undefined;
  #expiryTimer: Alarm | undefined;

  constructor(options: CredentialRefresherOptions) {
    this.source = options.source;
    this.#refreshBeforeMs = options.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS;
    this.#minRetryMs = options.minRetryMs ?? DEFAULT_MIN_RETRY_MS;
    this.#maxRetryMs = options.maxRetryMs ?? DEFAULT_MAX_RETRY_MS;
    for (const [name, value] of [["refreshBeforeMs", this.#refreshBeforeMs], ["minRetryMs", this.#minRetryMs], ["maxRetryMs", this.#maxRetryMs]] as const) {
      if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of milliseconds`);
    }
    if (this.#maxRetryMs < this.#minRetryMs) throw new RangeError("maxRetryMs must not be less than minRetryMs");
    this.#now = options.now ?? Date.now;
    this.#log = options.log?.child({ component: "aws-credentials", source: this.source.name });
    // ready() may never be awaited; a stop() before the first credentials must not be an unhandled rejection.
    this.#ready.promise.catch(() => {});
  }

  /** Starts fetching at once; retries until it has credentials, then keeps them fresh. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#log?.info({ from: this.source.describe() }, "fetching AWS credentials");
    void this.#attempt().catch(() => {});
  }

  /** The first credentials (however many tries it takes); rejects if stopped before. */
  ready(): Promise<AwsCredentials> {
    return this.#ready.promise;
  }

  /** The newest credentials, unless they have expired. */
  current(): AwsCredentials | undefined {
    const current = this.#current;
    return current !== undefined && current.remainingMs(this.#now()) > 0 ? current : undefined;
  }

  /** Called with every new set of credentials (not with the current one); returns an unsubscribe function. */
  onCredentials(listener: Listener<AwsCredentials>): () => void {
    this.#credentialListeners.add(listener);
    return () => this.#credentialListeners.delete(listener);
  }

  /** Called when the newest credentials expire before a new set arrived; returns an unsubscribe function. */
  onExpired(listener: Listener<AwsCredentials>): () => void {
    this.#expiredListeners.add(listener);
    return () => this.#expiredListeners.delete(listener);
  }

  /**
   * Fetches now, whatever the schedule (say, the enclave's KMS call was refused with ExpiredToken).
   * Joins a fetch already under way. Resolves with the newest credentials (the same ones when the
   * source has not rotated them); rejects with the fetch's error, after which retries run as usual.
   */
  refreshNow(): Promise<AwsCredentials> {
    if (this.#stopped) return Promise.reject(new Error("the credential refresher is stopped"));
    return this.#attempt();
  }

  status(): CredentialStatus {
    const current = this.#current;
    return {
      state: this.#state(),
      source: this.source.describe(),
      credentials: current?.summary() ?? null,
      refreshAt: this.#refreshAt === undefined ? null : new Date(this.#refreshAt).toISOString(),
      attempts: this.#attempts,
      lastError: this.#lastError,
      counts: { ...this.#counts },
    };
  }

  /** Stops every timer and abandons a fetch under way. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    this.#expiryTimer?.cancel();
    this.#abort?.abort();
    this.#ready.reject(new Error("the credential refresher was stopped before it had credentials"));
  }

  #state(): CredentialState {
    if (this.#stopped) return "stopped";
    const current = this.#current;
    if (current === undefined) return "starting";
    const now = this.#now();
    if (current.remainingMs(now) <= 0) return "expired";
    return this.#refreshAt !== undefined && now >= this.#refreshAt ? "refreshing" : "fresh";
  }

  #attempt(): Promise<AwsCredentials> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    this.#timer?.cancel();
    const abort = new AbortController();
    this.#abort = abort;
    // Settled before anything else runs: a listener or a ready() waiter that calls refreshNow() must start a new fetch, not join this one.
    const settle = () => {
      this.#inFlight = undefined;
      this.#abort = undefined;
    };
    this.#inFlight = this.source.fetch(abort.signal).then(
      (credentials) => {
        settle();
        return this.#received(credentials);
      },
      (error: unknown) => {
        settle();
        if (!this.#stopped) this.#failed(error);
        throw error;
      },
    );
    return this.#inFlight;
  }

  #received(credentials: AwsCredentials): AwsCredentials {
    if (this.#stopped) throw new Error("the credential refresher is stopped");
    const now = this.#now();
    if (credentials.remainingMs(now) <= 0) {
      const error = new CredentialSourceError(this.source.name, "malformed", `the source handed out credentials that expired at ${credentials.expiration!.toISOString()}`);
      this.#failed(error);
      throw error;
    }
    // Not rotated yet (the same set), or a lagging cache's older set: nothing that moves the expiry forward.
    const current = this.#current;
    if (current !== undefined && credentials.remainingMs(now) <= current.remainingMs(now)) {
      this.#counts.unchanged++;
      const delay = this.#retryAfterNoChange(now);
      if (delay !== undefined) this.#log?.debug({ credentials: current.summary(), retryInMs: delay }, "the source has not rotated the credentials yet");
      return current;
    }
    this.#install(credentials, now);
    return credentials;
  }

  #install(credentials: AwsCredentials, now: number): void {
    this.#current = credentials;
    this.#counts.updated++;
    this.#attempts = 0;
    this.#lastError = null;
    this.#expiryTimer?.cancel();
    const remaining = credentials.remainingMs(now);
    if (Number.isFinite(remaining)) {
      const lead = Math.min(this.#refreshBeforeMs, remaining / 2);
      this.#refreshAt = now + remaining - lead;
      this.#schedule(remaining - lead);
      this.#expiryTimer = new Alarm(() => this.#expired(credentials), remaining);
    } else {
      this.#refreshAt = undefined;
    }
    this.#log?.info({ credentials: credentials.summary(), refreshAt: this.#refreshAt === undefined ? null : new Date(this.#refreshAt).toISOString() }, "AWS credentials updated");
    this.#ready.resolve(credentials);
    this.#notify(this.#credentialListeners, credentials);
  }

  #failed(error: unknown): void {
    this.#counts.failed++;
    this.#lastError = error instanceof Error ? error.message : String(error);
    const delay = this.#retryAfterNoChange(this.#now());
    this.#log?.warn({ err: this.#lastError, attempt: this.#attempts, retryInMs: delay ?? null, credentials: this.#current?.summary() ?? null }, "fetching AWS credentials failed");
  }

  /**
   * After a fetch that brought nothing new: retry with backoff once the refresh is due (or while
   * there are no credentials yet); before that (a refreshNow()), keep the schedule; for long-term keys,
   * nothing. Returns the delay of a retry, if one was scheduled.
   */
  #retryAfterNoChange(now: number): number | undefined {
    if (this.#current !== undefined) {
      if (this.#refreshAt === undefined) return undefined;
      if (now < this.#refreshAt) {
        this.#schedule(this.#refreshAt - now);
        return undefined;
      }
    }
    this.#attempts++;
    const backoff = Math.min(this.#maxRetryMs, this.#minRetryMs * 2 ** Math.min(this.#attempts - 1, 30));
    const remaining = this.#current?.remainingMs(now) ?? 0;
    const delay = remaining > 0 ? Math.min(backoff, Math.max(this.#minRetryMs, remaining / 2)) : backoff;
    this.#schedule(delay);
    return delay;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    this.#timer = new Alarm(() => void this.#attempt().catch(() => {}), delayMs);
  }

  #expired(credentials: AwsCredentials): void {
    if (this.#stopped || this.#current !== credentials) return;
    this.#log?.error({ credentials: credentials.summary(), lastError: this.#lastError }, "AWS credentials expired before new ones could be fetched");
    this.#notify(this.#expiredListeners, credentials);
  }

  #notify(listeners: Set<Listener<AwsCredentials>>, credentials: AwsCredentials): void {
    for (const listener of listeners) {
      try {
        listener(credentials);
      } catch (error) {
        this.#log?.error({ err: error instanceof Error ? error.message : String(error) }, "an AWS credential listener threw");
      }
    }
  }
}

/** Longest delay setTimeout keeps (a longer one fires at once). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * A one-shot timer for any delay, long-lived credentials' 24.8 days and more included (setTimeout
 * alone fires at once beyond 2^31-1 ms). Unreferenced: the parent's servers keep the process alive,
 * the schedule alone should not.
 */
class Alarm {
  #handle: NodeJS.Timeout | undefined;

  constructor(fn: () => void, delayMs: number) {
    const arm = (left: number) => {
      const step = Math.min(left, MAX_TIMEOUT_MS);
      this.#handle = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
      this.#handle.unref();
    };
    arm(Math.max(0, delayMs));
  }

  cancel(): void {
    clearTimeout(this.#handle);
  }
}
