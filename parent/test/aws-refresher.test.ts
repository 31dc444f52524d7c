// The credential refresher: its schedule, retries, expiry and stop, on fake timers with a scripted
// source; then for real against the simulated IMDS with credentials that live a few seconds; and
// what it logs.
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { AwsCredentials, CredentialRefresher, CredentialSourceError, imdsCredentialSource, type CredentialSource } from "@strongroom/parent";
import { ImdsSimulator } from "@strongroom/sim";
import { accepted } from "./aws-support.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

let serial = 0;
/** Temporary credentials expiring `lifetimeMs` from now, each set with its own key id. */
function temporary(lifetimeMs: number): AwsCredentials {
  serial++;
  return new AwsCredentials("imds", {
    accessKeyId: `ASIATEST${String(serial).padStart(12, "0")}`,
    secretAccessKey: SECRET,
    sessionToken: `session-${serial}`,
    expiration: new Date(Date.now() + lifetimeMs),
  });
}

/** A source that answers whatever `next` says, and counts and times its calls. */
class ScriptedSource implements CredentialSource {
  readonly name = "imds" as const;
  next: () => AwsCredentials | Error | "hang" = () => new Error("no answer scripted");
  readonly calls: number[] = [];
  readonly signals: AbortSignal[] = [];

  describe(): string {
    return "a scripted source";
  }

  fetch(signal?: AbortSignal): Promise<AwsCredentials> {
    this.calls.push(Date.now());
    if (signal !== undefined) this.signals.push(signal);
    const answer = this.next();
    if (answer === "hang") {
      return new Promise((_, reject) => signal?.addEventListener("abort", () => reject(new CredentialSourceError("imds", "aborted", "request cancelled"))));
    }
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
}

const failure = () => new CredentialSourceError("imds", "unreachable", "cannot reach 169.254.169.254:80: ECONNREFUSED");

describe("the schedule, on fake timers", () => {
  let source: ScriptedSource;
  let refresher: CredentialRefresher | undefined;
  const make = (options: Partial<ConstructorParameters<typeof CredentialRefresher>[0]> = {}) => {
    refresher = new CredentialRefresher({ source, ...options });
    return refresher;
  };
  /** Moves the clock and lets every timer and promise due by then run. */
  const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: Date.parse("2026-11-21T12:00:00Z") });
    source = new ScriptedSource();
  });
  afterEach(() => {
    refresher?.stop();
    refresher = undefined;
    vi.useRealTimers();
  });

  test("6 h credentials are replaced 15 min before they expire; listeners see each new set once", async () => {
    const served: AwsCredentials[] = [];
    source.next = () => (served.push(temporary(6 * HOUR)), served.at(-1)!);
    const r = make();
    const seen: AwsCredentials[] = [];
    r.onCredentials((c) => seen.push(c));
    r.start();
    expect(await r.ready()).toBe(served[0]);
    expect(r.status()).toMatchObject({ state: "fresh", refreshAt: "2026-11-21T17:45:00.000Z", attempts: 0 });
    await advance(5 * HOUR + 45 * MINUTE - 1);
    expect(source.calls).toHaveLength(1);
    await advance(1);
    expect(source.calls).toHaveLength(2);
    expect(r.current()).toBe(served[1]);
    expect(seen).toEqual(served);
    expect(r.status()).toMatchObject({ state: "fresh", refreshAt: "2026-11-21T23:30:00.000Z", counts: { updated: 2, unchanged: 0, failed: 0 } });
  });

  test("short-lived credentials are refreshed at half their life", async () => {
    source.next = () => temporary(10 * MINUTE);
    const r = make();
    r.start();
    await r.ready();
    await advance(5 * MINUTE - 1);
    expect(source.calls).toHaveLength(1);
    await advance(1);
    expect(source.calls).toHaveLength(2);
  });

  test("unchanged credentials at refresh time: retries at 1, 2, 4 … s, capped by half the time left, until the source rotates", async () => {
    const first = temporary(HOUR);
    source.next = () => first;
    const r = make({ refreshBeforeMs: 10 * MINUTE });
    const seen: AwsCredentials[] = [];
    r.onCredentials((c) => seen.push(c));
    r.start();
    await r.ready();
    await advance(50 * MINUTE);
    expect(r.status().state).toBe("refreshing");
    await advance(1_000 + 2_000 + 4_000 + 8_000);
    const gaps = source.calls.slice(1).map((t, i, all) => (i === 0 ? 0 : t - all[i - 1]!));
    expect(gaps).toEqual([0, 1_000, 2_000, 4_000, 8_000]);
    await advance(30 * 60_000);
    // Backoff stops at 60 s, then shrinks to half the remaining time.
    const late = source.calls.slice(-4).map((t, i, all) => (i === 0 ? 0 : t - all[i - 1]!)).slice(1);
    expect(late.every((gap) => gap <= 60_000)).toBe(true);
    expect(r.status().counts.unchanged).toBeGreaterThan(5);
    expect(seen).toHaveLength(1);

    const second = temporary(HOUR);
    source.next = () => second;
    await advance(60_000);
    expect(r.current()).toBe(second);
    expect(seen).toEqual([first, second]);
    expect(r.status()).toMatchObject({ state: "fresh", attempts: 0 });
  });

  test("no credentials yet: retries with backoff up to maxRetryMs until the source answers", async () => {
    source.next = failure;
    const r = make({ minRetryMs: 500, maxRetryMs: 4_000 });
    r.start();
    await advance(500 + 1_000 + 2_000 + 4_000 + 4_000 + 4_000);
    const gaps = source.calls.map((t, i, all) => (i === 0 ? 0 : t - all[i - 1]!));
    expect(gaps).toEqual([0, 500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    expect(r.status()).toMatchObject({ state: "starting", credentials: null, attempts: 7, lastError: "imds credentials: cannot reach 169.254.169.254:80: ECONNREFUSED" });
    expect(r.current()).toBeUndefined();
    const credentials = temporary(HOUR);
    source.next = () => credentials;
    await advance(4_000);
    expect(await r.ready()).toBe(credentials);
    expect(r.status()).toMatchObject({ state: "fresh", attempts: 0, lastError: null });
  });

  test("failures past expiry: `expired` once, no credentials handed out, retries go on and recover", async () => {
    source.next = () => temporary(20 * MINUTE);
    const r = make();
    const expired: string[] = [];
    r.onExpired((c) => expired.push(c.accessKeyId));
    r.start();
    const first = await r.ready();
    source.next = failure;
    await advance(20 * MINUTE - 1);
    expect(r.status().state).toBe("refreshing");
    expect(r.current()).toBe(first);
    // Every retry in the last ten minutes landed before expiry, at most half the time left apart.
    const tries = source.calls.filter((t) => t < first.expiration!.getTime());
    expect(tries.length).toBeGreaterThan(10);
    await advance(1);
    expect(r.status().state).toBe("expired");
    expect(r.current()).toBeUndefined();
    expect(expired).toEqual([first.accessKeyId]);
    const calls = source.calls.length;
    await advance(5 * MINUTE);
    expect(source.calls.length - calls).toBeGreaterThanOrEqual(5);
    expect(expired).toHaveLength(1);
    source.next = () => temporary(HOUR);
    await advance(60_000);
    expect(r.status().state).toBe("fresh");
    expect(r.current()).toBeDefined();
  });

  test("credentials that expire sooner than those held never replace them; already-expired ones are a failure", async () => {
    const held = temporary(HOUR);
    source.next = () => held;
    const r = make();
    r.start();
    await r.ready();
    source.next = () => temporary(30 * MINUTE);
    expect(await r.refreshNow()).toBe(held);
    source.next = () => temporary(-1);
    await expect(r.refreshNow()).rejects.toThrow(/already|expired at/);
    expect(r.current()).toBe(held);
    expect(r.status().counts).toEqual({ updated: 1, unchanged: 1, failed: 1 });
  });

  test("refreshNow before the refresh is due: fetches, joins a fetch under way, and keeps the schedule", async () => {
    const held = temporary(HOUR);
    source.next = () => held;
    const r = make();
    r.start();
    await r.ready();
    await advance(10 * MINUTE);
    const [a, b] = await Promise.all([r.refreshNow(), r.refreshNow()]);
    expect([a, b]).toEqual([held, held]);
    expect(source.calls).toHaveLength(2);
    source.next = failure;
    await expect(r.refreshNow()).rejects.toThrow(/ECONNREFUSED/);
    // Neither the unchanged answer nor the failure moved the next refresh from 45 min.
    await advance(35 * MINUTE - 1);
    expect(source.calls).toHaveLength(3);
    source.next = () => temporary(HOUR);
    await advance(1);
    expect(source.calls).toHaveLength(4);
    expect(r.current()).not.toBe(held);
  });

  test("long-term keys are fetched once and never refreshed; expirations beyond setTimeout's 24.8 days still fire on time", async () => {
    source.next = () => new AwsCredentials("environment", { accessKeyId: "AKIAEXAMPLEEXAMPLE12", secretAccessKey: SECRET });
    let r = make();
    r.start();
    await r.ready();
    await advance(400 * 24 * HOUR);
    expect(source.calls).toHaveLength(1);
    expect(r.status()).toMatchObject({ state: "fresh", refreshAt: null });
    source.next = failure;
    await expect(r.refreshNow()).rejects.toThrow();
    await advance(HOUR);
    expect(source.calls).toHaveLength(2);
    r.stop();

    source = new ScriptedSource();
    source.next = () => temporary(60 * 24 * HOUR);
    r = make();
    r.start();
    await r.ready();
    await advance(30 * 24 * HOUR);
    expect(source.calls).toHaveLength(1);
    await advance(30 * 24 * HOUR - 15 * MINUTE - 1);
    expect(source.calls).toHaveLength(1);
    await advance(1);
    expect(source.calls).toHaveLength(2);
  });

  test("stop abandons the fetch under way, cancels every timer and rejects ready()", async () => {
    source.next = () => "hang";
    const r = make();
    r.start();
    const ready = r.ready();
    await advance(10);
    r.stop();
    expect(source.signals[0]!.aborted).toBe(true);
    await expect(ready).rejects.toThrow(/stopped/);
    await advance(HOUR);
    expect(source.calls).toHaveLength(1);
    expect(r.status().state).toBe("stopped");
    await expect(r.refreshNow()).rejects.toThrow(/stopped/);
  });

  test("a listener that throws does not stop the others or the schedule", async () => {
    source.next = () => temporary(HOUR);
    const r = make();
    const seen: string[] = [];
    r.onCredentials(() => {
      throw new Error("listener bug");
    });
    const unsubscribe = r.onCredentials((c) => seen.push(c.accessKeyId));
    r.start();
    await r.ready();
    await advance(45 * MINUTE);
    expect(seen).toHaveLength(2);
    unsubscribe();
    await advance(45 * MINUTE);
    expect(seen).toHaveLength(2);
    expect(source.calls).toHaveLength(3);
  });

  test("options are checked", () => {
    expect(() => make({ refreshBeforeMs: 0 })).toThrow(RangeError);
    expect(() => make({ minRetryMs: 10_000, maxRetryMs: 1_000 })).toThrow(RangeError);
    expect(() => make({ maxRetryMs: Number.NaN })).toThrow(RangeError);
  });
});

describe("for real, against the simulated IMDS", () => {
  test("credentials living 4 s, rotated by IMDS 1.5 s before expiry: the refresher always holds a set AWS accepts, replaced before it expires", async () => {
    const imds = await ImdsSimulator.start({ credentialLifetimeMs: 4_000, rotateBeforeMs: 1_500 });
    const lines: string[] = [];
    const log = pino({ level: "trace" }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
    const refresher = new CredentialRefresher({ source: imdsCredentialSource({ endpoint: imds.url }), refreshBeforeMs: 3_000, minRetryMs: 100, maxRetryMs: 400, log });
    const received: { credentials: AwsCredentials; at: number }[] = [];
    refresher.onCredentials((credentials) => received.push({ credentials, at: Date.now() }));
    const expired: AwsCredentials[] = [];
    refresher.onExpired((c) => expired.push(c));
    try {
      refresher.start();
      await refresher.ready();
      const deadline = Date.now() + 7_000;
      while (Date.now() < deadline) {
        const current = refresher.current();
        expect(current).toBeDefined();
        expect(accepted(imds, current!)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(expired).toEqual([]);
      expect(received.length).toBeGreaterThanOrEqual(3);
      expect(new Set(received.map((r) => r.credentials.accessKeyId)).size).toBe(received.length);
      for (const [i, { credentials, at }] of received.entries()) {
        expect(at).toBeLessThan(credentials.expiration!.getTime());
        const next = received[i + 1];
        if (next !== undefined) expect(next.at).toBeLessThan(credentials.expiration!.getTime());
      }
      // Every set the parent held was one IMDS served, and IMDS saw no token-less request.
      expect(imds.requests().every((r) => r.method === "PUT" || r.token === "valid")).toBe(true);
    } finally {
      refresher.stop();
      await imds.close();
    }

    // What it logged: updates and retries, with key ids and times, and never a secret or session token.
    const text = lines.join("");
    expect(text).toContain("AWS credentials updated");
    for (const { credentials } of received) {
      expect(text).toContain(credentials.accessKeyId);
      expect(text).not.toContain(credentials.secretAccessKey);
      expect(text).not.toContain(credentials.sessionToken!);
    }
  });

  test("IMDS down at start and for a while: the refresher waits it out, then keeps up", async () => {
    const imds = await ImdsSimulator.start({ credentialLifetimeMs: 3_000, rotateBeforeMs: 1_000 });
    imds.setFault({ kind: "status", status: 500, times: 5 });
    const refresher = new CredentialRefresher({ source: imdsCredentialSource({ endpoint: imds.url, timeoutMs: 500 }), minRetryMs: 50, maxRetryMs: 200 });
    try {
      refresher.start();
      const first = await refresher.ready();
      expect(refresher.status().counts.failed).toBe(5);
      imds.setFault({ kind: "hang", target: "credentials" });
      const expired = new Promise<AwsCredentials>((resolve) => refresher.onExpired(resolve));
      expect(await expired).toBe(first);
      expect(refresher.status().state).toBe("expired");
      expect(refresher.current()).toBeUndefined();
      expect(refresher.status().lastError).toContain("did not answer");
      imds.setFault(null);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const now = refresher.current();
      expect(now).toBeDefined();
      expect(now!.accessKeyId).not.toBe(first.accessKeyId);
      expect(accepted(imds, now!)).toBe(true);
    } finally {
      refresher.stop();
      await imds.close();
    }
  });
});
