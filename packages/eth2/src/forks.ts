// The consensus forks this signer understands, in order. Later forks (Gloas, …) are refused until their
// signing types and containers are implemented.

export const FORK_NAMES = ["phase0", "altair", "bellatrix", "capella", "deneb", "electra", "fulu"] as const;
export type ForkName = (typeof FORK_NAMES)[number];

/** Forks that are known to exist but are not supported yet, so that the refusal can say so plainly. */
const FUTURE_FORKS = ["gloas", "heze"];

/** Position of a fork in FORK_NAMES, for "at or after fork X" comparisons. */
export function forkIndex(fork: ForkName): number {
  return FORK_NAMES.indexOf(fork);
}

/**
 * Interprets a `version` field of a Web3Signer request ("PHASE0" … "FULU", any case). Returns the fork,
 * or a message saying why the value is refused.
 */
export function parseForkVersionName(value: string): ForkName | { readonly problem: string } {
  // No fork name is longer than 9 characters; anything much longer is not worth lower-casing.
  const name = value.length <= 16 ? value.toLowerCase() : "";
  const fork = FORK_NAMES.find((f) => f === name);
  if (fork !== undefined) return fork;
  const expected = FORK_NAMES.map((f) => f.toUpperCase()).join(", ");
  if (FUTURE_FORKS.includes(name)) {
    return { problem: `fork ${name.toUpperCase()} is not supported by this signer (supported: ${expected})` };
  }
  return { problem: `unknown fork ${JSON.stringify(value.slice(0, 40))}; expected one of ${expected}` };
}
