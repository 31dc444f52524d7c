import { toHex, type Network } from "@strongroom/eth2";
import { HttpError } from "../http/errors.ts";

/**
 * DESIGN.md §4 step 4: a request signed for another network (a testnet's
 * fork_info sent to a mainnet signer, or the reverse) is refused before it
 * reaches slashing protection. Types without fork_info (DEPOSIT,
 * VALIDATOR_REGISTRATION) carry no root to check; a network without a known
 * root (a config file without --genesis-validators-root) cannot be guarded.
 */
export function checkNetwork(network: Network, requestRoot: Uint8Array | undefined): void {
  const expected = network.genesisValidatorsRoot;
  if (requestRoot === undefined || expected === undefined) return;
  if (requestRoot.length === expected.length && requestRoot.every((byte, i) => byte === expected[i])) return;
  throw new HttpError(
    403,
    `fork_info.genesis_validators_root ${toHex(requestRoot)} is not the one of ${network.name} (${toHex(expected)}), the network this signer serves`,
  );
}
