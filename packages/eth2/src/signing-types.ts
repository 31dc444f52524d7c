// One entry per Web3Signer eth2 signing type: which JSON field carries the payload, whether the request
// needs fork_info, and how to turn the payload into (object root, domain). The rules follow
// Web3Signer's Eth2SignForIdentifierHandler and Teku's SigningRootUtil, which it calls:
//   - the domain's fork version comes from fork_info: previous_version when the message's epoch is
//     before fork_info.fork.epoch, else current_version (so Lodestar, which sends the signing epoch as
//     fork.epoch, and Lighthouse, which sends the real fork epoch, get the same domain);
//   - the message's epoch is: the block's slot / SLOTS_PER_EPOCH for blocks, data.target.epoch for
//     attestations, the slot's epoch for aggregation slots, aggregates (aggregate.data.slot) and sync
//     committee messages, the epoch itself for RANDAO reveals and voluntary exits;
//   - SSZ containers follow the fork of the message's slot in the configured network.
import {
  DOMAIN_AGGREGATE_AND_PROOF,
  DOMAIN_APPLICATION_BUILDER,
  DOMAIN_BEACON_ATTESTER,
  DOMAIN_BEACON_PROPOSER,
  DOMAIN_CONTRIBUTION_AND_PROOF,
  DOMAIN_DEPOSIT,
  DOMAIN_RANDAO,
  DOMAIN_SELECTION_PROOF,
  DOMAIN_SYNC_COMMITTEE,
  DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF,
  DOMAIN_VOLUNTARY_EXIT,
} from "@lodestar/params";
import { computeDomain, ZERO_ROOT } from "./domain.ts";
import { fail } from "./errors.ts";
import { type ForkName, forkIndex, parseForkVersionName } from "./forks.ts";
import { field, type JsonObject, readBytes, readRoot, readSsz, readUint64, requiredField, requireObject } from "./json-ssz.ts";
import { epochAtSlot, type Fork, forkAtEpoch, forkNamed, type Network } from "./networks.ts";
import {
  AttestationData,
  BeaconBlockHeader,
  DepositMessage,
  EpochPayload,
  type PresetTypes,
  SlotPayload,
  SyncAggregatorSelectionData,
  SyncCommitteeMessagePayload,
  Uint64,
  ValidatorRegistration,
  VoluntaryExit,
} from "./ssz-types.ts";

export const SIGNING_TYPES = [
  "BLOCK",
  "BLOCK_V2",
  "ATTESTATION",
  "AGGREGATION_SLOT",
  "AGGREGATE_AND_PROOF",
  "AGGREGATE_AND_PROOF_V2",
  "DEPOSIT",
  "RANDAO_REVEAL",
  "VOLUNTARY_EXIT",
  "SYNC_COMMITTEE_MESSAGE",
  "SYNC_COMMITTEE_SELECTION_PROOF",
  "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF",
  "VALIDATOR_REGISTRATION",
] as const;
export type SigningType = (typeof SIGNING_TYPES)[number];

/** What slashing protection needs: the block's slot, or the attestation's source and target epochs. */
export type SlashingData = { kind: "block"; slot: bigint } | { kind: "attestation"; sourceEpoch: bigint; targetEpoch: bigint };

/** fork_info of a request. */
export interface ForkInfo {
  readonly previousVersion: Uint8Array;
  readonly currentVersion: Uint8Array;
  readonly epoch: bigint;
  readonly genesisValidatorsRoot: Uint8Array;
}

export interface Signable {
  readonly objectRoot: Uint8Array;
  readonly domain: Uint8Array;
  readonly slashing?: SlashingData;
}

interface Context {
  readonly network: Network;
  readonly types: PresetTypes;
}
interface ForkInfoContext extends Context {
  readonly forkInfo: ForkInfo;
}

export type SigningTypeSpec =
  | { readonly field: string; readonly forkInfo: true; read(payload: unknown, path: string, ctx: ForkInfoContext): Signable }
  | { readonly field: string; readonly forkInfo: false; read(payload: unknown, path: string, ctx: Context): Signable };

/** get_domain with the request's fork_info in place of the state's fork. */
function forkInfoDomain(forkInfo: ForkInfo, domainType: Uint8Array, epoch: bigint): Uint8Array {
  const version = epoch < forkInfo.epoch ? forkInfo.previousVersion : forkInfo.currentVersion;
  return computeDomain(domainType, version, forkInfo.genesisValidatorsRoot);
}

function forkOfSlot(network: Network, slot: bigint): Fork {
  return forkAtEpoch(network, epochAtSlot(network, slot));
}

/** Reads a uint64 nested at `keys` inside `json`, to pick a schema before the whole payload is read. */
function readUint64At(json: unknown, path: string, keys: readonly string[]): bigint {
  let value = json;
  for (const key of keys) {
    const object: JsonObject = requireObject(value, path);
    path = `${path}.${key}`;
    value = requiredField(object, key, path);
  }
  return readUint64(value, path);
}

/** Sync committees (and their signing types) start at Altair. */
function requireAltair(network: Network, slot: bigint, path: string): void {
  const fork = forkOfSlot(network, slot);
  if (fork.name === "phase0") fail(path, `slot ${slot} is in phase0 on ${network.name}; sync committee messages exist from altair on`);
}

/** A full phase0 or altair BeaconBlock, read with the container of its slot's fork. */
function readFullBlock(json: unknown, path: string, ctx: ForkInfoContext, requiredFork: ForkName, why: string): Signable {
  const slot = readUint64At(json, path, ["slot"]);
  const fork = forkOfSlot(ctx.network, slot).name;
  if (fork !== requiredFork) fail(`${path}.slot`, `slot ${slot} is in the ${fork} fork of ${ctx.network.name}, but ${why}`);
  const type = fork === "phase0" ? ctx.types.BeaconBlockPhase0 : ctx.types.BeaconBlockAltair;
  const domain = forkInfoDomain(ctx.forkInfo, DOMAIN_BEACON_PROPOSER, epochAtSlot(ctx.network, slot));
  return { objectRoot: readRoot(type, json, path), domain, slashing: { kind: "block", slot } };
}

/** The `version` of a `{version, …}` payload. */
function readForkVersion(object: JsonObject, path: string): ForkName {
  const value = requiredField(object, "version", `${path}.version`);
  if (typeof value !== "string") fail(`${path}.version`, "must be a fork name such as \"DENEB\"");
  const fork = parseForkVersionName(value);
  return typeof fork === "string" ? fork : fail(`${path}.version`, fork.problem);
}

/** AggregateAndProof, with the electra Attestation (committee_bits, larger aggregation_bits) from electra on. */
function readAggregateAndProof(json: unknown, path: string, ctx: ForkInfoContext): Signable {
  const slot = readUint64At(json, path, ["aggregate", "data", "slot"]);
  const electra = forkIndex(forkOfSlot(ctx.network, slot).name) >= forkIndex("electra");
  const type = electra ? ctx.types.AggregateAndProofElectra : ctx.types.AggregateAndProofPhase0;
  return { objectRoot: readRoot(type, json, path), domain: forkInfoDomain(ctx.forkInfo, DOMAIN_AGGREGATE_AND_PROOF, epochAtSlot(ctx.network, slot)) };
}

export const SIGNING_TYPE_SPECS: Readonly<Record<SigningType, SigningTypeSpec>> = {
  BLOCK: {
    field: "block",
    forkInfo: true,
    read: (payload, path, ctx) => readFullBlock(payload, path, ctx, "phase0", "BLOCK signs phase0 blocks only; use BLOCK_V2"),
  },

  // PHASE0 and ALTAIR carry the full block; from BELLATRIX on only its header, whose root equals the
  // block's (body replaced by body_root), so the signing root is the same.
  BLOCK_V2: {
    field: "beacon_block",
    forkInfo: true,
    read(payload, path, ctx) {
      const object = requireObject(payload, path);
      const version = readForkVersion(object, path);
      if (version === "phase0" || version === "altair") {
        const blockPath = `${path}.block`;
        const why = `beacon_block.version is ${version.toUpperCase()}`;
        return readFullBlock(requiredField(object, "block", blockPath), blockPath, ctx, version, why);
      }
      const headerPath = `${path}.block_header`;
      const header = readSsz(BeaconBlockHeader, requiredField(object, "block_header", headerPath), headerPath);
      const domain = forkInfoDomain(ctx.forkInfo, DOMAIN_BEACON_PROPOSER, epochAtSlot(ctx.network, header.slot));
      return { objectRoot: BeaconBlockHeader.hashTreeRoot(header), domain, slashing: { kind: "block", slot: header.slot } };
    },
  },

  ATTESTATION: {
    field: "attestation",
    forkInfo: true,
    read(payload, path, ctx) {
      const data = readSsz(AttestationData, payload, path);
      return {
        objectRoot: AttestationData.hashTreeRoot(data),
        domain: forkInfoDomain(ctx.forkInfo, DOMAIN_BEACON_ATTESTER, data.target.epoch),
        slashing: { kind: "attestation", sourceEpoch: data.source.epoch, targetEpoch: data.target.epoch },
      };
    },
  },

  AGGREGATION_SLOT: {
    field: "aggregation_slot",
    forkInfo: true,
    read(payload, path, ctx) {
      const { slot } = readSsz(SlotPayload, payload, path);
      return { objectRoot: Uint64.hashTreeRoot(slot), domain: forkInfoDomain(ctx.forkInfo, DOMAIN_SELECTION_PROOF, epochAtSlot(ctx.network, slot)) };
    },
  },

  AGGREGATE_AND_PROOF: { field: "aggregate_and_proof", forkInfo: true, read: readAggregateAndProof },

  // Web3Signer's AggregateAndProofV2Deserializer accepts {version, data} and, when either key is
  // absent, the flat AGGREGATE_AND_PROOF shape. As there, the container follows the slot's fork;
  // the version is only checked to be a fork this signer knows.
  AGGREGATE_AND_PROOF_V2: {
    field: "aggregate_and_proof",
    forkInfo: true,
    read(payload, path, ctx) {
      const object = requireObject(payload, path);
      if (field(object, "version") === undefined || field(object, "data") === undefined) return readAggregateAndProof(object, path, ctx);
      readForkVersion(object, path);
      return readAggregateAndProof(field(object, "data"), `${path}.data`, ctx);
    },
  },

  // Deposits are signed before the validator exists on any chain: the domain uses the fork version in
  // the request and a zero genesis validators root, and needs no fork_info.
  DEPOSIT: {
    field: "deposit",
    forkInfo: false,
    read(payload, path) {
      const objectRoot = readRoot(DepositMessage, payload, path);
      const versionPath = `${path}.genesis_fork_version`;
      const genesisForkVersion = readBytes(requiredField(requireObject(payload, path), "genesis_fork_version", versionPath), 4, versionPath);
      return { objectRoot, domain: computeDomain(DOMAIN_DEPOSIT, genesisForkVersion, ZERO_ROOT) };
    },
  },

  RANDAO_REVEAL: {
    field: "randao_reveal",
    forkInfo: true,
    read(payload, path, ctx) {
      const { epoch } = readSsz(EpochPayload, payload, path);
      return { objectRoot: Uint64.hashTreeRoot(epoch), domain: forkInfoDomain(ctx.forkInfo, DOMAIN_RANDAO, epoch) };
    },
  },

  // EIP-7044: from Deneb on, exits are signed with the Capella fork version, whatever fork_info says.
  // Web3Signer (Teku's Spec.getVoluntaryExitDomain) decides "from Deneb on" by the exit's own epoch
  // against the configured network's DENEB_FORK_EPOCH, not by fork_info: an exit whose epoch is before
  // Deneb keeps the fork_info rule with that epoch. fork_info's genesis validators root is used in both
  // cases.
  VOLUNTARY_EXIT: {
    field: "voluntary_exit",
    forkInfo: true,
    read(payload, path, ctx) {
      const exit = readSsz(VoluntaryExit, payload, path);
      const domain =
        exit.epoch >= forkNamed(ctx.network, "deneb").epoch
          ? computeDomain(DOMAIN_VOLUNTARY_EXIT, forkNamed(ctx.network, "capella").version, ctx.forkInfo.genesisValidatorsRoot)
          : forkInfoDomain(ctx.forkInfo, DOMAIN_VOLUNTARY_EXIT, exit.epoch);
      return { objectRoot: VoluntaryExit.hashTreeRoot(exit), domain };
    },
  },

  // The signed object is the block root itself (hash_tree_root of a Bytes32 is the bytes).
  SYNC_COMMITTEE_MESSAGE: {
    field: "sync_committee_message",
    forkInfo: true,
    read(payload, path, ctx) {
      const message = readSsz(SyncCommitteeMessagePayload, payload, path);
      requireAltair(ctx.network, message.slot, `${path}.slot`);
      return { objectRoot: message.beacon_block_root, domain: forkInfoDomain(ctx.forkInfo, DOMAIN_SYNC_COMMITTEE, epochAtSlot(ctx.network, message.slot)) };
    },
  },

  SYNC_COMMITTEE_SELECTION_PROOF: {
    field: "sync_aggregator_selection_data",
    forkInfo: true,
    read(payload, path, ctx) {
      const data = readSsz(SyncAggregatorSelectionData, payload, path);
      requireAltair(ctx.network, data.slot, `${path}.slot`);
      const domain = forkInfoDomain(ctx.forkInfo, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF, epochAtSlot(ctx.network, data.slot));
      return { objectRoot: SyncAggregatorSelectionData.hashTreeRoot(data), domain };
    },
  },

  SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF: {
    field: "contribution_and_proof",
    forkInfo: true,
    read(payload, path, ctx) {
      const type = ctx.types.ContributionAndProof;
      const value = readSsz(type, payload, path);
      const slot = value.contribution.slot;
      requireAltair(ctx.network, slot, `${path}.contribution.slot`);
      return { objectRoot: type.hashTreeRoot(value), domain: forkInfoDomain(ctx.forkInfo, DOMAIN_CONTRIBUTION_AND_PROOF, epochAtSlot(ctx.network, slot)) };
    },
  },

  // Builder registrations are chain-independent: DOMAIN_APPLICATION_BUILDER with the configured
  // network's GENESIS_FORK_VERSION and a zero genesis validators root (builder-specs).
  VALIDATOR_REGISTRATION: {
    field: "validator_registration",
    forkInfo: false,
    read(payload, path, ctx) {
      const domain = computeDomain(DOMAIN_APPLICATION_BUILDER, ctx.network.genesisForkVersion, ZERO_ROOT);
      return { objectRoot: readRoot(ValidatorRegistration, payload, path), domain };
    },
  },
};
