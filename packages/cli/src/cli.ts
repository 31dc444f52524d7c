import { ATTEST_COMMANDS } from "./commands/attest.ts";
import { EIF_COMMANDS } from "./commands/eif.ts";
import { ENCLAVE_COMMAND } from "./commands/enclave.ts";
import { GATEWAY_COMMAND } from "./commands/gateway.ts";
import { PARENT_OPTIONS, readParentOptions, runParent } from "./commands/parent.ts";
import { readSignerOptions, runSigner, SIGNER_OPTIONS } from "./commands/signer.ts";
import { readSimOptions, runSim, SIM_OPTIONS } from "./commands/sim.ts";
import { KEYS_COMMANDS } from "./commands/keys.ts";
import { OPERATOR_COMMANDS } from "./commands/operator.ts";
import { SLASHING_COMMANDS } from "./commands/slashing.ts";
import { dispatch, type Command } from "./dispatch.ts";

export type { Command } from "./dispatch.ts";

const COMMANDS: Record<string, Command> = {
  signer: {
    summary: "Run the signing core as an ordinary process (standard mode), speaking Web3Signer's eth2 API.",
    options: SIGNER_OPTIONS,
    run: async (argv, env) => void (await runSigner(readSignerOptions(argv, env), env)),
  },
  enclave: ENCLAVE_COMMAND,
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
  eif: {
    summary: "Build the enclave image (EIF) reproducibly, print its PCRs, and the KMS key policy and PCR manifest for a set of images.",
    subcommands: EIF_COMMANDS,
  },
};

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return dispatch("strongroom", COMMANDS, argv, env);
}
