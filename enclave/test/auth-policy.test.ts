import { describe, expect, test } from "vitest";
import {
  ANY,
  AuthConfigError,
  cidrContains,
  evaluate,
  parseAddress,
  parseCidr,
  parsePolicy,
  SCOPES,
  type AccessRequest,
  type Policy,
  type Scope,
} from "../src/auth/index.ts";

const K1 = `0x${"a1".repeat(48)}`;
const K2 = `0x${"b2".repeat(48)}`;
const K3 = `0x${"c3".repeat(48)}`;

// ---------------------------------------------------------------------------
// The dimensions of the matrix.

type List = readonly string[] | "*";
interface RuleSpec {
  effect: "allow" | "deny";
  scopes: List;
  keys: List;
  operations: List;
  cidrs: List;
}

const SCOPE_OPTIONS: List[] = ["*", ["sign"], ["sign", "manage"], ["metrics"]];
const KEY_OPTIONS: List[] = ["*", [K1], [K1, K2]];
const OPERATION_OPTIONS: List[] = ["*", ["BLOCK_V2"], ["ATTESTATION", "AGGREGATION_SLOT"]];
const CIDR_OPTIONS: List[] = ["*", ["127.0.0.0/8"], ["::1"], ["10.0.0.0/8", "2001:db8::/32"], ["::ffff:192.168.0.0/112"], ["0.0.0.0/0"]];

const REQUEST_KEYS = [K1, K2, K3, undefined];
const REQUEST_OPERATIONS = ["BLOCK_V2", "ATTESTATION", "RANDAO_REVEAL", undefined];

/**
 * The oracle's view of the CIDR options, written out by hand: for each
 * source address, the CIDR options (by their index in CIDR_OPTIONS, "*"
 * aside) that contain it.
 */
const SOURCES: Record<string, readonly number[]> = {
  "127.0.0.1": [1, 5],
  "::ffff:127.0.0.1": [1, 5],
  "::1": [2],
  "10.1.2.3": [3, 5],
  "::ffff:10.1.2.3": [3, 5],
  "2001:db8::5": [3],
  "2001:0db8:0000:0000:0000:0000:0000:0005": [3],
  "2001:db9::1": [],
  "192.168.7.9": [4, 5],
  "::ffff:192.168.7.9": [4, 5],
  "::ffff:c0a8:709": [4, 5], // 192.168.7.9, mapped, in hex groups
  "8.8.8.8": [5],
  "fe80::1%eth0": [],
};

// ---------------------------------------------------------------------------
// The oracle: the rules of the issue, plainly.

function listHas(list: List, value: string | symbol | undefined): boolean {
  if (list === "*") return true;
  if (typeof value !== "string") return false;
  return list.includes(value);
}

function ruleApplies(rule: RuleSpec, request: AccessRequest): boolean {
  const cidrIndex = CIDR_OPTIONS.indexOf(rule.cidrs);
  const cidrOk = rule.cidrs === "*" || SOURCES[request.sourceAddress]!.includes(cidrIndex);
  return listHas(rule.scopes, request.scope) && listHas(rule.keys, request.publicKey) && listHas(rule.operations, request.operation) && cidrOk;
}

function oracle(rules: readonly RuleSpec[], request: AccessRequest): boolean {
  const denied = rules.some((rule) => rule.effect === "deny" && ruleApplies(rule, request));
  const allowed = rules.some((rule) => rule.effect === "allow" && ruleApplies(rule, request));
  return allowed && !denied;
}

// ---------------------------------------------------------------------------

const ALL_RULES: RuleSpec[] = [];
for (const scopes of SCOPE_OPTIONS)
  for (const keys of KEY_OPTIONS)
    for (const operations of OPERATION_OPTIONS)
      for (const cidrs of CIDR_OPTIONS) ALL_RULES.push({ effect: "allow", scopes, keys, operations, cidrs });

const ALL_REQUESTS: AccessRequest[] = [];
for (const scope of SCOPES)
  for (const publicKey of REQUEST_KEYS)
    for (const operation of REQUEST_OPERATIONS)
      for (const sourceAddress of Object.keys(SOURCES)) ALL_REQUESTS.push({ scope, publicKey, operation, sourceAddress });

const describeRule = (r: RuleSpec) =>
  `${r.effect} scopes=${JSON.stringify(r.scopes)} keys=${r.keys === "*" ? "*" : r.keys.length} ops=${JSON.stringify(r.operations)} cidrs=${JSON.stringify(r.cidrs)}`;

let policyCounter = 0;
const policyOf = (rules: readonly RuleSpec[]): Policy => parsePolicy({ name: `p${policyCounter++}`, rules });

/** Every request against the policies; returns the disagreements with the oracle. */
function disagreements(policies: readonly Policy[], rules: readonly RuleSpec[]) {
  const wrong: string[] = [];
  let allowed = 0;
  for (const request of ALL_REQUESTS) {
    const decision = evaluate(policies, request);
    const expected = oracle(rules, request);
    if (decision.allowed) allowed++;
    if (decision.allowed !== expected) wrong.push(`${JSON.stringify(request)}: got ${decision.allowed}, oracle ${expected}`);
  }
  return { wrong: wrong.slice(0, 5), count: wrong.length, allowed };
}

test("the matrix is the size intended", () => {
  expect(ALL_RULES.length).toBe(4 * 3 * 3 * 6);
  expect(ALL_REQUESTS.length).toBe(7 * 4 * 4 * 13);
});

describe("single rules: every rule × every request", () => {
  const cases = ALL_RULES.flatMap((rule) => [rule, { ...rule, effect: "deny" as const }]);
  test.each(cases.map((rule) => [describeRule(rule), rule] as const))("%s", (_name, rule) => {
    const result = disagreements([policyOf([rule])], [rule]);
    expect(result.wrong).toEqual([]);
    // A lone deny rule allows nothing (default deny).
    if (rule.effect === "deny") expect(result.allowed).toBe(0);
  });
});

/** A deterministic pseudo-random sequence (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("allow and deny together: deny wins, in one policy or across two, in any order", () => {
  const next = random(12345);
  const pick = () => ALL_RULES[Math.floor(next() * ALL_RULES.length)]!;
  const pairs = Array.from({ length: 150 }, () => {
    const allow = pick();
    const deny = { ...pick(), effect: "deny" as const };
    return [`${describeRule(allow)} | ${describeRule(deny)}`, allow, deny] as const;
  });
  test.each(pairs)("%s", (_name, allow, deny) => {
    const rules = [allow, deny];
    for (const policies of [
      [policyOf([allow, deny])],
      [policyOf([deny, allow])],
      [policyOf([allow]), policyOf([deny])],
      [policyOf([deny]), policyOf([allow])],
    ]) {
      expect(disagreements(policies, rules).wrong).toEqual([]);
    }
  });

  test("three-rule policies (two allows, one deny) agree with the oracle", () => {
    let checked = 0;
    for (let i = 0; i < 60; i++) {
      const rules = [pick(), pick(), { ...pick(), effect: "deny" as const }];
      expect(disagreements([policyOf(rules)], rules).wrong).toEqual([]);
      checked++;
    }
    expect(checked).toBe(60);
  });

  test("the matrix is not degenerate: some pairs allow some requests, and deny removes some of them", () => {
    const allow = ALL_RULES.find((r) => r.scopes === "*" && r.keys === "*" && r.operations === "*" && r.cidrs === "*")!;
    const deny: RuleSpec = { effect: "deny", scopes: ["sign"], keys: [K1], operations: "*", cidrs: ["127.0.0.0/8"] };
    const alone = disagreements([policyOf([allow])], [allow]);
    const both = disagreements([policyOf([allow, deny])], [allow, deny]);
    expect(alone.allowed).toBe(ALL_REQUESTS.length);
    // sign × K1 × 4 operations × 2 loopback-v4 spellings
    expect(alone.allowed - both.allowed).toBe(4 * 2);
  });
});

describe("plain cases", () => {
  const request = (over: Partial<AccessRequest> = {}): AccessRequest => ({
    scope: "sign",
    publicKey: K1,
    operation: "ATTESTATION",
    sourceAddress: "127.0.0.1",
    ...over,
  });

  test("no policies, or a policy with no rules, allows nothing", () => {
    expect(evaluate([], request())).toMatchObject({ allowed: false, reason: expect.stringMatching(/no policy allows sign/) });
    expect(evaluate([parsePolicy({ name: "empty", rules: [] })], request()).allowed).toBe(false);
  });

  test("a deny names its policy and rule", () => {
    const policy = parsePolicy({
      name: "ops",
      rules: [
        { effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: "*" },
        { effect: "deny", scopes: ["sign"], keys: [K1], operations: ["ATTESTATION"], cidrs: "*" },
      ],
    });
    expect(evaluate([policy], request())).toEqual({ allowed: false, reason: 'denied by rule 1 of policy "ops"' });
    expect(evaluate([policy], request({ publicKey: K2 }))).toEqual({ allowed: true });
  });

  test("keys are matched in canonical form", () => {
    const policy = parsePolicy({ name: "k", rules: [{ effect: "allow", scopes: "*", keys: [K1.toUpperCase().replace("0X", "0x")], operations: "*", cidrs: "*" }] });
    expect(policy.rules[0]!.keys).toEqual([K1]);
    expect(evaluate([policy], request({ publicKey: K1.slice(2).toUpperCase() })).allowed).toBe(true);
  });

  test("a source that is not an IP address is refused even by allow-everything", () => {
    const all = parsePolicy({ name: "all", rules: [{ effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: "*" }] });
    for (const sourceAddress of ["", "localhost", "300.1.1.1", undefined as unknown as string]) {
      expect(evaluate([all], request({ sourceAddress })).allowed).toBe(false);
    }
  });

  test("a hand-built (unparsed) policy is validated before use", () => {
    const bad = { name: "bad", rules: [{ effect: "allow", scopes: ["sing"], keys: "*", operations: "*", cidrs: "*" }] } as unknown as Policy;
    expect(() => evaluate([bad], request())).toThrow(AuthConfigError);
  });

  test("every scope can be granted alone", () => {
    for (const scope of SCOPES) {
      const policy = parsePolicy({ name: `only-${scope}`, rules: [{ effect: "allow", scopes: [scope], keys: "*", operations: "*", cidrs: "*" }] });
      for (const other of SCOPES) expect(evaluate([policy], request({ scope: other as Scope })).allowed).toBe(other === scope);
    }
  });
});

describe("ANY: the pre-check before a key or operation is known", () => {
  const rules: RuleSpec[] = [];
  for (const effect of ["allow", "deny"] as const)
    for (const keys of KEY_OPTIONS) for (const operations of OPERATION_OPTIONS) rules.push({ effect, scopes: ["sign"], keys, operations, cidrs: "*" });
  const policies = rules.flatMap((allow) =>
    allow.effect === "allow" ? rules.filter((r) => r.effect === "deny").map((deny) => parsePolicy({ name: "p", rules: [allow, deny] })) : [],
  );

  test("never refuses what some concrete key and operation would allow", () => {
    let refused = 0;
    for (const policy of policies) {
      const anyAllowed = evaluate([policy], { scope: "sign", publicKey: ANY, operation: ANY, sourceAddress: "10.0.0.1" }).allowed;
      const someAllowed = [K1, K2, K3].some((publicKey) =>
        ["BLOCK_V2", "ATTESTATION", "AGGREGATION_SLOT", "RANDAO_REVEAL"].some((operation) => evaluate([policy], { scope: "sign", publicKey, operation, sourceAddress: "10.0.0.1" }).allowed),
      );
      if (someAllowed) expect(anyAllowed).toBe(true);
      if (!anyAllowed) refused++;
    }
    // Deny-everything rules make some pre-checks fail: the pre-check refuses, not only passes.
    expect(refused).toBeGreaterThan(0);
  });

  test("an allow listing keys passes the pre-check; a deny listing keys does not block it; a deny of * does", () => {
    const allowK1 = { effect: "allow", scopes: ["sign"], keys: [K1], operations: ["BLOCK_V2"], cidrs: "*" };
    const pre = { scope: "sign", publicKey: ANY, operation: ANY, sourceAddress: "::1" } as const;
    expect(evaluate([parsePolicy({ name: "a", rules: [allowK1] })], pre).allowed).toBe(true);
    expect(evaluate([parsePolicy({ name: "a", rules: [allowK1, { ...allowK1, effect: "deny" }] })], pre).allowed).toBe(true);
    expect(evaluate([parsePolicy({ name: "a", rules: [allowK1, { ...allowK1, effect: "deny", keys: "*" }] })], { ...pre, operation: "BLOCK_V2" }).allowed).toBe(false);
    expect(evaluate([parsePolicy({ name: "a", rules: [allowK1] })], { ...pre, scope: "manage" }).allowed).toBe(false);
    // ANY does not stand in for "no key": a key-listing rule still grants nothing keyless.
    expect(evaluate([parsePolicy({ name: "a", rules: [allowK1] })], { scope: "sign", sourceAddress: "::1" }).allowed).toBe(false);
  });
});

describe("CIDRs", () => {
  const inside = (cidr: string, address: string) => {
    const parsed = parseCidr(cidr);
    if (typeof parsed === "string") throw new Error(parsed);
    return cidrContains(parsed, parseAddress(address, true)!);
  };

  test.each([
    ["10.0.0.0/8", "10.255.255.255", true],
    ["10.0.0.0/8", "11.0.0.0", false],
    ["192.168.1.128/25", "192.168.1.200", true],
    ["192.168.1.128/25", "192.168.1.127", false],
    ["127.0.0.1", "127.0.0.1", true],
    ["127.0.0.1", "127.0.0.2", false],
    ["127.0.0.0/8", "::ffff:127.0.0.1", true],
    ["::ffff:127.0.0.0/104", "127.9.9.9", true],
    ["::ffff:7f00:0/104", "127.0.0.1", true],
    ["0.0.0.0/0", "::1", false],
    ["0.0.0.0/0", "2001:db8::1", false],
    ["::/0", "1.2.3.4", true],
    ["::/0", "2001:db8::1", true],
    ["::1", "::1", true],
    ["::1/128", "::2", false],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/33", "2001:db8:8000::1", false],
    ["2001:db8::/31", "2001:db9::1", true],
    ["fe80::/10", "fe80::1%eth0", true],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", true],
    ["::ffff:1.2.3.4", "1.2.3.4", true],
  ])("%s contains %s: %s", (cidr, address, expected) => {
    expect(inside(cidr, address)).toBe(expected);
  });

  test.each([
    ["10.0.0.1/8", /bits set past its \/8 prefix/],
    ["10.0.0.0/33", /must be 0 to 32/],
    ["::/129", /must be 0 to 128/],
    ["10.0.0.0/", /prefix length/],
    ["10.0.0.0/08x", /prefix length/],
    ["10.0.0.0/8/8", /prefix length/],
    ["256.0.0.0/8", /not an IPv4 or IPv6/],
    ["fe80::1%eth0", /not an IPv4 or IPv6/],
    ["example.com/8", /not an IPv4 or IPv6/],
    ["", /not an IPv4 or IPv6/],
  ])("refuses %s", (cidr, message) => {
    const parsed = parseCidr(cidr);
    expect(typeof parsed).toBe("string");
    expect(parsed).toMatch(message);
  });
});

describe("parsePolicy names the field at fault", () => {
  const rule = { effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: "*" };
  test.each([
    [null, /^policy: must be an object/],
    [{ name: "bad name", rules: [] }, /policy.name: "bad name" is not a policy name/],
    [{ name: "p", rules: {} }, /policy "p".rules: must be a list/],
    [{ name: "p", rules: [], extra: 1 }, /unknown field "extra"/],
    [{ name: "p", rules: [{ ...rule, effect: "permit" }] }, /rules\[0\].effect: must be "allow" or "deny"/],
    [{ name: "p", rules: [rule, { ...rule, scopes: ["sign", "sing"] }] }, /rules\[1\].scopes\[1\]: unknown scope "sing"/],
    [{ name: "p", rules: [{ ...rule, keys: ["0x1234"] }] }, /rules\[0\].keys\[0\]: "0x1234" is not a BLS public key/],
    [{ name: "p", rules: [{ ...rule, operations: ["BLOCK_V3"] }] }, /rules\[0\].operations\[0\]: unknown signing type "BLOCK_V3"/],
    [{ name: "p", rules: [{ ...rule, cidrs: ["10.0.0.1/8"] }] }, /rules\[0\].cidrs\[0\]: "10.0.0.1\/8" has bits set/],
    [{ name: "p", rules: [{ ...rule, cidrs: [] }] }, /rules\[0\].cidrs: an empty list matches nothing/],
    [{ name: "p", rules: [{ ...rule, keys: "all" }] }, /rules\[0\].keys: must be "\*" or a list/],
    [{ name: "p", rules: [{ effect: "allow", scopes: "*", keys: "*", operations: "*" }] }, /rules\[0\].cidrs: missing/],
    [{ name: "p", rules: [{ ...rule, scope: ["sign"] }] }, /rules\[0\]: unknown field "scope"/],
  ])("%j", (json, message) => {
    expect(() => parsePolicy(json)).toThrow(AuthConfigError);
    expect(() => parsePolicy(json)).toThrow(message);
  });

  test("a parsed policy is frozen and round-trips through JSON", () => {
    const policy = parsePolicy({ name: "p", rules: [{ ...rule, scopes: ["sign", "sign"], cidrs: ["::1"] }] });
    expect(Object.isFrozen(policy) && Object.isFrozen(policy.rules) && Object.isFrozen(policy.rules[0])).toBe(true);
    expect(policy.rules[0]!.scopes).toEqual(["sign"]);
    expect(parsePolicy(JSON.parse(JSON.stringify(policy)))).toEqual(policy);
  });
});
