import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { Command } from "../cli.ts";
import { parseOptions, UsageError, type OptionSpec, type OptionTable } from "../options.ts";
import { readSecret } from "../secrets.ts";

/**
 * `strongroom operator …`: the management API of a running signer
 * (/api/v1/strongroom/, scope `manage`) from the command line. Answers are
 * printed as the signer sent them (JSON), so a created token's secret goes
 * from the response bytes to stdout without being parsed.
 */

const CONNECTION_OPTIONS = [
  { name: "url", kind: "string", default: "http://127.0.0.1:9000", description: "the signer's API" },
  { name: "token", kind: "string", default: "env:STRONGROOM_OPERATOR_TOKEN", description: "env:NAME or file:/path holding a token with scope manage" },
] as const satisfies OptionTable;

type Call = { method: string; path: string; body?: unknown };

/** One subcommand: its options and positionals, and the request they make. */
function operatorCommand<const T extends OptionTable>(
  summary: string,
  options: T,
  positionals: readonly string[],
  request: (values: Record<string, unknown>, args: readonly string[]) => Call,
): Command {
  const table = [...CONNECTION_OPTIONS, ...options] as const;
  return {
    summary,
    options: table,
    positionals,
    async run(argv, env) {
      const values = parseOptions(table, argv, env, positionals) as Record<string, unknown> & { positionals: readonly string[] };
      const call = request(values, values.positionals);
      await send(String(values["url"]), String(values["token"]), call, env);
    },
  };
}

async function send(url: string, tokenReference: string, call: Call, env: NodeJS.ProcessEnv): Promise<void> {
  const token = readSecret(tokenReference, "--token", env);
  let response: Response;
  try {
    // fetch takes header values only as strings; this is the one place the CLI holds the token as one.
    const headers: Record<string, string> = { authorization: `Bearer ${token.toString("ascii")}`, accept: "application/json" };
    if (call.body !== undefined) headers["content-type"] = "application/json";
    response = await fetch(new URL(call.path, url), {
      method: call.method,
      headers,
      ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the signer at ${url} (${cause?.code ?? cause?.message ?? (error as Error).message}); is it running? Give its address with --url`);
  } finally {
    token.fill(0);
  }
  const body = Buffer.from(await response.arrayBuffer());
  if (!response.ok) {
    let message = body.toString("utf8").slice(0, 2000);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {
      // not JSON: show it as it is
    }
    throw new Error(`the signer answered ${response.status}: ${message}`);
  }
  process.stdout.write(Buffer.concat([body, Buffer.from("\n")]), () => body.fill(0));
}

function readPolicyFile(path: string): Record<string, unknown> {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`cannot read the policy file ${path}: ${(error as Error).message}`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new UsageError(`${path}: a policy file is a JSON or YAML mapping {name, rules: [{effect, scopes, keys, operations, cidrs}, …]}`);
  }
  return document as Record<string, unknown>;
}

const segment = (value: string) => encodeURIComponent(value);
const NO_OPTIONS: readonly OptionSpec[] = [];

const TOKEN_COMMANDS: Record<string, Command> = {
  create: operatorCommand(
    "Create a token carrying one or more policies; its secret is printed once.",
    [
      { name: "name", kind: "string", description: "what the token is for (shown in lists and logs)" },
      { name: "policies", kind: "string", description: "comma-separated policy names" },
      { name: "expires-at", kind: "string", description: "ISO-8601 time after which the token is refused (default: never)" },
    ],
    [],
    (values) => {
      if (values["name"] === undefined) throw new UsageError("--name is required");
      if (values["policies"] === undefined) throw new UsageError("--policies is required: comma-separated policy names");
      const expiresAt = values["expires-at"] as string | undefined;
      if (expiresAt !== undefined && Number.isNaN(Date.parse(expiresAt))) throw new UsageError("--expires-at: expected an ISO-8601 time such as 2027-01-01T00:00:00Z");
      return {
        method: "POST",
        path: "/api/v1/strongroom/tokens",
        body: {
          name: values["name"],
          policies: String(values["policies"]).split(",").map((p) => p.trim()),
          ...(expiresAt !== undefined && { expires_at: new Date(expiresAt).toISOString() }),
        },
      };
    },
  ),
  list: operatorCommand("List tokens (ids, names, policies, expiry; never secrets).", NO_OPTIONS, [], () => ({ method: "GET", path: "/api/v1/strongroom/tokens" })),
  revoke: operatorCommand("Revoke a token at once.", NO_OPTIONS, ["token-id"], (_v, [id]) => ({ method: "DELETE", path: `/api/v1/strongroom/tokens/${segment(id!)}` })),
};

const POLICY_COMMANDS: Record<string, Command> = {
  list: operatorCommand("List policies.", NO_OPTIONS, [], () => ({ method: "GET", path: "/api/v1/strongroom/policies" })),
  get: operatorCommand("Show one policy.", NO_OPTIONS, ["name"], (_v, [name]) => ({ method: "GET", path: `/api/v1/strongroom/policies/${segment(name!)}` })),
  create: operatorCommand("Create a policy from a JSON or YAML file {name, rules}.", NO_OPTIONS, ["file"], (_v, [file]) => ({
    method: "POST",
    path: "/api/v1/strongroom/policies",
    body: readPolicyFile(file!),
  })),
  update: operatorCommand("Replace a policy's rules from a JSON or YAML file {name, rules}; tokens carrying it change at once.", NO_OPTIONS, ["file"], (_v, [file]) => {
    const policy = readPolicyFile(file!);
    if (typeof policy["name"] !== "string") throw new UsageError(`${file}: the policy has no name`);
    return { method: "PUT", path: `/api/v1/strongroom/policies/${segment(policy["name"])}`, body: policy };
  }),
  delete: operatorCommand("Delete a policy that no token carries.", NO_OPTIONS, ["name"], (_v, [name]) => ({ method: "DELETE", path: `/api/v1/strongroom/policies/${segment(name!)}` })),
};

const SIGNING_COMMANDS: Record<string, Command> = {
  status: operatorCommand("Show whether signing is on or stopped by a canary key.", NO_OPTIONS, [], () => ({ method: "GET", path: "/api/v1/strongroom/signing" })),
  resume: operatorCommand("Resume signing after a canary key stopped it.", NO_OPTIONS, [], () => ({ method: "POST", path: "/api/v1/strongroom/signing/resume" })),
};

export const OPERATOR_COMMANDS: Record<string, Command> = {
  tokens: { summary: "Create, list and revoke tokens.", subcommands: TOKEN_COMMANDS },
  policies: { summary: "List, show, create, update and delete policies.", subcommands: POLICY_COMMANDS },
  signing: { summary: "Show signing state; resume signing after a canary stopped it.", subcommands: SIGNING_COMMANDS },
};
