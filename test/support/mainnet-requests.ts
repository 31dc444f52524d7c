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

const repeatedRoot = (b: string) => `0x${b.repeat(32)}`;
const CHECKPOINT = { epoch: "370000", root: repeatedRoot("aa") };
const ATTESTATION_DATA = { slot: "11840000", index: "0", beacon_block_root: repeatedRoot("01"), source: { ...CHECKPOINT, epoch: "369999" }, target: CHECKPOINT };

/** One valid body of each of the ten signing types, at mainnet Electra epochs. */
export const ONE_OF_EACH_SIGNING_TYPE: readonly Record<string, unknown>[] = [
  { type: "RANDAO_REVEAL", fork_info: FORK_INFO, randao_reveal: { epoch: "370000" } },
  { type: "ATTESTATION", fork_info: FORK_INFO, attestation: ATTESTATION_DATA },
  { type: "AGGREGATION_SLOT", fork_info: FORK_INFO, aggregation_slot: { slot: "11840000" } },
  { type: "VOLUNTARY_EXIT", fork_info: FORK_INFO, voluntary_exit: { epoch: "370000", validator_index: "12" } },
  { type: "SYNC_COMMITTEE_MESSAGE", fork_info: FORK_INFO, sync_committee_message: { beacon_block_root: repeatedRoot("02"), slot: "11840000" } },
  { type: "SYNC_COMMITTEE_SELECTION_PROOF", fork_info: FORK_INFO, sync_aggregator_selection_data: { slot: "11840000", subcommittee_index: "1" } },
  { type: "DEPOSIT", deposit: { pubkey: `0x${"a9".repeat(48)}`, withdrawal_credentials: repeatedRoot("00"), amount: "32000000000", genesis_fork_version: "0x00000000" } },
  { type: "VALIDATOR_REGISTRATION", validator_registration: { fee_recipient: `0x${"11".repeat(20)}`, gas_limit: "30000000", timestamp: "1700000000", pubkey: `0x${"a9".repeat(48)}` } },
  {
    type: "BLOCK_V2",
    fork_info: FORK_INFO,
    beacon_block: { version: "ELECTRA", block_header: { slot: "11840000", proposer_index: "5", parent_root: repeatedRoot("03"), state_root: repeatedRoot("04"), body_root: repeatedRoot("05") } },
  },
  {
    type: "AGGREGATE_AND_PROOF_V2",
    fork_info: FORK_INFO,
    aggregate_and_proof: {
      version: "ELECTRA",
      data: {
        aggregator_index: "3",
        aggregate: { aggregation_bits: "0x01", data: ATTESTATION_DATA, signature: `0x${"c0".repeat(96)}`, committee_bits: "0x0100000000000000" },
        selection_proof: `0x${"c0".repeat(96)}`,
      },
    },
  },
];
