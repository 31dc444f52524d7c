import type { Command } from "./cli.ts";
import { parseOptions, type OptionTable, type OptionValues } from "./options.ts";
import { CONNECTION_OPTIONS, printAnswer, SignerClient, type ConnectionValues, type SignerRequest } from "./signer-client.ts";

/**
 * Commands that call a running signer's API (`operator …`, `keys …`): each
 * takes the connection options besides its own, and its client is closed
 * (the aTLS connection too) however the command ends.
 */

export type CommandValues<T extends OptionTable> = OptionValues<T> & { readonly positionals: readonly string[] };

export interface ClientCommandSpec<T extends OptionTable> {
  readonly summary: string;
  /** More for --help: how to use the result, what to do next. */
  readonly details?: string;
  readonly options: T;
  readonly positionals?: readonly string[];
  run(signer: SignerClient, values: CommandValues<T>, env: NodeJS.ProcessEnv): Promise<void>;
}

export function clientCommand<const T extends OptionTable>(spec: ClientCommandSpec<T>): Command {
  const table = [...CONNECTION_OPTIONS, ...spec.options];
  const positionals = spec.positionals ?? [];
  return {
    summary: spec.summary,
    ...(spec.details !== undefined && { details: spec.details }),
    options: table,
    positionals,
    async run(argv, env) {
      const values = parseOptions(table, argv, env, positionals);
      const signer = SignerClient.open(values as unknown as ConnectionValues, env);
      try {
        await spec.run(signer, values as unknown as CommandValues<T>, env);
      } finally {
        await signer.close();
      }
    },
  };
}

/** A command that makes one request, built from its options and arguments, and prints the answer. */
export function requestCommand<const T extends OptionTable>(
  summary: string,
  options: T,
  positionals: readonly string[],
  request: (values: CommandValues<T>, args: readonly string[]) => SignerRequest,
): Command {
  return clientCommand({ summary, options, positionals, run: async (signer, values) => printAnswer(await signer.call(request(values, values.positionals))) });
}
