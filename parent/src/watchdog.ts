// Keeps one enclave running: a dead enclave (its process gone, or the Nitro
// enclave no longer listed) or one that stopped answering on the control
// channel is stopped and started again, with a backoff that grows while
// restarts keep failing and resets once an enclave has stayed up. The control
// link then bootstraps the new enclave by itself.
import type { Logger } from "pino";
import type { ControlLink } from "./control-link.ts";
import type { EnclaveLifecycle } from "./lifecycle/types.ts";

export interface WatchdogOptions {
  readonly lifecycle: EnclaveLifecycle;
  readonly link: ControlLink;
  readonly log: Logger;
  readonly checkEveryMs?: number;
  /** A running enclave silent on the control channel for this long is restarted. */
  readonly unresponsiveAfterMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Told after every restart (metrics). */
  readonly onRestart?: (reason: string) => void;
}

/** An enclave up this long has recovered: the next failure starts the backoff afresh. */
const STABLE_AFTER_MS = 60_000;

export class Watchdog {
  readonly #options: Required<Omit<WatchdogOptions, "onRestart">> & Pick<WatchdogOptions, "onRestart">;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs: number;
  #startedAt = Date.now();
  #checking = false;
  #stopped = false;

  constructor(options: WatchdogOptions) {
    this.#options = { checkEveryMs: 1_000, unresponsiveAfterMs: 30_000, minBackoffMs: 1_000, maxBackoffMs: 30_000, ...options };
    this.#backoffMs = this.#options.minBackoffMs;
  }

  /** Call once the enclave has been started or adopted. */
  start(): void {
    this.#startedAt = Date.now();
    this.#schedule(this.#options.checkEveryMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), ms);
  }

  async #check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    let next = this.#options.checkEveryMs;
    try {
      const reason = await this.#failure();
      if (reason !== undefined && !this.#stopped) next = await this.#restart(reason);
    } finally {
      this.#checking = false;
      this.#schedule(next);
    }
  }

  async #failure(): Promise<string | undefined> {
    const { lifecycle, link, unresponsiveAfterMs } = this.#options;
    if (!(await lifecycle.isRunning())) return "the enclave is not running";
    const lastAnswer = Math.max(link.health().at, this.#startedAt);
    if (Date.now() - lastAnswer > unresponsiveAfterMs) return `the enclave has not answered on the control channel for ${Math.round((Date.now() - lastAnswer) / 1000)} s`;
    if (Date.now() - this.#startedAt > STABLE_AFTER_MS) this.#backoffMs = this.#options.minBackoffMs;
    return undefined;
  }

  /** Restarts and returns when to check next: at once if it worked, after the backoff if it did not. */
  async #restart(reason: string): Promise<number> {
    const { lifecycle, link, log } = this.#options;
    log.error({ reason, enclave: lifecycle.describe(), backoffMs: this.#backoffMs }, "restarting the enclave");
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs);
    try {
      await lifecycle.stop();
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.#stopped) return 0;
      await lifecycle.start();
      this.#startedAt = Date.now();
      link.reset();
      this.#options.onRestart?.(reason);
      log.warn({ enclave: lifecycle.describe() }, "enclave restarted; the control link bootstraps it again");
      return this.#options.checkEveryMs;
    } catch (error) {
      log.error({ reason: (error as Error).message }, "enclave restart failed; trying again");
      return this.#backoffMs;
    }
  }
}
