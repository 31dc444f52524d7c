import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";

/** A usage or configuration error: the message names the offending option; the process exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** "list" is a repeatable string option: `--x a --x b`, or comma-separated (`--x a,b`, STRONGROOM_X=a,b, a YAML list). */
type Kind = "string" | "integer" | "boolean" | "list";
type ValueOf<K extends Kind> = K extends "integer" ? number : K extends "boolean" ? boolean : K extends "list" ? readonly string[] : string;

export interface OptionSpec<K extends Kind = Kind> {
  readonly name: string;
  readonly kind: K;
  readonly description: string;
  readonly default?: ValueOf<K>;
  /** Other spellings accepted on the command line and in the config file (Web3Signer's names). */
  readonly aliases?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** A list whose values are arguments for another program: each flag (or YAML item) is one value, commas and all. */
  readonly verbatim?: boolean;
}

export type OptionTable = readonly OptionSpec[];
export type OptionValues<T extends OptionTable> = {
  [S in T[number] as S["name"]]: S extends { default: unknown } | { kind: "list" } ? ValueOf<S["kind"]> : ValueOf<S["kind"]> | undefined;
};

/** The option every command has: a YAML file whose keys are the option names. */
export const CONFIG_OPTION: OptionSpec = { name: "config", kind: "string", description: "YAML file of options (keys are the option names)" };

export function envName(optionName: string): string {
  return `STRONGROOM_${optionName.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Resolves options by precedence: command-line flags, then STRONGROOM_*
 * environment variables, then the --config YAML file, then defaults.
 */
export function parseOptions<T extends OptionTable>(
  table: T,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  positionalNames: readonly string[] = [],
): OptionValues<T> & { readonly positionals: readonly string[] } {
  const specs = [CONFIG_OPTION, ...table];
  const byName = new Map<string, OptionSpec>();
  for (const spec of specs) for (const n of [spec.name, ...(spec.aliases ?? [])]) byName.set(n, spec);

  const { flags: fromFlags, positionals } = parseFlags(argv, byName);
  // A last name ending in "..." ("file...") takes one or more arguments.
  const variadic = positionalNames.at(-1)?.endsWith("...") === true;
  if (variadic ? positionals.length < positionalNames.length : positionals.length !== positionalNames.length) {
    const expected = positionalNames.length === 0 ? "no arguments" : positionalNames.map((n) => `<${n}>`).join(" ");
    throw new UsageError(`expected ${expected} besides options, got ${positionals.length === 0 ? "none" : `"${positionals.join(" ")}"`}`);
  }
  const configPath = (fromFlags.get("config") as string | undefined) ?? env[envName("config")];
  const fromFile = configPath === undefined ? new Map<string, unknown>() : readConfigFile(configPath, byName);

  const values: Record<string, unknown> = {};
  for (const spec of table) {
    const flag = fromFlags.get(spec.name);
    const envValue = env[envName(spec.name)];
    if (flag !== undefined) values[spec.name] = convert(spec, flag, `--${spec.name}`);
    else if (envValue !== undefined) values[spec.name] = convert(spec, envValue, envName(spec.name));
    else if (fromFile.has(spec.name)) values[spec.name] = convert(spec, fromFile.get(spec.name), `${spec.name} in ${configPath}`);
    else values[spec.name] = spec.default ?? (spec.kind === "list" ? [] : undefined);
  }
  return { ...(values as OptionValues<T>), positionals };
}

/** A list option's flags collect into an array; any other option may be given once. */
function parseFlags(argv: readonly string[], byName: Map<string, OptionSpec>): { flags: Map<string, string | string[]>; positionals: string[] } {
  const found = new Map<string, string | string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = byName.get(name);
    if (spec === undefined) throw new UsageError(`unknown option --${name}; see --help`);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      const next = argv[i + 1];
      // A boolean flag takes the next word only when it is a boolean, so `--flag FILE` leaves FILE positional.
      if (spec.kind === "boolean" && next !== "true" && next !== "false") value = "true";
      else if (next === undefined) throw new UsageError(`option --${name} needs a value`);
      else value = argv[++i]!;
    }
    const earlier = found.get(spec.name);
    if (spec.kind === "list") found.set(spec.name, [...((earlier as string[] | undefined) ?? []), value]);
    else if (earlier !== undefined) throw new UsageError(`option --${spec.name} is given more than once`);
    else found.set(spec.name, value);
  }
  return { flags: found, positionals };
}

function readConfigFile(path: string, byName: Map<string, OptionSpec>): Map<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`config: cannot read ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    // Integers stay strings so that no value is silently rounded.
    document = parseYaml(text, { intAsBigInt: true });
  } catch (error) {
    throw new UsageError(`config: ${path} is not valid YAML: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) return new Map();
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new UsageError(`config: ${path} must be a mapping of option names to values`);
  }
  const values = new Map<string, unknown>();
  for (const [key, value] of Object.entries(document)) {
    const spec = byName.get(key);
    if (spec === undefined || spec.name === "config") throw new UsageError(`config: unknown key "${key}" in ${path}`);
    values.set(spec.name, value);
  }
  return values;
}

function convert(spec: OptionSpec, raw: unknown, where: string): unknown {
  const text = typeof raw === "bigint" ? raw.toString() : raw;
  switch (spec.kind) {
    case "string":
      if (typeof text !== "string" || text === "") throw new UsageError(`${where}: expected a non-empty string`);
      return text;
    case "boolean":
      if (text === true || text === "true") return true;
      if (text === false || text === "false") return false;
      throw new UsageError(`${where}: expected true or false, got ${JSON.stringify(String(text)).slice(0, 60)}`);
    case "list": {
      // Each flag, the environment variable or each YAML item may hold several comma-separated values.
      const items = (Array.isArray(text) ? text : [text]).map((item) => (typeof item === "bigint" ? item.toString() : item));
      if (!items.every((item): item is string => typeof item === "string")) throw new UsageError(`${where}: expected strings`);
      if (spec.verbatim === true) return items;
      const values = items.flatMap((item) => item.split(",")).map((item) => item.trim());
      if (values.some((item) => item === "")) throw new UsageError(`${where}: expected non-empty comma-separated values`);
      return values;
    }
    case "integer": {
      const value = typeof text === "string" && /^\d+$/.test(text) ? Number(text) : Number.NaN;
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new UsageError(`${where}: expected an integer from ${min} to ${max}, got ${JSON.stringify(String(text)).slice(0, 60)}`);
      }
      return value;
    }
  }
}

export function formatHelp(usage: string, summary: string, table: OptionTable): string {
  const lines = [`Usage: ${usage}`, "", summary, "", "Options (also as STRONGROOM_<NAME> environment variables or keys of the --config file):"];
  for (const spec of [CONFIG_OPTION, ...table]) {
    const aliases = spec.aliases?.length ? ` (also --${spec.aliases.join(", --")})` : "";
    const dflt = spec.kind === "list" ? " [repeatable]" : spec.default === undefined ? "" : ` [default: ${spec.default}]`;
    lines.push(`  --${spec.name}${aliases}`, `      ${spec.description}${dflt}`);
  }
  lines.push("  --help", "      show this help");
  return lines.join("\n");
}

/** Some options of a table, for a command that shares them (one definition, one description). */
export function pickOptions<T extends OptionTable, N extends T[number]["name"]>(table: T, names: readonly N[]): Extract<T[number], { name: N }>[] {
  return table.filter((spec) => (names as readonly string[]).includes(spec.name)) as Extract<T[number], { name: N }>[];
}
