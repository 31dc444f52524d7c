import { readFileSync } from "node:fs";
import { NETWORK_NAMES, NetworkConfigError, namedNetwork, networkFromConfigYaml, type Network } from "@strongroom/eth2";
import { UsageError } from "./options.ts";

/** `--network` is one of the named networks or the path of a consensus config YAML file. */
export function resolveNetwork(value: string): Network {
  try {
    if ((NETWORK_NAMES as readonly string[]).includes(value)) return namedNetwork(value);
    if (!value.includes("/") && !/\.ya?ml$/i.test(value)) {
      throw new UsageError(`--network: unknown network "${value}"; use one of ${NETWORK_NAMES.join(", ")} or the path of a consensus config YAML file`);
    }
    let text: string;
    try {
      text = readFileSync(value, "utf8");
    } catch (error) {
      throw new UsageError(`--network: cannot read ${value}: ${(error as Error).message}`);
    }
    return networkFromConfigYaml(text, value);
  } catch (error) {
    if (error instanceof NetworkConfigError) throw new UsageError(`--network: ${error.message}`);
    throw error;
  }
}
