// Key Manager imports enable their keys in the slashing database through one
// batching writer per request: a real guard over real PGlite, with the
// signer's own metrics counting the database calls.
import { openSlashingProtection } from "@strongroom/slashing";
import pino from "pino";
import { afterEach, expect, test } from "vitest";
import { SignerMetrics } from "../src/metrics.ts";
import { batchedEnabler } from "../src/slashing/batched-enable.ts";
import { SlashingGuard } from "../src/slashing/guard.ts";

const key = (i: number) => new Uint8Array(48).fill(i + 1);
const guards: SlashingGuard[] = [];
afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close().catch(() => undefined);
});

async function guarded(): Promise<{ guard: SlashingGuard; calls: () => Promise<number> }> {
  const metrics = new SignerMetrics(() => ({ total: 0, loaded: 0, failed: 0, active: 0 }));
  const guard = new SlashingGuard(await openSlashingProtection("pglite:memory"), 5_000, pino({ level: "silent" }), metrics);
  guards.push(guard);
  const calls = async () => (await metrics.slashingDatabaseDuration.get()).values.find((v) => v.metricName === "strongroom_slashing_db_duration_seconds_count")!.value;
  return { guard, calls };
}

test("200 keys ready at once are enabled in one write, not 200; keys that arrive while a write runs go together in the next", async () => {
  const { guard, calls } = await guarded();
  const enable = batchedEnabler(guard);
  const before = await calls();
  await Promise.all(Array.from({ length: 200 }, (_, i) => enable(key(i))));
  expect((await calls()) - before).toBe(1);
  // Keys arriving while a write runs wait for it, then go together in the next.
  const first = enable(key(200));
  await new Promise((resolve) => setImmediate(resolve)); // its write has started: the batch is closed
  const later = Array.from({ length: 50 }, (_, i) => enable(key(201 + i)));
  await Promise.all([first, ...later]);
  expect((await calls()) - before).toBe(3);
});

test("a failed write rejects every key of its batch with the database's error, and the next batch still runs", async () => {
  const { guard } = await guarded();
  const enable = batchedEnabler(guard);
  await guard.database.close();
  const results = await Promise.allSettled([enable(key(1)), enable(key(2))]);
  expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  const reasons = results.map((r) => (r as PromiseRejectedResult).reason as Error);
  expect(reasons[0]).toBe(reasons[1]);
  await expect(enable(key(3))).rejects.toThrow();
});
