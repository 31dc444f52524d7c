// Key policies (and the one identity policy that stands in for IAM) as the
// KMS simulator reads and judges them: a small, strict subset of the IAM
// policy language, enough for the policies strongroom tells operators to
// write. Anything outside the subset is refused when the policy is set
// (MalformedPolicyDocumentException), never silently ignored.
//
// Supported: Version, Id; Statement (one object or a list) with Sid, Effect
// (Allow | Deny), Principal ("*", or {"AWS": ARN | account id | "*" | list}),
// Action (string or list; `kms:<Operation>` with `*` and `?` wildcards, or
// "*"), Resource ("*" or a key ARN, string or list), and Condition with the
// operators StringEquals and StringEqualsIgnoreCase (each key a string or a
// list of strings, any of which may match; every key and every operator must
// hold). A condition key without a value in the request (an attestation key
// without a valid attestation document, say) never holds.

export class MalformedPolicyError extends Error {
  override readonly name = "MalformedPolicyError";
}

type ConditionOperator = "StringEquals" | "StringEqualsIgnoreCase";
const OPERATORS: ReadonlySet<string> = new Set<ConditionOperator>(["StringEquals", "StringEqualsIgnoreCase"]);

interface Condition {
  readonly operator: ConditionOperator;
  /** Lower-case: condition keys are case-insensitive. */
  readonly key: string;
  readonly values: readonly string[];
}

interface Statement {
  readonly effect: "Allow" | "Deny";
  /** undefined in an identity policy (no Principal element). */
  readonly principals: readonly string[] | undefined;
  readonly actions: readonly RegExp[];
  readonly resources: readonly string[];
  readonly conditions: readonly Condition[];
}

export interface Policy {
  readonly statements: readonly Statement[];
}

/** Who is asking: the role their credentials act as, and its account. */
export interface Caller {
  /** arn:aws:iam::<account>:role/<name>, or undefined for credentials issued without a role. */
  readonly principalArn: string | undefined;
  readonly accountId: string | undefined;
}

export interface RequestContext {
  readonly caller: Caller;
  /** e.g. "kms:Decrypt". */
  readonly action: string;
  /** The key's ARN, or "*" for operations on no key. */
  readonly resource: string;
  /** Condition key (lower-case) → value; absent keys have no value. */
  readonly values: ReadonlyMap<string, string>;
}

export type Decision = "allow" | "deny" | "no-allow";

/** Key policies and their statements are bounded as AWS bounds them (32 KiB). */
export const MAX_POLICY_CHARS = 32 * 1024;
const MAX_STATEMENTS = 100;
const MAX_ENTRIES = 200;

const fail = (message: string): never => {
  throw new MalformedPolicyError(message);
};

function list(value: unknown, what: string): string[] {
  const items = typeof value === "string" ? [value] : Array.isArray(value) ? value : fail(`${what} must be a string or a list of strings`);
  if (items.length === 0 || items.length > MAX_ENTRIES) fail(`${what} must hold 1 to ${MAX_ENTRIES} entries`);
  for (const item of items) if (typeof item !== "string" || item.length === 0) fail(`${what} must hold non-empty strings`);
  return items as string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** IAM's wildcards: `*` any run, `?` one character; actions compare case-insensitively. */
function actionPattern(action: string): RegExp {
  if (action !== "*" && !/^kms:[A-Za-z*?]+$/.test(action)) fail(`the action "${action}" is not a KMS action (kms:<Operation>, wildcards * and ?)`);
  const body = action.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

function parsePrincipal(value: unknown): string[] {
  if (value === "*") return ["*"];
  if (!isObject(value)) return fail(`Principal must be "*" or {"AWS": …}`);
  const names = Object.keys(value);
  if (names.length !== 1 || names[0] !== "AWS") fail(`Principal supports only the "AWS" kind (not ${names.filter((n) => n !== "AWS").join(", ") || "nothing"})`);
  return list(value["AWS"], "Principal.AWS").map((principal) => {
    if (principal === "*" || /^\d{12}$/.test(principal) || /^arn:aws[a-z-]*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+)$/.test(principal)) return principal;
    return fail(`the principal "${principal}" is not "*", an account id or an IAM root, role or user ARN`);
  });
}

function parseConditions(value: unknown): Condition[] {
  if (value === undefined) return [];
  if (!isObject(value)) return fail("Condition must be an object");
  const conditions: Condition[] = [];
  for (const [operator, block] of Object.entries(value)) {
    if (!OPERATORS.has(operator)) fail(`the condition operator "${operator}" is not supported by the simulator (only ${[...OPERATORS].join(", ")})`);
    if (!isObject(block)) fail(`Condition.${operator} must be an object`);
    for (const [key, values] of Object.entries(block as Record<string, unknown>)) {
      if (!/^[A-Za-z0-9:_.-]+$/.test(key)) fail(`the condition key "${key}" is not valid`);
      const strings = typeof values === "string" ? [values] : Array.isArray(values) ? values : fail(`Condition.${operator}.${key} must be a string or a list of strings`);
      if (strings.length === 0 || strings.length > MAX_ENTRIES || !strings.every((s) => typeof s === "string")) fail(`Condition.${operator}.${key} must hold 1 to ${MAX_ENTRIES} strings`);
      conditions.push({ operator: operator as ConditionOperator, key: key.toLowerCase(), values: strings as string[] });
    }
  }
  return conditions;
}

const STATEMENT_FIELDS = new Set(["Sid", "Effect", "Principal", "Action", "Resource", "Condition"]);

/**
 * Parses a policy document. `kind: "key"` requires a Principal in every
 * statement (a key policy is resource-based); `kind: "identity"` forbids it.
 * Throws MalformedPolicyError with the reason.
 */
export function parsePolicy(text: string, kind: "key" | "identity"): Policy {
  if (text.length > MAX_POLICY_CHARS) fail(`the policy is longer than ${MAX_POLICY_CHARS} characters`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return fail("the policy is not valid JSON");
  }
  if (!isObject(document)) return fail("the policy must be a JSON object");
  for (const name of Object.keys(document)) if (!["Version", "Id", "Statement"].includes(name)) fail(`the policy element "${name}" is not supported`);
  if (document["Version"] !== undefined && document["Version"] !== "2012-10-17" && document["Version"] !== "2008-10-17") fail("Version must be 2012-10-17");
  const raw = document["Statement"];
  const statements = isObject(raw) ? [raw] : Array.isArray(raw) ? raw : fail("Statement must be an object or a list of objects");
  if (statements.length === 0 || statements.length > MAX_STATEMENTS) fail(`the policy must have 1 to ${MAX_STATEMENTS} statements`);
  return {
    statements: statements.map((statement, index) => {
      if (!isObject(statement)) return fail(`statement ${index + 1} is not an object`);
      for (const name of Object.keys(statement)) if (!STATEMENT_FIELDS.has(name)) fail(`statement ${index + 1}: the element "${name}" is not supported by the simulator`);
      const effect = statement["Effect"];
      if (effect !== "Allow" && effect !== "Deny") fail(`statement ${index + 1}: Effect must be Allow or Deny`);
      if (kind === "key" && statement["Principal"] === undefined) fail(`statement ${index + 1}: a key policy statement needs a Principal`);
      if (kind === "identity" && statement["Principal"] !== undefined) fail(`statement ${index + 1}: an identity policy statement has no Principal`);
      if (statement["Resource"] === undefined) fail(`statement ${index + 1}: Resource is required`);
      return {
        effect: effect as "Allow" | "Deny",
        principals: statement["Principal"] === undefined ? undefined : parsePrincipal(statement["Principal"]),
        actions: list(statement["Action"], `statement ${index + 1}: Action`).map(actionPattern),
        resources: list(statement["Resource"], `statement ${index + 1}: Resource`),
        conditions: parseConditions(statement["Condition"]),
      };
    }),
  };
}

function conditionHolds(condition: Condition, values: ReadonlyMap<string, string>): boolean {
  const actual = values.get(condition.key);
  if (actual === undefined) return false;
  return condition.values.some((expected) => (condition.operator === "StringEquals" ? expected === actual : expected.toLowerCase() === actual.toLowerCase()));
}

/**
 * Whether a statement's principal names the caller. `root` (or the bare
 * account id) names every principal of that account, but only through IAM
 * delegation: `rootDelegates` says whether the caller's identity policy
 * allows the request.
 */
function principalMatches(principals: readonly string[], caller: Caller, rootDelegates: () => boolean, effect: "Allow" | "Deny"): boolean {
  return principals.some((principal) => {
    if (principal === "*") return true;
    if (caller.principalArn !== undefined && principal === caller.principalArn) return true;
    if (caller.accountId !== undefined && (principal === caller.accountId || new RegExp(`^arn:aws[a-z-]*:iam::${caller.accountId}:root$`).test(principal))) {
      // A Deny for the account applies to all its principals; an Allow only delegates to IAM.
      return effect === "Deny" || rootDelegates();
    }
    return false;
  });
}

function statementMatches(statement: Statement, request: RequestContext, rootDelegates: () => boolean): boolean {
  if (!statement.actions.some((pattern) => pattern.test(request.action))) return false;
  if (!statement.resources.some((resource) => resource === "*" || resource === request.resource)) return false;
  if (!statement.conditions.every((condition) => conditionHolds(condition, request.values))) return false;
  return statement.principals === undefined || principalMatches(statement.principals, request.caller, rootDelegates, statement.effect);
}

/**
 * An explicit Deny in any statement wins; otherwise an Allow that matches
 * (action, resource, every condition, principal) allows; otherwise nothing does.
 */
export function evaluate(policy: Policy, request: RequestContext, rootDelegates: () => boolean = () => false): Decision {
  let allowed = false;
  for (const statement of policy.statements) {
    if (!statementMatches(statement, request, rootDelegates)) continue;
    if (statement.effect === "Deny") return "deny";
    allowed = true;
  }
  return allowed ? "allow" : "no-allow";
}

/** The policy a key gets when CreateKey names none: the account's root, that is IAM, decides (AWS's default key policy). */
export function defaultKeyPolicy(accountId: string, partition = "aws"): string {
  return JSON.stringify(
    {
      Version: "2012-10-17",
      Id: "key-default-1",
      Statement: [{ Sid: "Enable IAM User Permissions", Effect: "Allow", Principal: { AWS: `arn:${partition}:iam::${accountId}:root` }, Action: "kms:*", Resource: "*" }],
    },
    null,
    2,
  );
}

/** What the simulator takes every principal's IAM permissions to be unless told otherwise: all of KMS. */
export const DEFAULT_IDENTITY_POLICY = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*" }] });
