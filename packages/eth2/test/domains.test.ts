// The domain and schema rules spelled out case by case: EIP-7044 exits, the two fork_info habits,
// epoch length by preset, the builder domain, and preset-dependent container sizes on a devnet.
import { DOMAIN_AGGREGATE_AND_PROOF, DOMAIN_APPLICATION_BUILDER, DOMAIN_BEACON_ATTESTER, DOMAIN_SELECTION_PROOF, DOMAIN_VOLUNTARY_EXIT } from "@lodestar/params";
import { computeDomain, computeSigningRoot, ZERO_HASH } from "@lodestar/state-transition";
import { ssz } from "@lodestar/types";
import { describe, expect, it } from "vitest";
import { type Network, namedNetwork, networkFromConfigYaml, parseSigningRequest, SigningRequestError, toHex } from "../src/index.ts";
import { attestationData, contributionAndProof, electraAggregate, forkInfo, MAINNET_GVR } from "./samples.ts";
import { bytesRoot, chunk, merkleize, signingRoot, uint64Chunk } from "./ssz-by-hand.ts";

const mainnet = namedNetwork("mainnet");
const bytes = (hex: string) => Buffer.from(hex.replace(/^0x/, ""), "hex");
const rootHex = (body: unknown, network: Network = mainnet) => toHex(parseSigningRequest(body, network).signingRoot);

// Mainnet fork versions and epochs.
const V = { phase0: "0x00000000", altair: "0x01000000", bellatrix: "0x02000000", capella: "0x03000000", deneb: "0x04000000", electra: "0x05000000", fulu: "0x06000000" };
const E = { altair: 74240, bellatrix: 144896, capella: 194048, deneb: 269568, electra: 364032, fulu: 411392 };

describe("VOLUNTARY_EXIT (EIP-7044)", () => {
  const exitBody = (epoch: number, info: unknown) => ({ type: "VOLUNTARY_EXIT", fork_info: info, voluntary_exit: { epoch: String(epoch), validator_index: "77" } });
  const expected = (epoch: number, version: string, gvr = MAINNET_GVR) =>
    toHex(computeSigningRoot(ssz.phase0.VoluntaryExit, { epoch, validatorIndex: 77 }, computeDomain(DOMAIN_VOLUNTARY_EXIT, bytes(version), bytes(gvr))));

  it.each([
    ["Lodestar's Capella fork_info", forkInfo(V.bellatrix, V.capella, String(E.capella))],
    ["Lighthouse's Electra fork_info", forkInfo(V.deneb, V.electra, String(E.electra))],
    ["Fulu fork_info with the signing epoch", forkInfo(V.electra, V.fulu, "420000")],
    ["fork_info with versions of no network", forkInfo("0xdeadbeef", "0xcafebabe", "0")],
  ])("uses the Capella version for exits from Deneb on, whatever the fork_info (%s)", (_, info) => {
    for (const epoch of [E.deneb, E.deneb + 1, E.electra, 420000, 2 ** 40]) {
      expect(rootHex(exitBody(epoch, info))).toBe(expected(epoch, V.capella));
    }
  });

  it("decides 'from Deneb on' by the exit's epoch against the network's DENEB_FORK_EPOCH, not by fork_info", () => {
    // One epoch before Deneb, fork_info rules: with Deneb fork_info the exit epoch is before fork.epoch,
    // so previous_version (Capella) applies; with fork_info naming Deneb as current from epoch 0, Deneb's.
    expect(rootHex(exitBody(E.deneb - 1, forkInfo(V.capella, V.deneb, String(E.deneb))))).toBe(expected(E.deneb - 1, V.capella));
    expect(rootHex(exitBody(E.deneb - 1, forkInfo(V.capella, V.deneb, "0")))).toBe(expected(E.deneb - 1, V.deneb));
  });

  it("keeps the fork_info rule for exits before Deneb", () => {
    const bellatrixInfo = forkInfo(V.altair, V.bellatrix, String(E.bellatrix));
    expect(rootHex(exitBody(150000, bellatrixInfo))).toBe(expected(150000, V.bellatrix));
    expect(rootHex(exitBody(E.bellatrix - 1, bellatrixInfo))).toBe(expected(E.bellatrix - 1, V.altair));
    // As in Web3Signer: a pre-Capella exit signed with Lodestar's post-Deneb (Capella) fork_info gets
    // the previous (Bellatrix) version, because its epoch is before the Capella fork epoch.
    expect(rootHex(exitBody(150000, forkInfo(V.bellatrix, V.capella, String(E.capella))))).toBe(expected(150000, V.bellatrix));
  });

  it("uses each network's own Capella version and Deneb epoch (gnosis, devnet)", () => {
    const gnosis = namedNetwork("gnosis");
    const gnosisGvr = toHex(gnosis.genesisValidatorsRoot as Uint8Array);
    const gnosisInfo = { ...forkInfo("0x04000064", "0x05000064", "1337856"), genesis_validators_root: gnosisGvr };
    expect(rootHex(exitBody(889856, gnosisInfo), gnosis)).toBe(expected(889856, "0x03000064", gnosisGvr));
    // 889855 is before gnosis's Deneb epoch: fork_info rule, previous version (0x04000064) as 889855 < 1337856.
    expect(rootHex(exitBody(889855, gnosisInfo), gnosis)).toBe(expected(889855, "0x04000064", gnosisGvr));

    const devnet = networkFromConfigYaml(DEVNET, "devnet.yaml");
    expect(rootHex(exitBody(2, forkInfo("0x50000038", "0x60000038", "10")), devnet)).toBe(expected(2, "0x40000038"));
  });
});

describe("fork_info habits", () => {
  const attestation = (slot: number, info: unknown) => ({ type: "ATTESTATION", fork_info: info, attestation: attestationData(String(slot)) });
  const expected = (slot: number, version: string) => {
    const data = ssz.phase0.AttestationData.fromJson(attestationData(String(slot)));
    return toHex(computeSigningRoot(ssz.phase0.AttestationData, data, computeDomain(DOMAIN_BEACON_ATTESTER, bytes(version), bytes(MAINNET_GVR))));
  };

  it.each([
    ["the first slot of Electra", E.electra * 32, V.deneb, V.electra],
    ["later in Electra", E.electra * 32 + 1000, V.deneb, V.electra],
    ["the last slot of Deneb", E.electra * 32 - 1, V.capella, V.deneb],
    ["the first slot of Altair", E.altair * 32, V.phase0, V.altair],
  ])("give the same domain at %s", (_, slot, previous, current) => {
    const epoch = Math.floor(slot / 32);
    const forkEpoch = { [V.altair]: E.altair, [V.deneb]: E.deneb, [V.electra]: E.electra }[current] as number;
    const lodestar = rootHex(attestation(slot, forkInfo(previous, current, String(epoch))));
    const lighthouse = rootHex(attestation(slot, forkInfo(previous, current, String(forkEpoch))));
    expect(lodestar).toBe(expected(slot, current));
    expect(lighthouse).toBe(lodestar);
  });

  it("selects previous_version for a message epoch before fork.epoch", () => {
    const slot = E.electra * 32 - 1;
    expect(rootHex(attestation(slot, forkInfo(V.deneb, V.electra, String(E.electra))))).toBe(expected(slot, V.deneb));
  });
});

describe("the epoch of a slot follows the preset", () => {
  const gnosis = namedNetwork("gnosis");
  const gnosisGvr = toHex(gnosis.genesisValidatorsRoot as Uint8Array);
  // Gnosis Altair: epoch 512, versions 0x00000064 → 0x01000064; 16 slots per epoch, so slot 8192 starts it.
  const info = { ...forkInfo("0x00000064", "0x01000064", "512"), genesis_validators_root: gnosisGvr };
  const body = (slot: number) => ({ type: "AGGREGATION_SLOT", fork_info: info, aggregation_slot: { slot: String(slot) } });
  const expected = (slot: number, version: string) => toHex(computeSigningRoot(ssz.Slot, slot, computeDomain(DOMAIN_SELECTION_PROOF, bytes(version), bytes(gnosisGvr))));

  it("is slot / 16 on gnosis", () => {
    expect(rootHex(body(8191), gnosis)).toBe(expected(8191, "0x00000064"));
    expect(rootHex(body(8192), gnosis)).toBe(expected(8192, "0x01000064"));
  });

  it("is slot / 32 on mainnet, so the same fork_info gives another answer there", () => {
    expect(rootHex({ ...body(8192), fork_info: { ...info, genesis_validators_root: MAINNET_GVR } })).not.toBe(expected(8192, "0x01000064"));
    expect(rootHex({ ...body(16384), fork_info: { ...info, genesis_validators_root: MAINNET_GVR } })).toBe(
      toHex(computeSigningRoot(ssz.Slot, 16384, computeDomain(DOMAIN_SELECTION_PROOF, bytes("0x01000064"), bytes(MAINNET_GVR)))),
    );
  });

  it("picks the electra containers by the slot's fork in gnosis's schedule", () => {
    const electraInfo = { ...forkInfo("0x04000064", "0x05000064", "1337856"), genesis_validators_root: gnosisGvr };
    const slot = String(1337856 * 16);
    const body = { type: "AGGREGATE_AND_PROOF", fork_info: electraInfo, aggregate_and_proof: electraAggregate(slot) };
    const value = ssz.electra.AggregateAndProof.fromJson(electraAggregate(slot));
    const reference = computeSigningRoot(ssz.electra.AggregateAndProof, value, computeDomain(DOMAIN_AGGREGATE_AND_PROOF, bytes("0x05000064"), bytes(gnosisGvr)));
    expect(rootHex(body, gnosis)).toBe(toHex(reference));
    // One slot earlier is Deneb: the phase0 Attestation, whose root ignores committee_bits.
    const deneb = String(1337856 * 16 - 1);
    const phase0 = ssz.phase0.AggregateAndProof.fromJson(electraAggregate(deneb));
    const denebReference = computeSigningRoot(ssz.phase0.AggregateAndProof, phase0, computeDomain(DOMAIN_AGGREGATE_AND_PROOF, bytes("0x04000064"), bytes(gnosisGvr)));
    expect(rootHex({ ...body, aggregate_and_proof: electraAggregate(deneb) }, gnosis)).toBe(toHex(denebReference));
  });
});

describe("AGGREGATE_AND_PROOF_V2 version", () => {
  it("is checked but, as in Web3Signer, the containers follow the slot", () => {
    const info = forkInfo(V.deneb, V.electra, String(E.electra));
    const asElectra = rootHex({ type: "AGGREGATE_AND_PROOF_V2", fork_info: info, aggregate_and_proof: { version: "ELECTRA", data: electraAggregate() } });
    expect(rootHex({ type: "AGGREGATE_AND_PROOF_V2", fork_info: info, aggregate_and_proof: { version: "deneb", data: electraAggregate() } })).toBe(asElectra);
    expect(rootHex({ type: "AGGREGATE_AND_PROOF_V2", fork_info: info, aggregate_and_proof: electraAggregate() })).toBe(asElectra);
    expect(rootHex({ type: "AGGREGATE_AND_PROOF", fork_info: info, aggregate_and_proof: electraAggregate() })).toBe(asElectra);
  });
});

describe("VALIDATOR_REGISTRATION", () => {
  const registration = { fee_recipient: `0x${"Ee".repeat(20)}`, gas_limit: "36000000", timestamp: "1760000000", pubkey: `0x${"a1".repeat(48)}` };
  const body = { type: "VALIDATOR_REGISTRATION", validator_registration: registration };
  const expected = (version: string) => {
    const value = ssz.bellatrix.ValidatorRegistrationV1.fromJson(registration);
    return toHex(computeSigningRoot(ssz.bellatrix.ValidatorRegistrationV1, value, computeDomain(DOMAIN_APPLICATION_BUILDER, bytes(version), ZERO_HASH)));
  };

  it("uses the configured network's GENESIS_FORK_VERSION and a zero root", () => {
    expect(rootHex(body)).toBe(expected("0x00000000"));
    expect(rootHex(body, namedNetwork("hoodi"))).toBe(expected("0x10000910"));
    expect(rootHex(body, namedNetwork("gnosis"))).toBe(expected("0x00000064"));
    expect(rootHex(body, networkFromConfigYaml(DEVNET, "devnet.yaml"))).toBe(expected("0x10000038"));
  });
});

/** A minimal-preset devnet: SYNC_COMMITTEE_SIZE 32, MAX_COMMITTEES_PER_SLOT 4, 8 slots per epoch. */
const DEVNET = `
PRESET_BASE: minimal
GENESIS_FORK_VERSION: 0x10000038
ALTAIR_FORK_VERSION: 0x20000038
ALTAIR_FORK_EPOCH: 0
BELLATRIX_FORK_VERSION: 0x30000038
BELLATRIX_FORK_EPOCH: 0
CAPELLA_FORK_VERSION: 0x40000038
CAPELLA_FORK_EPOCH: 0
DENEB_FORK_VERSION: 0x50000038
DENEB_FORK_EPOCH: 0
ELECTRA_FORK_VERSION: 0x60000038
ELECTRA_FORK_EPOCH: 10
FULU_FORK_VERSION: 0x70000038
FULU_FORK_EPOCH: 18446744073709551615
`;

describe("containers sized by the minimal preset (devnet)", () => {
  const devnet = networkFromConfigYaml(DEVNET, "devnet.yaml");
  const gvr = `0x${"77".repeat(32)}`;
  const info = (previous: string, current: string, epoch: string) => ({ ...forkInfo(previous, current, epoch), genesis_validators_root: gvr });

  it("reads a sync contribution with Bitvector[8] aggregation_bits and hashes it as such", () => {
    const contribution = contributionAndProof("16"); // epoch 2 with 8 slots per epoch
    contribution.contribution.aggregation_bits = "0xa5";
    const body = { type: "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", fork_info: info("0x40000038", "0x50000038", "0"), contribution_and_proof: contribution };
    const c = contribution.contribution;
    const contributionRoot = merkleize([uint64Chunk(16n), chunk(c.beacon_block_root.slice(2)), uint64Chunk(1n), chunk("a5"), bytesRoot(c.signature.slice(2))]);
    const objectRoot = merkleize([uint64Chunk(6n), contributionRoot, bytesRoot(contribution.selection_proof.slice(2))]);
    expect(rootHex(body, devnet)).toBe(signingRoot(objectRoot, "09000000", "50000038", gvr.slice(2)));

    contribution.contribution.aggregation_bits = `0x${"ff".repeat(16)}`; // mainnet's Bitvector[128]
    expect(() => parseSigningRequest(body, devnet)).toThrow(/^contribution_and_proof\.contribution\.aggregation_bits: must be 0x followed by 2 hex digits \(1 bytes\)/);
  });

  it("reads an electra aggregate with Bitvector[4] committee_bits and a Bitlist[8192]", () => {
    const aggregate = electraAggregate("80"); // epoch 10: electra
    aggregate.aggregate.committee_bits = "0x09";
    aggregate.aggregate.aggregation_bits = `0x${"ff".repeat(1024)}01`; // 8192 bits, the limit
    const body = { type: "AGGREGATE_AND_PROOF_V2", fork_info: info("0x50000038", "0x60000038", "10"), aggregate_and_proof: { version: "ELECTRA", data: aggregate } };
    expect(() => parseSigningRequest(body, devnet)).not.toThrow();

    aggregate.aggregate.committee_bits = "0x10"; // bit 4 is past Bitvector[4]
    expect(() => parseSigningRequest(body, devnet)).toThrow(/^aggregate_and_proof\.data\.aggregate\.committee_bits: is not an SSZ Bitvector\[4\]: bits past the length are set$/);
    aggregate.aggregate.committee_bits = "0x01";
    aggregate.aggregate.aggregation_bits = `0x${"ff".repeat(1024)}03`; // 8193 bits
    expect(() => parseSigningRequest(body, devnet)).toThrow(/has 8193 bits, more than the limit of 8192$/);
  });

  it("refuses sync committee messages before Altair on a network where Altair comes later", () => {
    const late = networkFromConfigYaml(DEVNET.replace(/^(ALTAIR|BELLATRIX|CAPELLA|DENEB)_FORK_EPOCH: 0$/gm, "$1_FORK_EPOCH: 5"), "late.yaml");
    const body = (slot: string) => ({ type: "SYNC_COMMITTEE_MESSAGE", fork_info: info("0x10000038", "0x20000038", "5"), sync_committee_message: { beacon_block_root: `0x${"00".repeat(32)}`, slot } });
    expect(() => parseSigningRequest(body("39"), late)).toThrow(SigningRequestError);
    expect(() => parseSigningRequest(body("40"), late)).not.toThrow();
  });
});
