import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { Command } from "../cli.ts";
import { requestCommand } from "../client-command.ts";
import { UsageError, type OptionTable } from "../options.ts";
import { VAULT_COMMANDS } from "./vault.ts";

/**
 * `strongroom operator …`: the management API of a running signer
 * (/api/v1/strongroom/, scope `manage`) from the command line, and the
 * enclave's vault (./vault.ts). Answers are printed as the signer sent them
 * (JSON), so a created token's secret goes from the response bytes to
 * stdout without being parsed.
 */

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
const NO_OPTIONS = [] as const satisfies OptionTable;

const TOKEN_COMMANDS: Record<string, Command> = {
  create: requestCommand(
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
        json: {
          name: values["name"],
          policies: String(values["policies"]).split(",").map((p) => p.trim()),
          ...(expiresAt !== undefined && { expires_at: new Date(expiresAt).toISOString() }),
        },
      };
    },
  ),
  list: requestCommand("List tokens (ids, names, policies, expiry; never secrets).", NO_OPTIONS, [], () => ({ method: "GET", path: "/api/v1/strongroom/tokens" })),
  revoke: requestCommand("Revoke a token at once.", NO_OPTIONS, ["token-id"], (_v, [id]) => ({ method: "DELETE", path: `/api/v1/strongroom/tokens/${segment(id!)}` })),
};

const POLICY_COMMANDS: Record<string, Command> = {
  list: requestCommand("List policies.", NO_OPTIONS, [], () => ({ method: "GET", path: "/api/v1/strongroom/policies" })),
  get: requestCommand("Show one policy.", NO_OPTIONS, ["name"], (_v, [name]) => ({ method: "GET", path: `/api/v1/strongroom/policies/${segment(name!)}` })),
  create: requestCommand("Create a policy from a JSON or YAML file {name, rules}.", NO_OPTIONS, ["file"], (_v, [file]) => ({
    method: "POST",
    path: "/api/v1/strongroom/policies",
    json: readPolicyFile(file!),
  })),
  update: requestCommand("Replace a policy's rules from a JSON or YAML file {name, rules}; tokens carrying it change at once.", NO_OPTIONS, ["file"], (_v, [file]) => {
    const policy = readPolicyFile(file!);
    if (typeof policy["name"] !== "string") throw new UsageError(`${file}: the policy has no name`);
    return { method: "PUT", path: `/api/v1/strongroom/policies/${segment(policy["name"])}`, json: policy };
  }),
  delete: requestCommand("Delete a policy that no token carries.", NO_OPTIONS, ["name"], (_v, [name]) => ({ method: "DELETE", path: `/api/v1/strongroom/policies/${segment(name!)}` })),
};

const SIGNING_COMMANDS: Record<string, Command> = {
  status: requestCommand("Show whether signing is on or stopped by a canary key.", NO_OPTIONS, [], () => ({ method: "GET", path: "/api/v1/strongroom/signing" })),
  resume: requestCommand("Resume signing after a canary key stopped it.", NO_OPTIONS, [], () => ({ method: "POST", path: "/api/v1/strongroom/signing/resume" })),
};

export const OPERATOR_COMMANDS: Record<string, Command> = {
  tokens: { summary: "Create, list and revoke tokens.", subcommands: TOKEN_COMMANDS },
  policies: { summary: "List, show, create, update and delete policies.", subcommands: POLICY_COMMANDS },
  signing: { summary: "Show signing state; resume signing after a canary stopped it.", subcommands: SIGNING_COMMANDS },
  ...VAULT_COMMANDS,
};
