/** Requests in flight at once for bulk work (import, export, prune, disable): enough to hide latency, well under the SDK's 50 sockets. */
export const BULK_CONCURRENCY = 32;

/**
 * Runs `work` on every item with at most `limit` at a time. The first
 * failure rejects once the running ones have settled, and stops new ones.
 */
export async function forEachLimited<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failed = false;
  const worker = async () => {
    for (let next = iterator.next(); !next.done && !failed; next = iterator.next()) {
      try {
        await work(next.value);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: limit }, worker));
  const rejection = results.find((r) => r.status === "rejected");
  if (rejection) throw rejection.reason;
}
