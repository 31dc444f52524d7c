import { SIGNING_TYPES, type SigningType } from "@strongroom/eth2";
import { canonicalPublicKey } from "../keys/public-key.ts";
import { cidrContains, parseAddress, parseCidr, type Cidr } from "./cidr.ts";
import { AuthConfigError } from "./errors.ts";

export const SCOPES = [
  "sign",
  "public_keys",
  "keymanager_read",
  "keymanager_write",
  "slashing_export",
  "manage",
  "metrics",
] as const;
export type Scope = (typeof SCOPES)[number];

/** The Web3Signer signing types a rule may name. */
export const OPERATIONS: readonly SigningType[] = SIGNING_TYPES;
export type Operation = SigningType;

export type Effect = "allow" | "deny";

export interface PolicyRule {
  readonly effect: Effect;
  readonly scopes: readonly Scope[] | "*";
  /** Canonical public keys (0x + 96 lower-case hex). */
  readonly keys: readonly string[] | "*";
  readonly operations: readonly Operation[] | "*";
  /** IPv4/IPv6 CIDR blocks or bare addresses, as written. */
  readonly cidrs: readonly string[] | "*";
}

export interface Policy {
  readonly name: string;
  readonly rules: readonly PolicyRule[];
}

/**
 * Stands for a key or operation not known yet (a signing request before its
 * body is read) or "some key" (may this caller list any key at all?). An
 * allow rule matches it whatever it lists; a deny rule only when it says `*`.
 * So a request with ANY is refused only when no concrete value can be allowed;
 * it is a pre-check (it may pass where every concrete value is then refused),
 * and the concrete check must follow once the value is known.
 */
export const ANY: unique symbol = Symbol("any");

export interface AccessRequest {
  readonly scope: Scope;
  /** The validator key the request concerns, if any. */
  readonly publicKey?: string | typeof ANY | undefined;
  /** The Web3Signer signing type, for `sign` requests. */
  readonly operation?: string | typeof ANY | undefined;
  /** The peer address of the connection (`socket.remoteAddress`). */
  readonly sourceAddress: string;
  /** parseAddress(sourceAddress, true), when the caller has it already (it parses once per connection). */
  readonly parsedSourceAddress?: Uint8Array | undefined;
}

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** The name of the policy applied to requests that carry no credentials, when it exists. */
export const UNAUTHENTICATED_POLICY = "unauthenticated";

const POLICY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const RULE_FIELDS = new Set(["effect", "scopes", "keys", "operations", "cidrs"]);
const POLICY_FIELDS = new Set(["name", "rules"]);
const SCOPE_SET: ReadonlySet<string> = new Set(SCOPES);
const OPERATION_SET: ReadonlySet<string> = new Set(OPERATIONS);

interface CompiledRule {
  readonly effect: Effect;
  readonly index: number;
  /** undefined: `*`. */
  readonly scopes: ReadonlySet<string> | undefined;
  readonly keys: ReadonlySet<string> | undefined;
  readonly operations: ReadonlySet<string> | undefined;
  readonly cidrs: readonly Cidr[] | undefined;
}

const compiledPolicies = new WeakMap<Policy, readonly CompiledRule[]>();

export function isPolicyName(name: unknown): name is string {
  return typeof name === "string" && POLICY_NAME.test(name);
}

const describe = (value: unknown) => (typeof value === "string" ? JSON.stringify(value.slice(0, 100)) : typeof value);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `"*"` or a non-empty array whose members `member` accepts (returning the canonical form or an error string). */
function parseList<T>(value: unknown, where: string, member: (item: unknown) => T | { error: string }): readonly T[] | "*" {
  if (value === "*") return "*";
  if (!Array.isArray(value)) throw new AuthConfigError(`${where}: must be "*" or a list, not ${describe(value)}`);
  if (value.length === 0) throw new AuthConfigError(`${where}: an empty list matches nothing; list something or use "*"`);
  const out: T[] = [];
  value.forEach((item, i) => {
    const parsed = member(item);
    if (typeof parsed === "object" && parsed !== null && "error" in parsed) throw new AuthConfigError(`${where}[${i}]: ${parsed.error}`);
    out.push(parsed as T);
  });
  return Object.freeze([...new Set(out)]);
}

function parseRule(json: unknown, where: string): PolicyRule {
  if (!isPlainObject(json)) throw new AuthConfigError(`${where}: must be an object`);
  for (const field of Object.keys(json)) {
    if (!RULE_FIELDS.has(field)) throw new AuthConfigError(`${where}: unknown field ${describe(field)}`);
  }
  for (const field of RULE_FIELDS) {
    if (!(field in json)) throw new AuthConfigError(`${where}.${field}: missing (every rule names effect, scopes, keys, operations and cidrs; use "*" for any)`);
  }
  const effect = json["effect"];
  if (effect !== "allow" && effect !== "deny") throw new AuthConfigError(`${where}.effect: must be "allow" or "deny", not ${describe(effect)}`);
  const scopes = parseList<Scope>(json["scopes"], `${where}.scopes`, (item) =>
    typeof item === "string" && SCOPE_SET.has(item) ? (item as Scope) : { error: `unknown scope ${describe(item)}; scopes are ${SCOPES.join(", ")}` },
  );
  const keys = parseList<string>(json["keys"], `${where}.keys`, (item) => {
    const canonical = typeof item === "string" ? canonicalPublicKey(item) : undefined;
    return canonical ?? { error: `${describe(item)} is not a BLS public key (0x and 96 hex digits)` };
  });
  const operations = parseList<Operation>(json["operations"], `${where}.operations`, (item) =>
    typeof item === "string" && OPERATION_SET.has(item) ? (item as Operation) : { error: `unknown signing type ${describe(item)}` },
  );
  const cidrs = parseList<string>(json["cidrs"], `${where}.cidrs`, (item) => {
    if (typeof item !== "string") return { error: `must be a string, not ${describe(item)}` };
    const parsed = parseCidr(item);
    return typeof parsed === "string" ? { error: parsed } : item;
  });
  return Object.freeze({ effect, scopes, keys, operations, cidrs });
}

/**
 * Validates a policy (as JSON or as an object) and returns a frozen copy.
 * Throws AuthConfigError naming the field at fault.
 */
export function parsePolicy(json: unknown, where = "policy"): Policy {
  if (!isPlainObject(json)) throw new AuthConfigError(`${where}: must be an object`);
  for (const field of Object.keys(json)) {
    if (!POLICY_FIELDS.has(field)) throw new AuthConfigError(`${where}: unknown field ${describe(field)}`);
  }
  const name = json["name"];
  if (!isPolicyName(name)) {
    throw new AuthConfigError(`${where}.name: ${describe(name)} is not a policy name (1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)`);
  }
  const named = `${where} "${name}"`;
  const rules = json["rules"];
  if (!Array.isArray(rules)) throw new AuthConfigError(`${named}.rules: must be a list`);
  const policy: Policy = Object.freeze({ name, rules: Object.freeze(rules.map((rule, i) => parseRule(rule, `${named}.rules[${i}]`))) });
  compiledPolicies.set(policy, compile(policy));
  return policy;
}

const toSet = (list: readonly string[] | "*") => (list === "*" ? undefined : new Set(list));

function compile(policy: Policy): readonly CompiledRule[] {
  return policy.rules.map((rule, index) => ({
    effect: rule.effect,
    index,
    scopes: toSet(rule.scopes),
    keys: toSet(rule.keys),
    operations: toSet(rule.operations),
    cidrs: rule.cidrs === "*" ? undefined : rule.cidrs.map((text) => parseCidr(text) as Cidr),
  }));
}

function compiled(policy: Policy): readonly CompiledRule[] {
  const cached = compiledPolicies.get(policy);
  if (cached !== undefined) return cached;
  // Not from parsePolicy: validate it; cache only what cannot change under us.
  const rules = compile(parsePolicy(policy));
  if (Object.isFrozen(policy)) compiledPolicies.set(policy, rules);
  return rules;
}

/** `*` matches anything, an absent value included; a list matches only a present value on it, or ANY in an allow rule. */
function member(set: ReadonlySet<string> | undefined, value: string | typeof ANY | undefined, effect: Effect): boolean {
  if (set === undefined) return true;
  if (value === ANY) return effect === "allow";
  return value !== undefined && set.has(value);
}

/**
 * Decides a request against the policies of a token. A rule applies when
 * every one of its four dimensions matches. Any applying deny rule (in any
 * of the policies) refuses; otherwise an applying allow rule permits;
 * otherwise the request is refused (default deny).
 */
export function evaluate(policies: readonly Policy[], request: AccessRequest): Decision {
  const address = request.parsedSourceAddress ?? parseAddress(request.sourceAddress, true);
  if (address === undefined) return { allowed: false, reason: "the source address of the request is not an IP address" };
  const key = request.publicKey === undefined || request.publicKey === ANY ? request.publicKey : (canonicalPublicKey(request.publicKey) ?? request.publicKey);
  const operation = request.operation;
  let allowed = false;
  for (const policy of policies) {
    for (const rule of compiled(policy)) {
      if (allowed && rule.effect === "allow") continue;
      if (
        member(rule.scopes, request.scope, rule.effect) &&
        member(rule.keys, key, rule.effect) &&
        member(rule.operations, operation, rule.effect) &&
        (rule.cidrs === undefined || rule.cidrs.some((cidr) => cidrContains(cidr, address)))
      ) {
        if (rule.effect === "deny") return { allowed: false, reason: `denied by rule ${rule.index} of policy "${policy.name}"` };
        allowed = true;
      }
    }
  }
  if (allowed) return { allowed: true };
  const what = [
    request.scope,
    key === undefined ? "" : key === ANY ? " for any key" : ` for ${key.slice(0, 98)}`,
    operation === undefined || operation === ANY ? "" : ` (${operation.slice(0, 40)})`,
  ].join("");
  return { allowed: false, reason: `no policy allows ${what} from ${request.sourceAddress}` };
}

/** A policy granting every scope, key, operation and source: the bootstrap administrator's. */
export function allowEverything(name: string): Policy {
  return parsePolicy({ name, rules: [{ effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: "*" }] });
}
