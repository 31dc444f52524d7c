// @strongroom/eth2: Web3Signer eth2 signing requests (parsing, validation, signing roots) and the
// network configurations they are checked against.
export { SigningRequestError } from "./errors.ts";
export { FORK_NAMES, type ForkName } from "./forks.ts";
export { toHex } from "./hex.ts";
export {
  epochAtSlot,
  FAR_FUTURE_EPOCH,
  type Fork,
  forkAtEpoch,
  NETWORK_NAMES,
  type Network,
  NetworkConfigError,
  type NetworkName,
  namedNetwork,
  networkFromConfigYaml,
} from "./networks.ts";
export type { PresetBase } from "./presets.ts";
export { parseSigningRequest, type SigningRequest } from "./request.ts";
export { SIGNING_TYPES, type SigningType, type SlashingData } from "./signing-types.ts";
export { UINT64_MAX } from "./uint.ts";
