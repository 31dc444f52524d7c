// One valid mainnet request per signing type, in Web3Signer's JSON shape, for the error table and the
// garbling property test. Slots are chosen in the fork each payload's shape belongs to.
import type { SigningType } from "../src/index.ts";

export const MAINNET_GVR = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95";

const hex = (bytes: number, fill = "ab") => `0x${fill.repeat(bytes)}`;

/** Mainnet epochs: altair 74240, bellatrix 144896, capella 194048, deneb 269568, electra 364032, fulu 411392. */
export const forkInfo = (previous: string, current: string, epoch: string) => ({
  fork: { previous_version: previous, current_version: current, epoch },
  genesis_validators_root: MAINNET_GVR,
});
const PHASE0 = forkInfo("0x00000000", "0x00000000", "0");
const ALTAIR = forkInfo("0x00000000", "0x01000000", "74240");
const DENEB = forkInfo("0x03000000", "0x04000000", "269568");
const ELECTRA = forkInfo("0x04000000", "0x05000000", "364032");

const DENEB_SLOT = "8700000"; // epoch 271875
const ELECTRA_SLOT = "11700000"; // epoch 365625

export const attestationData = (slot: string, target = String(BigInt(slot) / 32n)) => ({
  slot,
  index: "0",
  beacon_block_root: hex(32, "11"),
  source: { epoch: String(BigInt(target) - 1n), root: hex(32, "22") },
  target: { epoch: target, root: hex(32, "33") },
});

export const blockHeader = (slot: string) => ({
  slot,
  proposer_index: "4",
  parent_root: hex(32, "01"),
  state_root: hex(32, "02"),
  body_root: hex(32, "03"),
});

const phase0Body = () => ({
  randao_reveal: hex(96),
  eth1_data: { deposit_root: hex(32), deposit_count: "7", block_hash: hex(32) },
  graffiti: hex(32, "00"),
  proposer_slashings: [],
  attester_slashings: [
    {
      attestation_1: { attesting_indices: ["1", "2"], data: attestationData("100"), signature: hex(96) },
      attestation_2: { attesting_indices: ["3"], data: attestationData("100"), signature: hex(96) },
    },
  ],
  attestations: [{ aggregation_bits: "0x0f", data: attestationData("100"), signature: hex(96) }],
  deposits: [{ proof: Array.from({ length: 33 }, () => hex(32, "44")), data: { pubkey: hex(48), withdrawal_credentials: hex(32), amount: "32000000000", signature: hex(96) } }],
  voluntary_exits: [{ message: { epoch: "3", validator_index: "9" }, signature: hex(96) }],
});

export const phase0Block = (slot = "100") => ({ slot, proposer_index: "5", parent_root: hex(32), state_root: hex(32), body: phase0Body() });
export const altairBlock = (slot = "2400000") => ({
  ...phase0Block(slot),
  body: { ...phase0Body(), sync_aggregate: { sync_committee_bits: hex(64, "ff"), sync_committee_signature: hex(96) } },
});

export const electraAggregate = (slot = ELECTRA_SLOT) => ({
  aggregator_index: "8",
  aggregate: { aggregation_bits: "0x0301", data: attestationData(slot), signature: hex(96), committee_bits: "0x0100000000000000" },
  selection_proof: hex(96),
});
export const phase0Aggregate = (slot = DENEB_SLOT) => ({
  aggregator_index: "8",
  aggregate: { aggregation_bits: "0x0301", data: attestationData(slot), signature: hex(96) },
  selection_proof: hex(96),
});
export const contributionAndProof = (slot = DENEB_SLOT) => ({
  aggregator_index: "6",
  selection_proof: hex(96),
  contribution: { slot, beacon_block_root: hex(32), subcommittee_index: "1", aggregation_bits: hex(16, "f0"), signature: hex(96) },
});

export function sampleRequests(): Record<SigningType, Record<string, unknown>> {
  return {
    BLOCK: { type: "BLOCK", fork_info: PHASE0, block: phase0Block() },
    BLOCK_V2: { type: "BLOCK_V2", fork_info: DENEB, beacon_block: { version: "DENEB", block_header: blockHeader(DENEB_SLOT) } },
    ATTESTATION: { type: "ATTESTATION", fork_info: DENEB, attestation: attestationData(DENEB_SLOT) },
    AGGREGATION_SLOT: { type: "AGGREGATION_SLOT", fork_info: DENEB, aggregation_slot: { slot: DENEB_SLOT } },
    AGGREGATE_AND_PROOF: { type: "AGGREGATE_AND_PROOF", fork_info: DENEB, aggregate_and_proof: phase0Aggregate() },
    AGGREGATE_AND_PROOF_V2: { type: "AGGREGATE_AND_PROOF_V2", fork_info: ELECTRA, aggregate_and_proof: { version: "ELECTRA", data: electraAggregate() } },
    DEPOSIT: { type: "DEPOSIT", deposit: { pubkey: hex(48), withdrawal_credentials: hex(32, "01"), amount: "32000000000", genesis_fork_version: "0x00000000" } },
    RANDAO_REVEAL: { type: "RANDAO_REVEAL", fork_info: DENEB, randao_reveal: { epoch: "271875" } },
    VOLUNTARY_EXIT: { type: "VOLUNTARY_EXIT", fork_info: DENEB, voluntary_exit: { epoch: "271875", validator_index: "12" } },
    SYNC_COMMITTEE_MESSAGE: { type: "SYNC_COMMITTEE_MESSAGE", fork_info: ALTAIR, sync_committee_message: { beacon_block_root: hex(32), slot: "2400000" } },
    SYNC_COMMITTEE_SELECTION_PROOF: { type: "SYNC_COMMITTEE_SELECTION_PROOF", fork_info: DENEB, sync_aggregator_selection_data: { slot: DENEB_SLOT, subcommittee_index: "3" } },
    SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF: { type: "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", fork_info: DENEB, contribution_and_proof: contributionAndProof() },
    VALIDATOR_REGISTRATION: {
      type: "VALIDATOR_REGISTRATION",
      validator_registration: { fee_recipient: hex(20, "ee"), gas_limit: "30000000", timestamp: "1700000000", pubkey: hex(48) },
    },
  };
}
