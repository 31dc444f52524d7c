// Cross-check of every signing type on every fork it applies to, on mainnet and hoodi, against an
// independent computation: @lodestar/config's domains, @lodestar/state-transition's computeSigningRoot
// and @lodestar/types' containers. Requests are built from random lodestar values (serialised with
// lodestar's toJson where the shape matches Web3Signer's) and each client's fork_info habit. The root we
// compute is signed with blst, and the signature must verify against the reference root.
import { SecretKey, verify } from "@chainsafe/blst";
import type { BeaconConfig } from "@lodestar/config";
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
  ForkName,
  type ForkPostBellatrix,
  type ForkPreBellatrix,
  ForkSeq,
} from "@lodestar/params";
import { blindedOrFullBlockToHeader, computeDomain, computeSigningRoot, ZERO_HASH } from "@lodestar/state-transition";
import { ssz, sszTypesFor } from "@lodestar/types";
import { describe, expect, it } from "vitest";
import { namedNetwork, parseSigningRequest, type SigningType, type SlashingData, toHex } from "../src/index.ts";
import {
  activeEpochs,
  FORKS,
  type Fork,
  type ForkInfoHabit,
  forkInfoForFork,
  forkInfoJson,
  LODESTAR_SLOTS_PER_EPOCH,
  pickEpoch,
  type RandomOptions,
  Rng,
  randomValue,
  referenceConfig,
} from "./support.ts";

const NETWORKS = ["mainnet", "hoodi"] as const;
const INSTANCES = 16;

const secretKey = SecretKey.fromKeygen(new Uint8Array(32).fill(7));
const publicKey = secretKey.toPublicKey();

interface Case {
  readonly body: Record<string, unknown>;
  readonly reference: Uint8Array;
  readonly slashing?: SlashingData;
}

interface Instance {
  readonly config: BeaconConfig;
  readonly rng: Rng;
  readonly fork: Fork;
  readonly slot: number;
  readonly habit: ForkInfoHabit;
  readonly random: RandomOptions;
  readonly i: number;
}

const random = <T>(type: { defaultValue(): T }, x: Instance): T => randomValue(type, x.rng, x.random) as T;
const domainAt = (x: Instance, domainType: Uint8Array) => x.config.getDomain(x.slot, domainType, x.slot);
const epochOf = (slot: number) => Math.floor(slot / LODESTAR_SLOTS_PER_EPOCH);

/** Builders for the types whose message belongs to a slot, and the forks each applies to. */
const SLOT_TYPES: Record<Exclude<SigningType, "DEPOSIT" | "VALIDATOR_REGISTRATION">, { forks: (f: Fork) => boolean; build(x: Instance): Case }> = {
  BLOCK: {
    forks: (f) => f === "phase0",
    build(x) {
      const block = { ...random(ssz.phase0.BeaconBlock, x), slot: x.slot };
      return {
        body: { type: "BLOCK", fork_info: forkInfoJson(x.config, x.slot, x.habit), block: ssz.phase0.BeaconBlock.toJson(block) },
        reference: computeSigningRoot(ssz.phase0.BeaconBlock, block, domainAt(x, DOMAIN_BEACON_PROPOSER)),
        slashing: { kind: "block", slot: BigInt(x.slot) },
      };
    },
  },
  BLOCK_V2: {
    forks: () => true,
    build(x) {
      const version = x.fork.toUpperCase();
      const fork_info = forkInfoJson(x.config, x.slot, x.habit);
      const domain = domainAt(x, DOMAIN_BEACON_PROPOSER);
      if (ForkSeq[x.fork] < ForkSeq.bellatrix) {
        const type = sszTypesFor(x.fork as ForkPreBellatrix).BeaconBlock;
        const block = { ...random(type, x), slot: x.slot };
        return {
          body: { type: "BLOCK_V2", fork_info, beacon_block: { version, block: type.toJson(block) } },
          reference: computeSigningRoot(type, block, domain),
          slashing: { kind: "block", slot: BigInt(x.slot) },
        };
      }
      // A full or blinded block of the fork; the request carries only its header, and the signing root
      // must equal the one over the whole block.
      const types = sszTypesFor(x.fork as ForkPostBellatrix);
      const type = x.i % 2 === 0 ? types.BeaconBlock : (types.BlindedBeaconBlock as unknown as typeof types.BeaconBlock);
      const block = { ...random(type, x), slot: x.slot };
      const header = blindedOrFullBlockToHeader(x.config, block);
      return {
        body: { type: "block_v2", fork_info, beacon_block: { version: x.i % 3 === 0 ? version.toLowerCase() : version, block_header: ssz.phase0.BeaconBlockHeader.toJson(header) } },
        reference: computeSigningRoot(type, block, domain),
        slashing: { kind: "block", slot: BigInt(x.slot) },
      };
    },
  },
  ATTESTATION: {
    forks: () => true,
    build(x) {
      const data = random(ssz.phase0.AttestationData, x);
      const targetEpoch = epochOf(x.slot);
      data.slot = x.slot;
      data.target.epoch = targetEpoch;
      data.source.epoch = x.rng.int(0, targetEpoch);
      return {
        body: { type: "ATTESTATION", fork_info: forkInfoJson(x.config, x.slot, x.habit), attestation: ssz.phase0.AttestationData.toJson(data) },
        reference: computeSigningRoot(ssz.phase0.AttestationData, data, domainAt(x, DOMAIN_BEACON_ATTESTER)),
        slashing: { kind: "attestation", sourceEpoch: BigInt(data.source.epoch), targetEpoch: BigInt(targetEpoch) },
      };
    },
  },
  AGGREGATION_SLOT: {
    forks: () => true,
    build: (x) => ({
      body: { type: "AGGREGATION_SLOT", fork_info: forkInfoJson(x.config, x.slot, x.habit), aggregation_slot: { slot: String(x.slot) } },
      reference: computeSigningRoot(ssz.Slot, x.slot, domainAt(x, DOMAIN_SELECTION_PROOF)),
    }),
  },
  // Lighthouse sends AGGREGATE_AND_PROOF in the flat shape on every fork, Electra's with committee_bits.
  AGGREGATE_AND_PROOF: {
    forks: () => true,
    build(x) {
      const type = sszTypesFor(x.fork).AggregateAndProof;
      const value = random(type, x);
      value.aggregate.data.slot = x.slot;
      return {
        body: { type: "AGGREGATE_AND_PROOF", fork_info: forkInfoJson(x.config, x.slot, x.habit), aggregate_and_proof: type.toJson(value) },
        reference: computeSigningRoot(type, value, domainAt(x, DOMAIN_AGGREGATE_AND_PROOF)),
      };
    },
  },
  // Lodestar sends {version, data}; the flat shape is accepted as well.
  AGGREGATE_AND_PROOF_V2: {
    forks: () => true,
    build(x) {
      const type = sszTypesFor(x.fork).AggregateAndProof;
      const value = random(type, x);
      value.aggregate.data.slot = x.slot;
      const json = type.toJson(value);
      return {
        body: {
          type: "AGGREGATE_AND_PROOF_V2",
          fork_info: forkInfoJson(x.config, x.slot, x.habit),
          aggregate_and_proof: x.i % 3 === 2 ? json : { version: x.fork.toUpperCase(), data: json },
        },
        reference: computeSigningRoot(type, value, domainAt(x, DOMAIN_AGGREGATE_AND_PROOF)),
      };
    },
  },
  RANDAO_REVEAL: {
    forks: () => true,
    build(x) {
      const epoch = epochOf(x.slot);
      return {
        body: { type: "RANDAO_REVEAL", fork_info: forkInfoJson(x.config, x.slot, x.habit), randao_reveal: { epoch: String(epoch) } },
        reference: computeSigningRoot(ssz.Epoch, epoch, domainAt(x, DOMAIN_RANDAO)),
      };
    },
  },
  // EIP-7044: from Deneb on, Lodestar sends the Capella fork as fork_info; Lighthouse sends the fork
  // of the exit's epoch. Either way the domain must be Capella's.
  VOLUNTARY_EXIT: {
    forks: () => true,
    build(x) {
      const exit = { ...random(ssz.phase0.VoluntaryExit, x), epoch: epochOf(x.slot) };
      const postDeneb = ForkSeq[x.fork] >= ForkSeq.deneb;
      const fork_info = postDeneb && x.habit === "lodestar" ? forkInfoForFork(x.config, ForkName.capella) : forkInfoJson(x.config, x.slot, x.habit);
      return {
        body: { type: "VOLUNTARY_EXIT", fork_info, voluntary_exit: ssz.phase0.VoluntaryExit.toJson(exit) },
        reference: computeSigningRoot(ssz.phase0.VoluntaryExit, exit, x.config.getDomainForVoluntaryExit(x.slot, x.slot)),
      };
    },
  },
  SYNC_COMMITTEE_MESSAGE: {
    forks: (f) => f !== "phase0",
    build(x) {
      const root = x.rng.bytes(32);
      return {
        body: {
          type: "SYNC_COMMITTEE_MESSAGE",
          fork_info: forkInfoJson(x.config, x.slot, x.habit),
          sync_committee_message: { beacon_block_root: toHex(root), slot: String(x.slot) },
        },
        reference: computeSigningRoot(ssz.Root, root, domainAt(x, DOMAIN_SYNC_COMMITTEE)),
      };
    },
  },
  SYNC_COMMITTEE_SELECTION_PROOF: {
    forks: (f) => f !== "phase0",
    build(x) {
      const type = ssz.altair.SyncAggregatorSelectionData;
      const data = { ...random(type, x), slot: x.slot };
      return {
        body: { type: "SYNC_COMMITTEE_SELECTION_PROOF", fork_info: forkInfoJson(x.config, x.slot, x.habit), sync_aggregator_selection_data: type.toJson(data) },
        reference: computeSigningRoot(type, data, domainAt(x, DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF)),
      };
    },
  },
  SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF: {
    forks: (f) => f !== "phase0",
    build(x) {
      const type = ssz.altair.ContributionAndProof;
      const value = random(type, x);
      value.contribution.slot = x.slot;
      return {
        body: { type: "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", fork_info: forkInfoJson(x.config, x.slot, x.habit), contribution_and_proof: type.toJson(value) },
        reference: computeSigningRoot(type, value, domainAt(x, DOMAIN_CONTRIBUTION_AND_PROOF)),
      };
    },
  },
};

function seedOf(...parts: string[]): number {
  let h = 2166136261;
  for (const c of parts.join("/")) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

/** Parses `c.body` and checks root, signature, slashing data and genesis validators root. */
function check(network: (typeof NETWORKS)[number], config: BeaconConfig, c: Case, withForkInfo: boolean, i: number): void {
  // Some requests carry the expected root, in both spellings; a wrong one would be refused.
  const body = i % 3 === 0 ? c.body : { ...c.body, [i % 3 === 1 ? "signingRoot" : "signing_root"]: toHex(c.reference) };
  const request = parseSigningRequest(JSON.parse(JSON.stringify(body)), namedNetwork(network));
  expect(toHex(request.signingRoot)).toBe(toHex(c.reference));
  expect(verify(c.reference, publicKey, secretKey.sign(request.signingRoot))).toBe(true);
  expect(request.slashing).toEqual(c.slashing);
  expect(request.genesisValidatorsRoot && toHex(request.genesisValidatorsRoot)).toBe(withForkInfo ? toHex(config.genesisValidatorsRoot) : undefined);
}

describe.each(NETWORKS)("reference cross-check on %s", (network) => {
  const config = referenceConfig(network);
  const combinations = Object.entries(SLOT_TYPES).flatMap(([type, spec]) =>
    FORKS.filter((fork) => spec.forks(fork) && activeEpochs(config, fork) !== undefined).map((fork) => ({ type, fork, spec })),
  );

  it.each(combinations)("$type on $fork", ({ type, fork, spec }) => {
    const rng = new Rng(seedOf(network, type, fork));
    const range = activeEpochs(config, fork) as { first: number; last: number };
    for (let i = 0; i < INSTANCES; i++) {
      const epoch = pickEpoch(rng, range, i);
      const slot = epoch * LODESTAR_SLOTS_PER_EPOCH + rng.int(0, LODESTAR_SLOTS_PER_EPOCH - 1);
      expect(config.getForkName(slot)).toBe(fork);
      const random = i === INSTANCES - 1 ? { maxListLength: 4, maxBits: 1 << 17 } : { maxListLength: 2, maxBits: 80 };
      const c = spec.build({ config, rng, fork, slot, habit: i % 2 === 0 ? "lodestar" : "lighthouse", random, i });
      check(network, config, c, true, i);
    }
  });

  it("DEPOSIT with the network's, another network's and arbitrary genesis fork versions", () => {
    const rng = new Rng(seedOf(network, "DEPOSIT"));
    const versions = [config.GENESIS_FORK_VERSION, Uint8Array.from([0x10, 0, 0x09, 0x10]), Uint8Array.from([0x90, 0, 0, 0x69])];
    for (let i = 0; i < 20; i++) {
      const message = randomValue(ssz.phase0.DepositMessage, rng, { maxListLength: 0, maxBits: 0 }) as ReturnType<typeof ssz.phase0.DepositMessage.defaultValue>;
      const version = versions[i] ?? rng.bytes(4);
      const c: Case = {
        body: { type: "DEPOSIT", deposit: { ...ssz.phase0.DepositMessage.toJson(message), genesis_fork_version: toHex(version) } },
        reference: computeSigningRoot(ssz.phase0.DepositMessage, message, computeDomain(DOMAIN_DEPOSIT, version, ZERO_HASH)),
      };
      check(network, config, c, false, i);
    }
  });

  it("VALIDATOR_REGISTRATION under the builder domain (genesis fork version, zero root)", () => {
    const rng = new Rng(seedOf(network, "VALIDATOR_REGISTRATION"));
    const type = ssz.bellatrix.ValidatorRegistrationV1;
    for (let i = 0; i < 20; i++) {
      const registration = randomValue(type, rng, { maxListLength: 0, maxBits: 0 }) as ReturnType<typeof type.defaultValue>;
      const c: Case = {
        body: { type: "VALIDATOR_REGISTRATION", validator_registration: type.toJson(registration) },
        reference: computeSigningRoot(type, registration, computeDomain(DOMAIN_APPLICATION_BUILDER, config.GENESIS_FORK_VERSION, ZERO_HASH)),
      };
      check(network, config, c, false, i);
    }
  });
});
