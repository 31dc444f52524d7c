/** Load drivers for benchmarks. `send` performs one request and rejects if it did not succeed. */

/** Closed loop: `concurrency` requests always in flight for `seconds`; returns requests per second. */
export async function closedLoop(send: () => Promise<void>, concurrency: number, seconds: number): Promise<number> {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await send();
        done++;
      }
    }),
  );
  return done / seconds;
}

/** Open loop at a fixed rate for `seconds`: latency counts from each request's scheduled time, so queueing shows. */
export async function openLoop(send: () => Promise<void>, rate: number, seconds: number): Promise<{ p50: number; p99: number }> {
  const total = Math.floor(rate * seconds);
  const start = performance.now();
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(send().then(() => void latencies.push(performance.now() - due)));
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(2));
  return { p50: at(0.5), p99: at(0.99) };
}
