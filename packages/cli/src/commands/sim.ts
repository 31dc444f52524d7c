import { interopSecretKey } from "@strongroom/keystore";
import type { RunningSigner } from "@strongroom/enclave";
import { parseOptions, type OptionTable, type OptionValues } from "../options.ts";
import { readSignerOptions, runSigner } from "./signer.ts";

export const SIM_OPTIONS = [
  { name: "http-port", kind: "integer", default: 9000, max: 65535, description: "TCP port on 127.0.0.1 for the signer (0 picks a free port)" },
  { name: "demo-keys", kind: "integer", default: 8, min: 1, max: 1024, description: "how many interop demo keys to load (interop keys 0…n-1)" },
  { name: "log-level", kind: "string", default: "warn", description: "log level of the signer" },
] as const satisfies OptionTable;

export type SimValues = OptionValues<typeof SIM_OPTIONS>;

export function readSimOptions(argv: readonly string[], env: NodeJS.ProcessEnv): SimValues {
  return parseOptions(SIM_OPTIONS, argv, env);
}

/**
 * For now the standard-mode signer on loopback with the public interop keys;
 * the split system (simulated enclave and parent) replaces it in a later issue.
 * Slashing protection is embedded PGlite in memory: a demo forgets its history.
 */
export async function runSim(values: SimValues): Promise<void> {
  const signerValues = readSignerOptions(
    [
      "--network=mainnet",
      "--http-host=127.0.0.1",
      `--http-port=${values["http-port"]}`,
      "--slashing-protection-in-memory",
      `--log-level=${values["log-level"]}`,
    ],
    {},
  );
  const keys = Array.from({ length: values["demo-keys"] }, (_, i) => ({ secretKey: interopSecretKey(i), source: `interop key ${i}` }));
  const signer = await runSigner(signerValues, keys);
  process.stdout.write(banner(signer));
}

function banner(signer: RunningSigner): string {
  const publicKeys = signer.keys.list().map((key) => key.publicKey);
  const body = JSON.stringify({
    type: "RANDAO_REVEAL",
    fork_info: {
      fork: { previous_version: "0x00000000", current_version: "0x00000000", epoch: "0" },
      genesis_validators_root: "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95",
    },
    randao_reveal: { epoch: "0" },
  });
  return [
    "",
    "strongroom sim: a standard-mode signer with the interop demo keys (public keys: never use them for real funds).",
    `  endpoint:   ${signer.url}   (point your validator client's Web3Signer URL here)`,
    `  network:    mainnet; slashing protection: in-memory PGlite (forgotten on exit)`,
    `  keys:       ${publicKeys.length} (GET ${signer.url}/api/v1/eth2/publicKeys)`,
    "",
    "Try it:",
    `  curl -s -H 'content-type: application/json' -H 'accept: application/json' \\`,
    `    -d '${body}' \\`,
    `    ${signer.url}/api/v1/eth2/sign/${publicKeys[0]}`,
    "",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}
