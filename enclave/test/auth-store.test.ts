import { chmodSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHmac, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  AuthConfigError,
  BOOTSTRAP_POLICY,
  evaluate,
  TokenStore,
  UNAUTHENTICATED_POLICY,
  type Authentication,
  type CreatedToken,
} from "../src/auth/index.ts";

/** The tests handle tokens as text; the store hands them out as bytes. */
const text = (created: CreatedToken) => ({ id: created.id, token: created.token.toString("ascii") });
const textOf = (created: CreatedToken | undefined) => created && text(created);

const K1 = `0x${"a1".repeat(48)}`;
let dir: string;
let path: string;
const secret = new Uint8Array(randomBytes(32));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "strongroom-auth-"));
  path = join(dir, "auth.json");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const signer = { name: "signer", rules: [{ effect: "allow", scopes: ["sign", "public_keys"], keys: [K1], operations: "*", cidrs: ["10.0.0.0/8"] }] };
const bearer = (token: string) => `Bearer ${token}`;
const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`;
const okId = (auth: Authentication) => (auth.kind === "ok" ? auth.tokenId : `not ok: ${JSON.stringify(auth)}`);

async function fresh(): Promise<TokenStore> {
  const store = TokenStore.open(path, secret);
  await store.putPolicy(signer);
  return store;
}

describe("tokens", () => {
  test("authenticate by Bearer and by Basic (any username), and evaluate with the token's policies", async () => {
    const store = await fresh();
    const { id, token } = text(await store.createToken("validator client", ["signer"]));
    expect(token).toMatch(/^sr_[A-Za-z0-9_-]{43}$/);
    expect(id).toMatch(/^tok_[0-9a-f]{16}$/);
    for (const header of [bearer(token), basic("vc", token), basic("", token)]) {
      const auth = store.authenticate(header, new Date());
      expect(okId(auth)).toBe(id);
      if (auth.kind !== "ok") continue;
      expect(auth.policies.map((p) => p.name)).toEqual(["signer"]);
      expect(evaluate(auth.policies, { scope: "sign", publicKey: K1, operation: "ATTESTATION", sourceAddress: "10.0.0.7" }).allowed).toBe(true);
      expect(evaluate(auth.policies, { scope: "sign", publicKey: K1, operation: "ATTESTATION", sourceAddress: "::ffff:10.0.0.7" }).allowed).toBe(true);
      expect(evaluate(auth.policies, { scope: "manage", sourceAddress: "10.0.0.7" }).allowed).toBe(false);
    }
  });

  test("missing, malformed, unknown and wrong-but-well-formed tokens are refused", async () => {
    const store = await fresh();
    const { token } = text(await store.createToken("vc", ["signer"]));
    expect(store.authenticate(undefined, new Date())).toEqual({ kind: "missing" });
    expect(store.authenticate("Bearer nope", new Date())).toEqual({ kind: "invalid", code: "malformed", reason: "credentials are not a strongroom token" });
    expect(store.authenticate(`Token ${token}`, new Date())).toMatchObject({ kind: "invalid", code: "malformed", reason: expect.stringMatching(/scheme/) });
    // Same length and shape, one character different: must not pass (HMAC differs; compare is timingSafeEqual).
    const last = token.at(-1) === "A" ? "B" : "A";
    const wrong = `${token.slice(0, -1)}${last}`;
    expect(wrong.length).toBe(token.length);
    expect(store.authenticate(bearer(wrong), new Date())).toEqual({ kind: "invalid", code: "unknown", reason: "unknown token" });
    expect(store.authenticate(basic("u", wrong), new Date())).toEqual({ kind: "invalid", code: "unknown", reason: "unknown token" });
    // A token of another store (another server secret) is unknown here.
    const other = TokenStore.open(join(dir, "other.json"), new Uint8Array(randomBytes(32)));
    await other.putPolicy(signer);
    expect(store.authenticate(bearer(text(await other.createToken("x", ["signer"])).token), new Date())).toEqual({ kind: "invalid", code: "unknown", reason: "unknown token" });
  });

  test("expiry: accepted before, refused at and after", async () => {
    const store = await fresh();
    const expiresAt = new Date(Date.now() + 60_000);
    const { id, token } = text(await store.createToken("short", ["signer"], expiresAt));
    expect(okId(store.authenticate(bearer(token), new Date(expiresAt.getTime() - 1)))).toBe(id);
    expect(store.authenticate(bearer(token), expiresAt)).toEqual({ kind: "invalid", code: "expired", reason: "token expired" });
    expect(store.authenticate(bearer(token), new Date(expiresAt.getTime() + 86_400_000))).toEqual({ kind: "invalid", code: "expired", reason: "token expired" });
    expect(store.listTokens().find((t) => t.id === id)?.expiresAt).toEqual(expiresAt);
    await expect(store.createToken("past", ["signer"], new Date(Date.now() - 1))).rejects.toThrow(/already past/);
  });

  test("creating a token needs existing policies and a sane name", async () => {
    const store = await fresh();
    await expect(store.createToken("x", ["nosuch"])).rejects.toThrow(/no policy named "nosuch"/);
    await expect(store.createToken("x", [])).rejects.toThrow(/non-empty list of policy names/);
    await expect(store.createToken("", ["signer"])).rejects.toThrow(AuthConfigError);
    await expect(store.createToken("a\nb", ["signer"])).rejects.toThrow(/control characters/);
    expect(store.listTokens()).toEqual([]);
  });

  test("listTokens shows no secret", async () => {
    const store = await fresh();
    const { id, token } = text(await store.createToken("vc", ["signer"]));
    const listed = store.listTokens();
    expect(listed).toEqual([{ id, name: "vc", policies: ["signer"], createdAt: expect.any(Date) }]);
    expect(JSON.stringify(listed)).not.toContain(token.slice(3));
  });

  test("the server secret must be at least 32 bytes", async () => {
    expect(() => TokenStore.open(path, new Uint8Array(16))).toThrow(/at least 32 bytes/);
  });

  test("the hot path is cheap", async () => {
    const store = await fresh();
    const { token } = text(await store.createToken("vc", ["signer"]));
    const header = bearer(token);
    const now = new Date();
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) if (store.authenticate(header, now).kind !== "ok") throw new Error("refused");
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe("policies in the store", () => {
  test("a changed policy applies to its tokens at once; one in use cannot be deleted", async () => {
    const store = await fresh();
    const { id, token } = text(await store.createToken("vc", ["signer"]));
    const req = { scope: "sign", publicKey: K1, operation: "BLOCK_V2", sourceAddress: "10.1.1.1" } as const;
    const policiesOf = () => {
      const auth = store.authenticate(bearer(token), new Date());
      return auth.kind === "ok" ? auth.policies : [];
    };
    expect(evaluate(policiesOf(), req).allowed).toBe(true);
    await store.putPolicy({ ...signer, rules: [...signer.rules, { effect: "deny", scopes: "*", keys: "*", operations: ["BLOCK_V2"], cidrs: "*" }] });
    expect(evaluate(policiesOf(), req).allowed).toBe(false);
    await expect(store.deletePolicy("signer")).rejects.toThrow(new RegExp(`policy "signer" is used by token ${id}; revoke them first`));
    expect(await store.revokeToken(id)).toBe(true);
    expect(await store.deletePolicy("signer")).toBe(true);
    expect(await store.deletePolicy("signer")).toBe(false);
    expect(store.listPolicies()).toEqual([]);
  });

  test("an invalid policy is refused and nothing changes", async () => {
    const store = await fresh();
    const before = readFileSync(path, "utf8");
    await expect(store.putPolicy({ name: "signer", rules: [{ effect: "allow" }] })).rejects.toThrow(/rules\[0\].scopes: missing/);
    expect(readFileSync(path, "utf8")).toBe(before);
    expect(store.getPolicy("signer")?.rules).toHaveLength(1);
  });

  test("an `unauthenticated` policy, set only by configuration, serves requests without credentials, never wrong ones", async () => {
    const loopback = [{ effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: ["127.0.0.0/8", "::1"] }];
    expect((await fresh()).authenticate(undefined, new Date())).toEqual({ kind: "missing" });
    // Not through the store: removing it from the configuration must turn it off.
    await expect((await fresh()).putPolicy({ name: UNAUTHENTICATED_POLICY, rules: loopback })).rejects.toThrow(/set only by configuration/);
    expect(() => TokenStore.open(path, secret, { unauthenticated: [{ effect: "allow" }] })).toThrow(/unauthenticated policy.*rules\[0\]\.scopes: missing/);
    const store = TokenStore.open(path, secret, { unauthenticated: { rules: loopback } });
    expect(store.listPolicies().map((p) => p.name)).toEqual(["signer"]);
    expect(TokenStore.open(path, secret).authenticate(undefined, new Date())).toEqual({ kind: "missing" });
    const auth = store.authenticate(undefined, new Date());
    expect(auth.kind).toBe("anonymous");
    if (auth.kind !== "anonymous") return;
    expect(evaluate(auth.policies, { scope: "sign", publicKey: K1, operation: "BLOCK_V2", sourceAddress: "::ffff:127.0.0.1" }).allowed).toBe(true);
    expect(evaluate(auth.policies, { scope: "sign", publicKey: K1, operation: "BLOCK_V2", sourceAddress: "10.0.0.1" }).allowed).toBe(false);
    expect(store.authenticate(bearer(`sr_${"A".repeat(43)}`), new Date())).toEqual({ kind: "invalid", code: "unknown", reason: "unknown token" });
  });
});

describe("state file", () => {
  test("is created at once with mode 0600, holds only HMACs, and leaves no temp files", async () => {
    const store = await fresh();
    const created = [text(await store.createToken("a", ["signer"])), text(await store.createToken("b", ["signer"]))];
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["auth.json"]);
    const file = readFileSync(path, "utf8");
    const state = JSON.parse(file);
    for (const { token } of created) {
      const random = Buffer.from(token.slice(3), "base64url");
      const forms = [
        token,
        token.slice(3),
        random.toString("hex"),
        random.toString("base64"),
        random.toString("base64").replace(/=+$/, ""),
        Buffer.from(token).toString("hex"),
        Buffer.from(token).toString("base64"),
        Buffer.from(token).toString("base64url"),
      ];
      for (const form of forms) {
        expect(file).not.toContain(form);
        expect(file.toLowerCase()).not.toContain(form.toLowerCase());
      }
      // What is there is the HMAC, under the server secret.
      expect(state.tokens.map((t: { hmac: string }) => t.hmac)).toContain(createHmac("sha256", secret).update(token).digest("hex"));
    }
    expect(Object.keys(state.tokens[0]).sort()).toEqual(["createdAt", "hmac", "id", "name", "policies"]);
  });

  test("every write replaces the file by rename, never rewriting it in place", async () => {
    const store = await fresh();
    // A second name for the current file: an in-place rewrite would change what it shows; a rename leaves it be.
    const before = readFileSync(path, "utf8");
    linkSync(path, join(dir, "old-link"));
    const { id } = text(await store.createToken("a", ["signer"]));
    expect(readFileSync(join(dir, "old-link"), "utf8")).toBe(before);
    expect(readFileSync(path, "utf8")).not.toBe(before);
    expect(statSync(path).ino).not.toBe(statSync(join(dir, "old-link")).ino);
    rmSync(join(dir, "old-link"));
    const middle = readFileSync(path, "utf8");
    linkSync(path, join(dir, "old-link"));
    await store.revokeToken(id);
    expect(readFileSync(join(dir, "old-link"), "utf8")).toBe(middle);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("a failed write leaves memory as it was and throws", async () => {
    const sub = join(dir, "sub");
    mkdirSync(sub);
    const store = TokenStore.open(join(sub, "auth.json"), secret);
    await store.putPolicy(signer);
    rmSync(sub, { recursive: true }); // the next write cannot happen, root or not
    await expect(store.createToken("a", ["signer"])).rejects.toThrow(/ENOENT/);
    expect(store.listTokens()).toEqual([]);
    await expect(store.putPolicy({ name: "other", rules: [] })).rejects.toThrow(/ENOENT/);
    expect(store.listPolicies().map((p) => p.name)).toEqual(["signer"]);
  });

  test("survives reopening: tokens, policies and expiries are kept", async () => {
    const first = await fresh();
    const expiresAt = new Date(Date.now() + 3_600_000);
    const a = text(await first.createToken("a", ["signer"], expiresAt));
    const b = text(await first.createToken("b", ["signer"]));
    const reopened = TokenStore.open(path, secret);
    expect(reopened.listTokens()).toEqual(first.listTokens());
    expect(reopened.listPolicies()).toEqual(first.listPolicies());
    expect(okId(reopened.authenticate(bearer(a.token), new Date()))).toBe(a.id);
    expect(okId(reopened.authenticate(basic("x", b.token), new Date()))).toBe(b.id);
    expect(reopened.authenticate(bearer(a.token), expiresAt)).toEqual({ kind: "invalid", code: "expired", reason: "token expired" });
  });

  test("revocation is immediate and persisted", async () => {
    const store = await fresh();
    const a = text(await store.createToken("a", ["signer"]));
    const b = text(await store.createToken("b", ["signer"]));
    expect(await store.revokeToken(a.id)).toBe(true);
    expect(store.authenticate(bearer(a.token), new Date())).toEqual({ kind: "invalid", code: "unknown", reason: "unknown token" });
    expect(okId(store.authenticate(bearer(b.token), new Date()))).toBe(b.id);
    expect(await store.revokeToken(a.id)).toBe(false);
    const reopened = TokenStore.open(path, secret);
    expect(reopened.authenticate(bearer(a.token), new Date())).toEqual({ kind: "invalid", code: "unknown", reason: "unknown token" });
    expect(reopened.listTokens().map((t) => t.id)).toEqual([b.id]);
  });

  test("a different server secret is reported on load", async () => {
    text(await (await fresh()).createToken("a", ["signer"]));
    expect(() => TokenStore.open(path, new Uint8Array(randomBytes(32)))).toThrow(/written with a different server secret/);
  });

  test("a file readable by others is refused", async () => {
    await fresh();
    chmodSync(path, 0o644);
    expect(() => TokenStore.open(path, secret)).toThrow(/mode 644\); it must be 0600/);
  });

  describe("a malformed file is refused with a message naming the problem", () => {
    /** A valid state with two tokens, as JSON, to be spoiled. */
    const valid = async () => {
      const store = await fresh();
      text(await store.createToken("a", ["signer"]));
      text(await store.createToken("b", ["signer"]));
      return JSON.parse(readFileSync(path, "utf8"));
    };
    const cases: Array<[string, (s: any) => unknown, RegExp]> = [
      ["not JSON", () => "{ nope", /not valid JSON/],
      ["an array", () => [], /not a JSON object/],
      ["wrong format", (s) => ({ ...s, format: "other" }), /format is not "strongroom-auth-state"/],
      ["future version", (s) => ({ ...s, version: 2 }), /version 2 is not supported/],
      ["no secretCheck", (s) => ({ ...s, secretCheck: undefined }), /secretCheck is missing/],
      ["unknown field", (s) => ({ ...s, extra: true }), /unknown field "extra"/],
      ["bad bootstrapped", (s) => ({ ...s, bootstrapped: "yes" }), /bootstrapped must be true or false/],
      ["policies not a list", (s) => ({ ...s, policies: {} }), /policies must be a list/],
      ["bad policy", (s) => ((s.policies[0].rules[0].scopes = ["everything"]), s), /policies\[0\] "signer".rules\[0\].scopes\[0\]: unknown scope "everything"/],
      ["duplicate policy", (s) => ((s.policies = [s.policies[0], s.policies[0]]), s), /policies\[1\]: a second policy named "signer"/],
      ["bad hmac", (s) => ((s.tokens[1].hmac = "zz"), s), /tokens\[1\].hmac: not 64 lower-case hex digits/],
      ["duplicate hmac", (s) => ((s.tokens[1].hmac = s.tokens[0].hmac), s), /tokens\[1\].hmac: the same as that of token tok_/],
      ["duplicate id", (s) => ((s.tokens[1].id = s.tokens[0].id), s), /tokens\[1\].id: a second token with id/],
      ["bad id", (s) => ((s.tokens[0].id = "1"), s), /tokens\[0\].id: not a token id/],
      ["unknown policy", (s) => ((s.tokens[0].policies = ["ghost"]), s), /tokens\[0\].policies: no policy named "ghost"/],
      ["no policies", (s) => ((s.tokens[0].policies = []), s), /tokens\[0\].policies: a token needs a non-empty list/],
      ["bad date", (s) => ((s.tokens[0].createdAt = "yesterday"), s), /tokens\[0\].createdAt: not an ISO-8601 UTC timestamp/],
      ["bad expiry", (s) => ((s.tokens[0].expiresAt = 5), s), /tokens\[0\].expiresAt: not an ISO-8601/],
      ["a token secret field", (s) => ((s.tokens[0].token = "sr_x"), s), /tokens\[0\]: unknown field "token"/],
    ];
    test.each(cases)("%s", async (_name, spoil, message) => {
      const spoiled = spoil(await valid());
      writeFileSync(path, typeof spoiled === "string" ? spoiled : JSON.stringify(spoiled), { mode: 0o600 });
      let error: unknown;
      try {
        TokenStore.open(path, secret);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AuthConfigError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toMatch(message);
    });
  });
});

describe("bootstrap", () => {
  test("an admin token is created once on an empty state, and never again", async () => {
    const store = TokenStore.open(path, secret);
    const boot = textOf(await store.bootstrapIfEmpty());
    expect(boot).toBeDefined();
    if (boot === undefined) return;
    expect(boot.token).toMatch(/^sr_[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(path, "utf8")).not.toContain(boot.token.slice(3));
    const auth = store.authenticate(bearer(boot.token), new Date());
    expect(auth.kind).toBe("ok");
    if (auth.kind !== "ok") return;
    expect(auth.policies.map((p) => p.name)).toEqual([BOOTSTRAP_POLICY]);
    expect(evaluate(auth.policies, { scope: "manage", sourceAddress: "203.0.113.9" }).allowed).toBe(true);
    expect(evaluate(auth.policies, { scope: "sign", publicKey: K1, operation: "DEPOSIT", sourceAddress: "2001:db8::1" }).allowed).toBe(true);

    expect(await store.bootstrapIfEmpty()).toBeUndefined();
    expect(await TokenStore.open(path, secret).bootstrapIfEmpty()).toBeUndefined();
    // Even with every token revoked and the admin policy gone, no second bootstrap.
    await store.revokeToken(boot.id);
    await store.deletePolicy(BOOTSTRAP_POLICY);
    expect(store.listTokens()).toEqual([]);
    expect(store.listPolicies()).toEqual([]);
    expect(await TokenStore.open(path, secret).bootstrapIfEmpty()).toBeUndefined();
  });

  test("a state that already has policies or tokens is not bootstrapped", async () => {
    const store = await fresh();
    expect(await store.bootstrapIfEmpty()).toBeUndefined();
    expect(store.listTokens()).toEqual([]);
  });
});
