import { ATTEST_COMMANDS } from "./commands/attest.ts";
import { ENCLAVE_OPTIONS, readEnclaveOptions, runEnclave } from "./commands/enclave.ts";
import { GATEWAY_COMMAND } from "./commands/gateway.ts";
import { PARENT_OPTIONS, readParentOptions, runParent } from "./commands/parent.ts";
import { readSignerOptions, runSigner, SIGNER_OPTIONS } from "./commands/signer.ts";
import { readSimOptions, runSim, SIM_OPTIONS } from "./commands/sim.ts";
import { KEYS_COMMANDS } from "./commands/keys.ts";
import { OPERATOR_COMMANDS } from "./commands/operator.ts";
import { SLASHING_COMMANDS } from "./commands/slashing.ts";
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

const COMMANDS: Record<string, Command> = {
  signer: {
    summary: "Run the signing core as an ordinary process (standard mode), speaking Web3Signer's eth2 API.",
    options: SIGNER_OPTIONS,
    run: async (argv, env) => void (await runSigner(readSignerOptions(argv, env), env)),
  },
  enclave: {
    summary: "Run the signing core as an enclave (sim or nitro mode): aTLS API on vsock 5000, control 5001, metrics 5002.",
    options: ENCLAVE_OPTIONS,
    run: async (argv, env) => void (await runEnclave(readEnclaveOptions(argv, env))),
  },
  parent: {
    summary: "Run the untrusted parent beside an enclave: ingress and egress proxies, control channel, credentials, logs, enclave lifecycle.",
    options: PARENT_OPTIONS,
    run: async (argv, env) => void (await runParent(readParentOptions(argv, env), env)),
  },
  sim: {
    summary: "Run the whole split system locally (simulated enclave, parent, services, gateway) with the interop demo keys 0-7; prints the endpoint for a validator client.",
    options: SIM_OPTIONS,
    run: (argv, env) => runSim(readSimOptions(argv, env)),
  },
  slashing: {
    summary: "Import, export and prune EIP-3076 slashing-protection data in a database.",
    subcommands: SLASHING_COMMANDS,
  },
  operator: {
    summary: "Manage a running signer: tokens, policies, resuming signing after a canary, and an enclave's vault (init, unseal, seal, rotate).",
    subcommands: OPERATOR_COMMANDS,
  },
  keys: {
    summary: "Manage the keys an enclave keeps sealed: list, activate, deactivate, delete, import keystores, generate with backups.",
    subcommands: KEYS_COMMANDS,
  },
  gateway: GATEWAY_COMMAND,
  attest: {
    summary: "Verify AWS Nitro Enclaves attestation documents against AWS's root (or a simulator's).",
    subcommands: ATTEST_COMMANDS,
  },
};

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

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return dispatch("strongroom", COMMANDS, argv, env);
}

async function dispatch(path: string, commands: Readonly<Record<string, Command>>, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
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
