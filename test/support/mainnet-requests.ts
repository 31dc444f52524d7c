/** Mainnet signing requests for whole-system tests, at Electra epochs; `tag` fills a root so that payloads differ. */
export const MAINNET_GVR = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95";
const FORK_INFO = { fork: { previous_version: "0x04000000", current_version: "0x05000000", epoch: "364032" }, genesis_validators_root: MAINNET_GVR };
const ZERO = `0x${"00".repeat(32)}`;
const tagRoot = (tag: number) => `0x${tag.toString(16).padStart(64, "0")}`;

export function blockRequest(slot: bigint, tag: number): Record<string, unknown> {
  return {
    type: "BLOCK_V2",
    fork_info: FORK_INFO,
    beacon_block: { version: "ELECTRA", block_header: { slot: String(slot), proposer_index: "1", parent_root: tagRoot(tag), state_root: ZERO, body_root: ZERO } },
  };
}

export function attestationRequest(source: bigint, target: bigint, tag: number): Record<string, unknown> {
  return {
    type: "ATTESTATION",
    fork_info: FORK_INFO,
    attestation: { slot: String(target * 32n), index: "0", beacon_block_root: tagRoot(tag), source: { epoch: String(source), root: ZERO }, target: { epoch: String(target), root: ZERO } },
  };
}

export function randaoRequest(epoch: bigint): Record<string, unknown> {
  return { type: "RANDAO_REVEAL", fork_info: FORK_INFO, randao_reveal: { epoch: String(epoch) } };
}

export function voluntaryExitRequest(epoch: bigint, validatorIndex: number): Record<string, unknown> {
  return { type: "VOLUNTARY_EXIT", fork_info: FORK_INFO, voluntary_exit: { epoch: String(epoch), validator_index: String(validatorIndex) } };
}

export function aggregationSlotRequest(slot: bigint): Record<string, unknown> {
  return { type: "AGGREGATION_SLOT", fork_info: FORK_INFO, aggregation_slot: { slot: String(slot) } };
}
