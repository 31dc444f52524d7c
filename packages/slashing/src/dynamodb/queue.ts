/**
 * Per-key queues inside one process. Attestation checks of one validator
 * made by one signer instance run one after another, so that they do not
 * invalidate each other's optimistic reads: hundreds at once would otherwise
 * retry quadratically. Safety never depends on it (the conditional writes
 * decide); it only leaves the optimistic protocol to arbitrate between
 * instances. Different keys never wait for each other.
 */
import type { Table } from "./table.ts";

export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `task` after every task queued before under `key`; waiting counts against `signal`. */
  async run<T>(table: Table, key: string, signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    // Chained on `before`, so a task that gives up waiting does not let later ones overtake earlier ones.
    const tail = before.then(() => done);
    this.#tails.set(key, tail);
    try {
      await table.call("waiting for an earlier check of the same validator", signal, () => before);
      return await task();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
