export { runCli } from "./cli.ts";
export { parseOptions, formatHelp, envName, UsageError, type OptionSpec, type OptionTable, type OptionValues } from "./options.ts";
