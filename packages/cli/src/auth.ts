import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { AuthConfigError, MIN_SERVER_SECRET_BYTES, SCOPES, TokenStore, writeFileAtomic, type CreatedToken } from "@strongroom/enclave";
import type { Logger } from "pino";
import { parse as parseYaml } from "yaml";
import { UsageError } from "./options.ts";
import { readSecret } from "./secrets.ts";

export interface AuthSettings {
  /** The state file of tokens and policies. */
  readonly statePath: string;
  /** `env:NAME` or `file:/path`; undefined: a secret file generated on first start at `generatedSecretPath`. */
  readonly serverSecret: string | undefined;
  readonly generatedSecretPath: string;
  /** `loopback`, or the path of a JSON/YAML file of rules; undefined: every request needs a token. */
  readonly unauthenticatedPolicy: string | undefined;
  /** Where the bootstrap token goes instead of the terminal (stderr). */
  readonly bootstrapTokenFile: string | undefined;
}

/**
 * `--auth-unauthenticated-policy=loopback`: everything but management from
 * this host (127.0.0.0/8 and ::1), for a signer whose port only the local
 * validator client can reach.
 */
const LOOPBACK_RULES = [{ effect: "allow", scopes: SCOPES.filter((scope) => scope !== "manage"), keys: "*", operations: "*", cidrs: ["127.0.0.0/8", "::1"] }];

/**
 * Opens the token store of a standard-mode signer and, on its very first
 * start, creates the administrator token and shows it once: on stderr (the
 * operator's terminal; logs go to stdout) or in --auth-bootstrap-token-file.
 * It is never logged.
 */
export async function openAuth(settings: AuthSettings, env: NodeJS.ProcessEnv, log: Logger): Promise<TokenStore> {
  const unauthenticated = settings.unauthenticatedPolicy === undefined ? undefined : readUnauthenticatedPolicy(settings.unauthenticatedPolicy);
  const secret = settings.serverSecret === undefined ? generatedSecret(settings.generatedSecretPath, log) : readSecret(settings.serverSecret, "--auth-server-secret", env);
  let store: TokenStore;
  try {
    if (secret.length < MIN_SERVER_SECRET_BYTES) {
      throw new UsageError(`--auth-server-secret: the secret is ${secret.length} bytes; use at least ${MIN_SERVER_SECRET_BYTES} random bytes (head -c 32 /dev/urandom > FILE)`);
    }
    mkdirSync(dirname(settings.statePath), { recursive: true, mode: 0o700 });
    store = TokenStore.open(settings.statePath, secret, { unauthenticated });
  } catch (error) {
    if (error instanceof AuthConfigError) {
      const option = error.message.startsWith("the unauthenticated policy") ? "--auth-unauthenticated-policy" : "--auth-state-path";
      throw new UsageError(`${option}: ${error.message}`);
    }
    throw error;
  } finally {
    secret.fill(0);
  }
  if (settings.unauthenticatedPolicy !== undefined) {
    log.warn({ policy: settings.unauthenticatedPolicy }, "requests without a token are served under the unauthenticated policy");
  }
  const boot = await store.bootstrapIfEmpty();
  if (boot !== undefined) {
    showBootstrapToken(boot, settings.bootstrapTokenFile);
    log.info({ tokenId: boot.id, shownIn: settings.bootstrapTokenFile ?? "stderr" }, "created the first administrator token");
  }
  return store;
}

/** The default server secret: 32 random bytes in a 0600 file, made on first start. */
function generatedSecret(path: string, log: Logger): Buffer {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const secret = randomBytes(32);
    const fd = openSync(path, "wx", 0o600);
    try {
      writeSync(fd, secret);
    } finally {
      closeSync(fd);
    }
    log.info({ path }, "created the auth server secret (give --auth-server-secret to keep it elsewhere)");
    return secret;
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new UsageError(`--auth-server-secret: ${path} is readable or writable by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  return readFileSync(path);
}

export function readUnauthenticatedPolicy(value: string): unknown {
  if (value === "loopback") return LOOPBACK_RULES;
  let text: string;
  try {
    text = readFileSync(value, "utf8");
  } catch (error) {
    throw new UsageError(`--auth-unauthenticated-policy: give "loopback" or a JSON/YAML file of rules; cannot read ${value}: ${(error as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new UsageError(`--auth-unauthenticated-policy: ${value} is not valid JSON or YAML: ${(error as Error).message}`);
  }
}

function showBootstrapToken(boot: CreatedToken, file: string | undefined): void {
  if (file !== undefined) {
    const line = Buffer.concat([boot.token, Buffer.from("\n")]);
    boot.token.fill(0);
    try {
      writeFileAtomic(file, line);
    } finally {
      line.fill(0);
    }
    return;
  }
  const message = Buffer.concat([
    Buffer.from(`\nstrongroom: created the first administrator token (${boot.id}). It is shown this once and never logged; keep it safe:\n\n  `),
    boot.token,
    Buffer.from("\n\nUse it with `strongroom operator` (STRONGROOM_OPERATOR_TOKEN) to create tokens and policies for validator clients.\n\n"),
  ]);
  boot.token.fill(0);
  process.stderr.write(message, () => message.fill(0));
}
