import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
 * Slashing protection is embedded PGlite in memory and tokens live in a
 * temporary directory: a demo forgets both. Requests from this host need no
 * token (the loopback unauthenticated policy); management needs the
 * administrator token shown on stderr.
 */
export async function runSim(values: SimValues, env: NodeJS.ProcessEnv): Promise<void> {
  const dataPath = mkdtempSync(join(tmpdir(), "strongroom-sim-"));
  process.once("exit", () => rmSync(dataPath, { recursive: true, force: true }));
  const signerValues = readSignerOptions(
    [
      "--network=mainnet",
      "--http-host=127.0.0.1",
      `--http-port=${values["http-port"]}`,
      "--slashing-protection-in-memory",
      `--data-path=${dataPath}`,
      "--auth-unauthenticated-policy=loopback",
      `--log-level=${values["log-level"]}`,
    ],
    {},
  );
  const keys = Array.from({ length: values["demo-keys"] }, (_, i) => ({ secretKey: interopSecretKey(i), source: `interop key ${i}` }));
  const signer = await runSigner(signerValues, env, keys);
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
    `  auth:       requests from this host need no token; management needs the administrator token shown above on stderr`,
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
