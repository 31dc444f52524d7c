import { HttpError } from "../http/errors.ts";

export interface AdmissionLimits {
  /** Signing requests being worked on at once. */
  readonly maxConcurrent: number;
  /** Requests waiting for a place; beyond this they are refused at once. */
  readonly maxQueued: number;
  /** How long a request may wait for a place before it is refused. */
  readonly queueDeadlineMs: number;
}

interface Waiter {
  grant(): void;
  timer: NodeJS.Timeout;
}

const overloaded = (why: string) => new HttpError(503, `the signer is overloaded (${why}); retry shortly`, { "retry-after": "1" });

/**
 * Backpressure (DESIGN.md §4 step 1): decides, before a request's body is
 * read, whether it is worked on now, waits in a bounded queue, or is refused
 * with 503 and Retry-After. A waiting request holds only its socket, so memory
 * stays bounded by the limits however hard the signer is flooded.
 */
export class Admission {
  private readonly limits: AdmissionLimits;
  private active = 0;
  private readonly waiting: Waiter[] = [];
  private readonly onRejected: () => void;

  constructor(limits: AdmissionLimits, onRejected: () => void = () => undefined) {
    this.limits = limits;
    this.onRejected = onRejected;
  }

  /**
   * Resolves with the function that gives the place back; rejects with a 503
   * HttpError. `onAbandoned` subscribes to the client hanging up; it is only
   * called for a request that has to wait.
   */
  admit(onAbandoned: (listener: () => void) => void): Promise<() => void> {
    if (this.active < this.limits.maxConcurrent) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.limits.maxQueued) {
      this.onRejected();
      return Promise.reject(overloaded(`${this.limits.maxConcurrent} signings in progress and ${this.limits.maxQueued} waiting`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => resolve(this.releaser()),
        timer: setTimeout(() => {
          this.leaveQueue(waiter);
          this.onRejected();
          reject(overloaded(`no place within ${this.limits.queueDeadlineMs} ms`));
        }, this.limits.queueDeadlineMs),
      };
      // A client that hangs up while waiting gives its place in the queue back (a no-op once it has a place).
      onAbandoned(() => this.leaveQueue(waiter));
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next === undefined) {
        this.active--;
        return;
      }
      clearTimeout(next.timer);
      next.grant();
    };
  }

  private leaveQueue(waiter: Waiter): void {
    const index = this.waiting.indexOf(waiter);
    if (index === -1) return;
    this.waiting.splice(index, 1);
    clearTimeout(waiter.timer);
  }
}
