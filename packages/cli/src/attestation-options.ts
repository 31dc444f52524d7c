import { readPcrManifest, type PcrPolicy } from "@strongroom/atls";
import { UsageError, type OptionSpec } from "./options.ts";

/**
 * The options by which a client of a signer behind attested TLS says which
 * enclaves it trusts; shared by `gateway` and the commands that call a
 * signer's API (`operator`, `keys`), so that both read them alike.
 */

export const ROOT_OPTION = {
  name: "root",
  kind: "string",
  description: "PEM or DER file of the root to trust instead of AWS Nitro Enclaves Root G1, e.g. a simulator's attestation-root.pem",
} as const satisfies OptionSpec;

export const ALLOW_DEBUG_OPTION = {
  name: "allow-debug",
  kind: "boolean",
  default: false,
  description: "accept debug-mode enclaves (PCR0 all zero), whose memory the host can read: for development only",
} as const satisfies OptionSpec;

/** The policy that accepts the PCR sets of the manifest file `path`; errors name `option`. */
export function readManifestPolicy(path: string, option: string): PcrPolicy {
  try {
    return { kind: "manifest", sets: readPcrManifest(path) };
  } catch (error) {
    throw new UsageError(`${option}: ${(error as Error).message}`);
  }
}
