// SSZ containers that signing roots are computed over, mirroring consensus-specs (phase0, altair,
// electra) and builder-specs. Defined here rather than taken from @lodestar/types because every uint64
// must be a bigint: lodestar's UintNum64 loses precision above 2^53.
//
// Field names are the consensus-specs (= JSON) names, so that the strict JSON reader in json-ssz.ts
// can walk these types directly. Preset-dependent sizes come from the network's preset; the types are
// built once per preset and reused by every request.
import {
  BitListType,
  BitVectorType,
  ByteVectorType,
  ContainerType,
  ListBasicType,
  ListCompositeType,
  UintBigintType,
  VectorCompositeType,
} from "@chainsafe/ssz";
import { DEPOSIT_CONTRACT_TREE_DEPTH, SYNC_COMMITTEE_SUBNET_COUNT } from "@lodestar/params";
import { PRESETS, type PresetBase } from "./presets.ts";

export const Uint64 = new UintBigintType(8);
export const Bytes4 = new ByteVectorType(4);
export const Bytes20 = new ByteVectorType(20);
export const Bytes32 = new ByteVectorType(32);
export const Bytes48 = new ByteVectorType(48);
export const Bytes96 = new ByteVectorType(96);

// Preset-independent containers.

export const ForkData = new ContainerType({ current_version: Bytes4, genesis_validators_root: Bytes32 });
export const SigningData = new ContainerType({ object_root: Bytes32, domain: Bytes32 });

export const Checkpoint = new ContainerType({ epoch: Uint64, root: Bytes32 });
export const AttestationData = new ContainerType({
  slot: Uint64,
  index: Uint64,
  beacon_block_root: Bytes32,
  source: Checkpoint,
  target: Checkpoint,
});
export const BeaconBlockHeader = new ContainerType({
  slot: Uint64,
  proposer_index: Uint64,
  parent_root: Bytes32,
  state_root: Bytes32,
  body_root: Bytes32,
});
export const VoluntaryExit = new ContainerType({ epoch: Uint64, validator_index: Uint64 });
export const DepositMessage = new ContainerType({ pubkey: Bytes48, withdrawal_credentials: Bytes32, amount: Uint64 });
export const SyncAggregatorSelectionData = new ContainerType({ slot: Uint64, subcommittee_index: Uint64 });
/** builder-specs ValidatorRegistrationV1. */
export const ValidatorRegistration = new ContainerType({ fee_recipient: Bytes20, gas_limit: Uint64, timestamp: Uint64, pubkey: Bytes48 });

/** Request payloads that are not consensus containers; only read from JSON, never hashed as a whole. */
export const EpochPayload = new ContainerType({ epoch: Uint64 });
export const SlotPayload = new ContainerType({ slot: Uint64 });
export const SyncCommitteeMessagePayload = new ContainerType({ beacon_block_root: Bytes32, slot: Uint64 });

function createPresetTypes(presetBase: PresetBase) {
  const p = PRESETS[presetBase];

  const SignedBeaconBlockHeader = new ContainerType({ message: BeaconBlockHeader, signature: Bytes96 });
  const ProposerSlashing = new ContainerType({ signed_header_1: SignedBeaconBlockHeader, signed_header_2: SignedBeaconBlockHeader });
  const IndexedAttestation = new ContainerType({
    attesting_indices: new ListBasicType(Uint64, p.MAX_VALIDATORS_PER_COMMITTEE),
    data: AttestationData,
    signature: Bytes96,
  });
  const AttesterSlashing = new ContainerType({ attestation_1: IndexedAttestation, attestation_2: IndexedAttestation });
  const Attestation = new ContainerType({
    aggregation_bits: new BitListType(p.MAX_VALIDATORS_PER_COMMITTEE),
    data: AttestationData,
    signature: Bytes96,
  });
  const DepositData = new ContainerType({ pubkey: Bytes48, withdrawal_credentials: Bytes32, amount: Uint64, signature: Bytes96 });
  const Deposit = new ContainerType({ proof: new VectorCompositeType(Bytes32, DEPOSIT_CONTRACT_TREE_DEPTH + 1), data: DepositData });
  const SignedVoluntaryExit = new ContainerType({ message: VoluntaryExit, signature: Bytes96 });
  const Eth1Data = new ContainerType({ deposit_root: Bytes32, deposit_count: Uint64, block_hash: Bytes32 });

  const phase0BodyFields = {
    randao_reveal: Bytes96,
    eth1_data: Eth1Data,
    graffiti: Bytes32,
    proposer_slashings: new ListCompositeType(ProposerSlashing, p.MAX_PROPOSER_SLASHINGS),
    attester_slashings: new ListCompositeType(AttesterSlashing, p.MAX_ATTESTER_SLASHINGS),
    attestations: new ListCompositeType(Attestation, p.MAX_ATTESTATIONS),
    deposits: new ListCompositeType(Deposit, p.MAX_DEPOSITS),
    voluntary_exits: new ListCompositeType(SignedVoluntaryExit, p.MAX_VOLUNTARY_EXITS),
  };
  const SyncAggregate = new ContainerType({
    sync_committee_bits: new BitVectorType(p.SYNC_COMMITTEE_SIZE),
    sync_committee_signature: Bytes96,
  });
  const beaconBlock = <BodyFields extends typeof phase0BodyFields>(body: ContainerType<BodyFields>) =>
    new ContainerType({ slot: Uint64, proposer_index: Uint64, parent_root: Bytes32, state_root: Bytes32, body });

  // EIP-7549 (electra): one attestation may span every committee of the slot.
  const AttestationElectra = new ContainerType({
    aggregation_bits: new BitListType(p.MAX_VALIDATORS_PER_COMMITTEE * p.MAX_COMMITTEES_PER_SLOT),
    data: AttestationData,
    signature: Bytes96,
    committee_bits: new BitVectorType(p.MAX_COMMITTEES_PER_SLOT),
  });

  const SyncCommitteeContribution = new ContainerType({
    slot: Uint64,
    beacon_block_root: Bytes32,
    subcommittee_index: Uint64,
    aggregation_bits: new BitVectorType(p.SYNC_COMMITTEE_SIZE / SYNC_COMMITTEE_SUBNET_COUNT),
    signature: Bytes96,
  });

  return {
    /** Full blocks exist in Web3Signer requests only for phase0 and altair; later forks send a header. */
    BeaconBlockPhase0: beaconBlock(new ContainerType(phase0BodyFields)),
    BeaconBlockAltair: beaconBlock(new ContainerType({ ...phase0BodyFields, sync_aggregate: SyncAggregate })),
    AggregateAndProofPhase0: new ContainerType({ aggregator_index: Uint64, aggregate: Attestation, selection_proof: Bytes96 }),
    AggregateAndProofElectra: new ContainerType({ aggregator_index: Uint64, aggregate: AttestationElectra, selection_proof: Bytes96 }),
    ContributionAndProof: new ContainerType({ aggregator_index: Uint64, contribution: SyncCommitteeContribution, selection_proof: Bytes96 }),
  };
}

export type PresetTypes = ReturnType<typeof createPresetTypes>;

const presetTypes = new Map<PresetBase, PresetTypes>();

export function typesForPreset(presetBase: PresetBase): PresetTypes {
  let types = presetTypes.get(presetBase);
  if (types === undefined) {
    types = createPresetTypes(presetBase);
    presetTypes.set(presetBase, types);
  }
  return types;
}
