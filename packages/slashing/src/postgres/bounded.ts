/**
 * Time bounds and per-validator ordering for signing checks.
 *
 * Checks for one validator run one after another, in the order they arrive:
 * the database serialises them anyway (advisory lock), but only in the order
 * the connections happen to reach it, and a burst for one validator would hold
 * several pooled connections waiting on that lock while other validators wait
 * for a connection. In order, a validator's signing history grows the way its
 * validator client asked for it.
 */
import { SlashingDatabaseError } from "../protection.ts";

/**
 * Rejects with SlashingDatabaseError once `timeoutMs` has passed, whatever the
 * work is doing; work that has not started by then (still queued) sees the
 * signal aborted and must not start.
 */
export async function withDeadline<T>(timeoutMs: number, description: string, work: (expired: AbortSignal) => Promise<T>): Promise<T> {
  const expiry = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expiry.abort();
      reject(new SlashingDatabaseError(`${description}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(expiry.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs work for the same key one at a time, in call order. */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(work);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
