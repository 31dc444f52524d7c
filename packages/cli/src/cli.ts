import { readSignerOptions, runSigner, SIGNER_OPTIONS } from "./commands/signer.ts";
import { readSimOptions, runSim, SIM_OPTIONS } from "./commands/sim.ts";
import { formatHelp, UsageError, type OptionTable } from "./options.ts";

interface Command {
  readonly summary: string;
  readonly options: OptionTable;
  /** Resolves once the command is running; long-running commands keep the process alive themselves. */
  run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  signer: {
    summary: "Run the signing core as an ordinary process (standard mode), speaking Web3Signer's eth2 API.",
    options: SIGNER_OPTIONS,
    run: async (argv, env) => void (await runSigner(readSignerOptions(argv, env))),
  },
  sim: {
    summary: "Run strongroom locally with the interop demo keys 0-7 and print the endpoint to point a validator client at.",
    options: SIM_OPTIONS,
    run: (argv, env) => runSim(readSimOptions(argv, env)),
  },
};

const USAGE = [
  "Usage: strongroom <command> [options]",
  "",
  "Commands:",
  ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(8)} ${command.summary}`),
  "",
  "Run `strongroom <command> --help` for the options of a command.",
].join("\n");

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`strongroom: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${formatHelp(`strongroom ${name} [options]`, command.summary, command.options)}\n`);
    return 0;
  }
  try {
    await command.run(rest, env);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`strongroom ${name}: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`strongroom ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
