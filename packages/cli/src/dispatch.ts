// Running a command line against a table of commands: --help, usage errors
// and exit codes. Kept apart from the table of all commands (cli.ts) so that a
// program running one command (the enclave image's, enclave-main.ts) carries
// only that command's code.
import { formatHelp, UsageError, type OptionTable } from "./options.ts";

/** What a command does when it runs. */
interface Runs {
  /** More for --help, after the summary: how to use the result, what to do next. */
  readonly details?: string;
  readonly options: OptionTable;
  readonly positionals?: readonly string[];
  /** Resolves once the command is running; long-running commands keep the process alive themselves. */
  run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void>;
}

interface HasSubcommands {
  readonly subcommands: Readonly<Record<string, Command>>;
}

/**
 * A command runs (`strongroom signer`), groups subcommands (`strongroom
 * slashing import …`), or both (`strongroom gateway` runs, `strongroom
 * gateway pin` is its subcommand): a first word naming a subcommand goes to
 * it, anything else to the command itself.
 */
export type Command = { readonly summary: string } & (Runs | HasSubcommands);

function commandList(commands: Readonly<Record<string, Command>>): string[] {
  return Object.entries(commands).map(([name, command]) => `  ${name.padEnd(9)} ${command.summary}`);
}

function usage(path: string, commands: Readonly<Record<string, Command>>): string {
  return [
    `Usage: ${path} <command> [options]`,
    "",
    "Commands:",
    ...commandList(commands),
    "",
    `Run \`${path} <command> --help\` for the options of a command.`,
  ].join("\n");
}

function help(path: string, command: Command & Runs): string {
  const positionals = (command.positionals ?? []).map((p) => ` <${p}>`).join("");
  const summary = command.details === undefined ? command.summary : `${command.summary}\n\n${command.details}`;
  const text = formatHelp(`${path} [options]${positionals}`, summary, command.options);
  if (!("subcommands" in command)) return text;
  return [text, "", "Subcommands:", ...commandList(command.subcommands), "", `Run \`${path} <subcommand> --help\` for the options of a subcommand.`].join("\n");
}

/** Runs the command that `argv` names under `path` ("strongroom"); exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
export async function dispatch(path: string, commands: Readonly<Record<string, Command>>, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${usage(path, commands)}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    process.stderr.write(`${path}: unknown command "${name}"\n\n${usage(path, commands)}\n`);
    return 2;
  }
  const here = `${path} ${name}`;
  if ("subcommands" in command && (!("run" in command) || (rest[0] !== undefined && Object.hasOwn(command.subcommands, rest[0])))) {
    return dispatch(here, command.subcommands, rest, env);
  }
  const runnable = command as Command & Runs;
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${help(here, runnable)}\n`);
    return 0;
  }
  try {
    await runnable.run(rest, env);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${here}: ${message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
