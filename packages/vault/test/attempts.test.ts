import { describe, expect, test } from "vitest";
import { CredentialAttempts, CredentialLockedError, VaultError } from "../src/index.ts";

const MIN = 60_000;

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

const wrong = () => Promise.reject(new VaultError("wrong credential"));
const right = () => Promise.resolve("share");

async function fail(attempts: CredentialAttempts, operator: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await expect(attempts.attempt(operator, wrong)).rejects.toThrow("wrong credential");
}

function lockedFor(attempts: CredentialAttempts, operator: string): number {
  try {
    attempts.check(operator);
  } catch (error) {
    expect(error).toBeInstanceOf(CredentialLockedError);
    expect(error).toBeInstanceOf(VaultError);
    return (error as CredentialLockedError).retryAfterMs;
  }
  return 0;
}

describe("CredentialAttempts", () => {
  test("five failures within the window lock the operator out for a minute; others are unaffected", async () => {
    const clock = fakeClock();
    const attempts = new CredentialAttempts({ now: clock.now });
    await fail(attempts, "alice", 4);
    expect(attempts.status("alice")).toEqual({ failures: 4, lockedForMs: 0, lockouts: 0 });
    await fail(attempts, "alice", 1);
    expect(lockedFor(attempts, "alice")).toBe(MIN);
    await expect(attempts.attempt("alice", right)).rejects.toThrow(/locked out .* retry in 60 s/);
    expect(await attempts.attempt("bob", right)).toBe("share");
    clock.advance(MIN - 1);
    expect(lockedFor(attempts, "alice")).toBe(1);
    clock.advance(1);
    expect(lockedFor(attempts, "alice")).toBe(0);
    expect(await attempts.attempt("alice", right)).toBe("share");
  });

  test("the lockout doubles with each further lockout and is capped at an hour", async () => {
    const clock = fakeClock();
    const attempts = new CredentialAttempts({ now: clock.now });
    const seen: number[] = [];
    for (let round = 0; round < 9; round++) {
      await fail(attempts, "alice", 5);
      const ms = lockedFor(attempts, "alice");
      seen.push(ms / MIN);
      clock.advance(ms);
    }
    expect(seen).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  test("failures older than the window do not count", async () => {
    const clock = fakeClock();
    const attempts = new CredentialAttempts({ now: clock.now });
    await fail(attempts, "alice", 4);
    clock.advance(15 * MIN);
    await fail(attempts, "alice", 4);
    expect(lockedFor(attempts, "alice")).toBe(0);
    await fail(attempts, "alice", 1);
    expect(lockedFor(attempts, "alice")).toBe(MIN);
  });

  test("a success forgets failures and the lockout level", async () => {
    const clock = fakeClock();
    const attempts = new CredentialAttempts({ now: clock.now });
    await fail(attempts, "alice", 5);
    clock.advance(MIN);
    await fail(attempts, "alice", 5);
    expect(lockedFor(attempts, "alice")).toBe(2 * MIN);
    clock.advance(2 * MIN);
    await fail(attempts, "alice", 3);
    expect(await attempts.attempt("alice", right)).toBe("share");
    expect(attempts.status("alice")).toEqual({ failures: 0, lockedForMs: 0, lockouts: 0 });
    await fail(attempts, "alice", 5);
    expect(lockedFor(attempts, "alice")).toBe(MIN);
  });

  test("a quiet day forgets the lockout level", async () => {
    const clock = fakeClock();
    const attempts = new CredentialAttempts({ now: clock.now });
    for (let i = 0; i < 3; i++) {
      await fail(attempts, "alice", 5);
      clock.advance(lockedFor(attempts, "alice"));
    }
    await fail(attempts, "alice", 5);
    expect(lockedFor(attempts, "alice")).toBe(8 * MIN);
    clock.advance(24 * 60 * MIN);
    await fail(attempts, "alice", 5);
    expect(lockedFor(attempts, "alice")).toBe(MIN);
  });

  test("one attempt per operator at a time: a concurrent burst is refused, not all run", async () => {
    const attempts = new CredentialAttempts({ now: fakeClock().now });
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve)).then(() => Promise.reject(new VaultError("wrong credential")));
    const first = attempts.attempt("alice", () => slow);
    let ran = 0;
    for (let i = 0; i < 10; i++) {
      await expect(
        attempts.attempt("alice", () => {
          ran++;
          return right();
        }),
      ).rejects.toThrow(/already has a credential attempt in progress/);
    }
    expect(ran).toBe(0);
    release();
    await expect(first).rejects.toThrow("wrong credential");
    expect(attempts.status("alice").failures).toBe(1);
  });

  test("errors that are not VaultErrors (storage, bugs) are not counted unless isFailure says so", async () => {
    const attempts = new CredentialAttempts({ now: fakeClock().now });
    for (let i = 0; i < 10; i++) await expect(attempts.attempt("alice", () => Promise.reject(new Error("network")))).rejects.toThrow("network");
    expect(attempts.status("alice")).toEqual({ failures: 0, lockedForMs: 0, lockouts: 0 });
    const strict = new CredentialAttempts({ now: fakeClock().now, isFailure: (e) => e instanceof VaultError && e.message === "wrong credential" });
    await expect(strict.attempt("alice", () => Promise.reject(new VaultError("DynamoDB down")))).rejects.toThrow();
    expect(strict.status("alice").failures).toBe(0);
    await expect(strict.attempt("alice", wrong)).rejects.toThrow();
    expect(strict.status("alice").failures).toBe(1);
  });

  test("custom policy and its validation", async () => {
    const clock = fakeClock();
    const attempts = new CredentialAttempts({ now: clock.now, policy: { maxFailures: 2, baseLockoutMs: 1000, maxLockoutMs: 3000 } });
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      await fail(attempts, "alice", 2);
      seen.push(lockedFor(attempts, "alice"));
      clock.advance(seen.at(-1)!);
    }
    expect(seen).toEqual([1000, 2000, 3000, 3000]);
    expect(() => new CredentialAttempts({ policy: { maxFailures: 0 } })).toThrow(VaultError);
    expect(() => new CredentialAttempts({ policy: { baseLockoutMs: 10, maxLockoutMs: 5 } })).toThrow(VaultError);
  });

  test("the table of operators is bounded; clean entries are pruned", async () => {
    const attempts = new CredentialAttempts({ now: fakeClock().now, policy: { maxOperators: 2 } });
    await fail(attempts, "a", 1);
    await fail(attempts, "b", 1);
    await expect(attempts.attempt("c", wrong)).rejects.toThrow(/too many operators/);
    expect(await attempts.attempt("a", right)).toBe("share"); // a's entry is now clean and goes
    await fail(attempts, "c", 1);
    expect(attempts.status("c").failures).toBe(1);
  });
});
