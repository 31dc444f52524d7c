// Malformed requests are refused with a SigningRequestError that names the field and the problem, and
// no input at all makes parseSigningRequest throw anything else.
import { describe, expect, it } from "vitest";
import { namedNetwork, parseSigningRequest, SIGNING_TYPES, SigningRequestError, toHex } from "../src/index.ts";
import { Rng } from "./support.ts";
import { altairBlock, contributionAndProof, electraAggregate, phase0Aggregate, sampleRequests } from "./samples.ts";

const mainnet = namedNetwork("mainnet");
const samples = sampleRequests();

/** A deep copy of `body` with `edit` applied. */
function edited<T extends Record<string, unknown>>(body: T, edit: (copy: any) => void): Record<string, unknown> {
  const copy = structuredClone(body);
  edit(copy);
  return copy;
}

function refusal(body: unknown): SigningRequestError {
  try {
    parseSigningRequest(body, mainnet);
  } catch (error) {
    expect(error).toBeInstanceOf(SigningRequestError);
    return error as SigningRequestError;
  }
  throw new Error("the request was accepted");
}

describe("the valid samples", () => {
  it.each(SIGNING_TYPES)("%s is accepted", (type) => {
    expect(parseSigningRequest(samples[type], mainnet).type).toBe(type);
  });
});

const deneb = samples.ATTESTATION.fork_info;
const TABLE: [string, unknown, RegExp][] = [
  ["a body that is not an object", [1, 2], /^request body: must be a JSON object, got an array of 2 elements$/],
  ["null as the body", null, /^request body: must be a JSON object, got null$/],
  ["no type", { fork_info: deneb }, /^type: is missing$/],
  ["a numeric type", { type: 7 }, /^type: must be a signing type string \(expected one of BLOCK, BLOCK_V2, .*VALIDATOR_REGISTRATION\), got the number 7$/],
  ["an unknown type", { type: "BLOCK_V3" }, /^type: unknown signing type "BLOCK_V3"; expected one of BLOCK, BLOCK_V2, ATTESTATION/],
  ["a Web3Signer type this signer does not implement", { type: "BLOB_SIDECAR" }, /^type: unknown signing type "BLOB_SIDECAR"/],
  ["no fork_info", edited(samples.ATTESTATION, (b) => delete b.fork_info), /^fork_info: is missing$/],
  ["fork_info without fork", edited(samples.ATTESTATION, (b) => delete b.fork_info.fork), /^fork_info\.fork: is missing$/],
  [
    "a 3-byte previous_version",
    edited(samples.ATTESTATION, (b) => (b.fork_info.fork.previous_version = "0x040000")),
    /^fork_info\.fork\.previous_version: must be 0x followed by 8 hex digits \(4 bytes\), got a string of 8 characters$/,
  ],
  ["a non-hex current_version", edited(samples.ATTESTATION, (b) => (b.fork_info.fork.current_version = "0x0400000g")), /^fork_info\.fork\.current_version: must be 0x followed by 8 hex digits \(4 bytes\), got "0x0400000g"$/],
  ["a version without 0x", edited(samples.ATTESTATION, (b) => (b.fork_info.fork.current_version = "0004000000")), /^fork_info\.fork\.current_version: must be 0x/],
  ["a version with 0X", edited(samples.ATTESTATION, (b) => (b.fork_info.fork.current_version = "0X04000000")), /^fork_info\.fork\.current_version: must be 0x/],
  ["a negative fork epoch", edited(samples.ATTESTATION, (b) => (b.fork_info.fork.epoch = "-1")), /^fork_info\.fork\.epoch: must be a uint64 \(a decimal string from 0 to 18446744073709551615\), got "-1"$/],
  ["a short genesis_validators_root", edited(samples.ATTESTATION, (b) => (b.fork_info.genesis_validators_root = "0x4b36")), /^fork_info\.genesis_validators_root: must be 0x followed by 64 hex digits \(32 bytes\)/],
  ["no payload", edited(samples.ATTESTATION, (b) => delete b.attestation), /^attestation: is missing; ATTESTATION requests carry their payload in "attestation"$/],
  ["a payload that is a string", edited(samples.ATTESTATION, (b) => (b.attestation = "x")), /^attestation: must be a JSON object, got "x"$/],
  ["a missing nested field", edited(samples.ATTESTATION, (b) => delete b.attestation.target.root), /^attestation\.target\.root: is missing$/],
  ["a null nested field", edited(samples.ATTESTATION, (b) => (b.attestation.index = null)), /^attestation\.index: is missing$/],
  ["a uint64 with a plus sign", edited(samples.ATTESTATION, (b) => (b.attestation.slot = "+1")), /^attestation\.slot: must be a uint64/],
  ["a uint64 with whitespace", edited(samples.ATTESTATION, (b) => (b.attestation.slot = " 1")), /^attestation\.slot: must be a uint64/],
  ["an empty uint64", edited(samples.ATTESTATION, (b) => (b.attestation.slot = "")), /^attestation\.slot: must be a uint64.*got ""$/],
  ["a uint64 above 2^64 − 1", edited(samples.ATTESTATION, (b) => (b.attestation.slot = "18446744073709551616")), /^attestation\.slot: must be a uint64/],
  ["a fractional number", edited(samples.ATTESTATION, (b) => (b.attestation.slot = 1.5)), /^attestation\.slot: must be a uint64.*got the number 1\.5$/],
  ["an unsafe integer number", edited(samples.ATTESTATION, (b) => (b.attestation.slot = 2 ** 53)), /^attestation\.slot: must be a uint64.*got the number 9007199254740992$/],
  ["a hex uint64", edited(samples.ATTESTATION, (b) => (b.attestation.slot = "0x10")), /^attestation\.slot: must be a uint64/],
  ["a 31-byte root", edited(samples.ATTESTATION, (b) => (b.attestation.beacon_block_root = `0x${"ab".repeat(31)}`)), /^attestation\.beacon_block_root: must be 0x followed by 64 hex digits \(32 bytes\), got a string of 64 characters$/],
  [
    "an overlong hex string, not echoed back",
    edited(samples.ATTESTATION, (b) => (b.attestation.beacon_block_root = `0x${"ab".repeat(500_000)}`)),
    /^attestation\.beacon_block_root: must be 0x followed by 64 hex digits \(32 bytes\), got a string of 1000002 characters$/,
  ],
  ["a BLOCK_V2 without version", edited(samples.BLOCK_V2, (b) => delete b.beacon_block.version), /^beacon_block\.version: is missing$/],
  ["an unknown fork version", edited(samples.BLOCK_V2, (b) => (b.beacon_block.version = "BELLATRIX2")), /^beacon_block\.version: unknown fork "BELLATRIX2"; expected one of PHASE0, ALTAIR, BELLATRIX, CAPELLA, DENEB, ELECTRA, FULU$/],
  ["a future fork version", edited(samples.BLOCK_V2, (b) => (b.beacon_block.version = "gloas")), /^beacon_block\.version: fork GLOAS is not supported by this signer/],
  ["a non-string version", edited(samples.BLOCK_V2, (b) => (b.beacon_block.version = 4)), /^beacon_block\.version: must be a fork name/],
  ["a DENEB block without block_header", edited(samples.BLOCK_V2, (b) => (b.beacon_block = { version: "DENEB", block: {} })), /^beacon_block\.block_header: is missing$/],
  ["an ALTAIR block without block", { type: "BLOCK_V2", fork_info: deneb, beacon_block: { version: "ALTAIR", block_header: {} } }, /^beacon_block\.block: is missing$/],
  [
    "a PHASE0 version for an altair block",
    { type: "BLOCK_V2", fork_info: deneb, beacon_block: { version: "PHASE0", block: altairBlock() } },
    /^beacon_block\.block\.slot: slot 2400000 is in the altair fork of mainnet, but beacon_block\.version is PHASE0$/,
  ],
  [
    "a full block for a bellatrix slot",
    { type: "BLOCK_V2", fork_info: deneb, beacon_block: { version: "ALTAIR", block: altairBlock("5000000") } },
    /^beacon_block\.block\.slot: slot 5000000 is in the bellatrix fork of mainnet, but beacon_block\.version is ALTAIR$/,
  ],
  ["a BLOCK (v1) at an altair slot", { type: "BLOCK", fork_info: deneb, block: altairBlock() }, /^block\.slot: slot 2400000 is in the altair fork of mainnet, but BLOCK signs phase0 blocks only; use BLOCK_V2$/],
  ["an altair block without sync_aggregate", edited({ type: "BLOCK_V2", fork_info: deneb, beacon_block: { version: "ALTAIR", block: altairBlock() } }, (b) => delete b.beacon_block.block.body.sync_aggregate), /^beacon_block\.block\.body\.sync_aggregate: is missing$/],
  [
    "a deposit proof of 32 hashes",
    edited(samples.BLOCK, (b) => b.block.body.deposits[0].proof.pop()),
    /^block\.body\.deposits\[0\]\.proof: must have exactly 33 elements, got 32$/,
  ],
  [
    "too many attesting indices",
    edited(samples.BLOCK, (b) => (b.block.body.attester_slashings[0].attestation_1.attesting_indices = Array.from({ length: 2049 }, (_, i) => String(i)))),
    /^block\.body\.attester_slashings\[0\]\.attestation_1\.attesting_indices: must have at most 2048 elements, got 2049$/,
  ],
  ["too many attestations", edited(samples.BLOCK, (b) => (b.block.body.attestations = Array.from({ length: 129 }, () => ({})))), /^block\.body\.attestations: must have at most 128 elements, got 129$/],
  ["a list that is an object", edited(samples.BLOCK, (b) => (b.block.body.voluntary_exits = {})), /^block\.body\.voluntary_exits: must be an array of at most 16 elements, got an object$/],
  [
    "an aggregation_bits one bit over the phase0 limit",
    { type: "AGGREGATE_AND_PROOF", fork_info: deneb, aggregate_and_proof: edited(phase0Aggregate(), (a) => (a.aggregate.aggregation_bits = `0x${"ff".repeat(256)}03`)) },
    /^aggregate_and_proof\.aggregate\.aggregation_bits: has 2049 bits, more than the limit of 2048$/,
  ],
  [
    "an aggregation_bits string far over the limit",
    { type: "AGGREGATE_AND_PROOF", fork_info: deneb, aggregate_and_proof: edited(phase0Aggregate(), (a) => (a.aggregate.aggregation_bits = `0x${"ff".repeat(100_000)}`)) },
    /^aggregate_and_proof\.aggregate\.aggregation_bits: an SSZ Bitlist\[2048\] is too long: 100000 bytes, at most 257 allowed$/,
  ],
  [
    "an aggregation_bits without its delimiting bit",
    { type: "AGGREGATE_AND_PROOF", fork_info: deneb, aggregate_and_proof: edited(phase0Aggregate(), (a) => (a.aggregate.aggregation_bits = "0x0300")) },
    /^aggregate_and_proof\.aggregate\.aggregation_bits: is not an SSZ Bitlist\[2048\]: the last byte must contain the delimiting 1-bit$/,
  ],
  [
    "an empty bitlist",
    { type: "AGGREGATE_AND_PROOF", fork_info: deneb, aggregate_and_proof: edited(phase0Aggregate(), (a) => (a.aggregate.aggregation_bits = "0x")) },
    /^aggregate_and_proof\.aggregate\.aggregation_bits: is not an SSZ Bitlist\[2048\]/,
  ],
  [
    "an odd-length bitlist",
    { type: "AGGREGATE_AND_PROOF", fork_info: deneb, aggregate_and_proof: edited(phase0Aggregate(), (a) => (a.aggregate.aggregation_bits = "0x301")) },
    /^aggregate_and_proof\.aggregate\.aggregation_bits: must be an SSZ Bitlist\[2048\] as 0x-prefixed hex with an even number of digits, got "0x301"$/,
  ],
  [
    "an electra aggregate without committee_bits (flat AGGREGATE_AND_PROOF at an electra slot)",
    { type: "AGGREGATE_AND_PROOF", fork_info: samples.AGGREGATE_AND_PROOF_V2.fork_info, aggregate_and_proof: edited(electraAggregate(), (a) => delete a.aggregate.committee_bits) },
    /^aggregate_and_proof\.aggregate\.committee_bits: is missing$/,
  ],
  [
    "committee_bits of the wrong length",
    { type: "AGGREGATE_AND_PROOF_V2", fork_info: deneb, aggregate_and_proof: { version: "ELECTRA", data: edited(electraAggregate(), (a) => (a.aggregate.committee_bits = "0x01")) } },
    /^aggregate_and_proof\.data\.aggregate\.committee_bits: must be 0x followed by 16 hex digits \(8 bytes\), got a string of 4 characters$/,
  ],
  ["an unknown V2 version", edited(samples.AGGREGATE_AND_PROOF_V2, (b) => (b.aggregate_and_proof.version = "FUTURE")), /^aggregate_and_proof\.version: unknown fork "FUTURE"/],
  [
    "a sync contribution with 17 bytes of aggregation_bits",
    { type: "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", fork_info: deneb, contribution_and_proof: edited(contributionAndProof(), (c) => (c.contribution.aggregation_bits = `0x${"ff".repeat(17)}`)) },
    /^contribution_and_proof\.contribution\.aggregation_bits: must be 0x followed by 32 hex digits \(16 bytes\)/,
  ],
  [
    "a sync committee message at a phase0 slot",
    edited(samples.SYNC_COMMITTEE_MESSAGE, (b) => (b.sync_committee_message.slot = "100")),
    /^sync_committee_message\.slot: slot 100 is in phase0 on mainnet; sync committee messages exist from altair on$/,
  ],
  [
    "a sync contribution at a phase0 slot",
    { type: "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF", fork_info: deneb, contribution_and_proof: contributionAndProof("31") },
    /^contribution_and_proof\.contribution\.slot: slot 31 is in phase0 on mainnet/,
  ],
  ["a deposit without genesis_fork_version", edited(samples.DEPOSIT, (b) => delete b.deposit.genesis_fork_version), /^deposit\.genesis_fork_version: is missing$/],
  ["a deposit amount above 2^64 − 1", edited(samples.DEPOSIT, (b) => (b.deposit.amount = "99999999999999999999")), /^deposit\.amount: must be a uint64/],
  ["a registration with a 19-byte fee recipient", edited(samples.VALIDATOR_REGISTRATION, (b) => (b.validator_registration.fee_recipient = `0x${"ee".repeat(19)}`)), /^validator_registration\.fee_recipient: must be 0x followed by 40 hex digits \(20 bytes\)/],
  ["a randao_reveal without epoch", edited(samples.RANDAO_REVEAL, (b) => (b.randao_reveal = {})), /^randao_reveal\.epoch: is missing$/],
  ["a malformed signing root", { ...samples.RANDAO_REVEAL, signingRoot: "0x1234" }, /^signingRoot: must be 0x followed by 64 hex digits \(32 bytes\), got a string of 6 characters$/],
  ["a non-string signing root", { ...samples.RANDAO_REVEAL, signing_root: 5 }, /^signing_root: must be 0x followed by 64 hex digits \(32 bytes\), got the number 5$/],
];

describe("malformed requests", () => {
  it.each(TABLE)("%s", (_, body, message) => {
    const error = refusal(body);
    expect(error.message).toMatch(message);
    expect(error.message.length).toBeLessThan(400);
  });

  describe.each(["signingRoot", "signing_root"])("a signing root in %s that does not match", (name) => {
    it("is refused, naming both roots", () => {
      const computed = toHex(parseSigningRequest(samples.ATTESTATION, mainnet).signingRoot);
      const sent = `0x${"00".repeat(31)}01`;
      const error = refusal({ ...samples.ATTESTATION, [name]: sent });
      expect(error.message).toBe(`${name}: the sent signing root ${sent} does not match the signing root computed from the request, ${computed}`);
    });

    it("is refused even when the other spelling matches", () => {
      const computed = toHex(parseSigningRequest(samples.ATTESTATION, mainnet).signingRoot);
      const other = name === "signingRoot" ? "signing_root" : "signingRoot";
      expect(refusal({ ...samples.ATTESTATION, [other]: computed, [name]: `0x${"ff".repeat(32)}` }).message).toMatch(new RegExp(`^${name}: the sent signing root`));
    });

    it("is accepted when it matches, in either case of hex", () => {
      const computed = toHex(parseSigningRequest(samples.ATTESTATION, mainnet).signingRoot);
      expect(toHex(parseSigningRequest({ ...samples.ATTESTATION, [name]: `0x${computed.slice(2).toUpperCase()}` }, mainnet).signingRoot)).toBe(computed);
    });
  });
});

describe("leniencies Web3Signer has as well", () => {
  it("reads the type case-insensitively", () => {
    expect(parseSigningRequest({ ...samples.RANDAO_REVEAL, type: "randao_Reveal" }, mainnet).type).toBe("RANDAO_REVEAL");
  });

  it("ignores unknown fields at every level", () => {
    const plain = parseSigningRequest(samples.BLOCK, mainnet);
    const extra = edited(samples.BLOCK, (b) => {
      b.extra = { deeply: [1, 2, 3] };
      b.fork_info.note = "x";
      b.block.body.attestations[0].committee_bits = "0x01";
      b.block.body.future_field = [];
    });
    expect(toHex(parseSigningRequest(extra, mainnet).signingRoot)).toBe(toHex(plain.signingRoot));
  });

  it("accepts uint64 values as safe-integer JSON numbers and hex in either case", () => {
    const plain = parseSigningRequest(samples.ATTESTATION, mainnet);
    const variant = edited(samples.ATTESTATION, (b) => {
      b.attestation.slot = Number(b.attestation.slot);
      b.attestation.beacon_block_root = b.attestation.beacon_block_root.toUpperCase().replace("0X", "0x");
    });
    expect(toHex(parseSigningRequest(variant, mainnet).signingRoot)).toBe(toHex(plain.signingRoot));
  });

  it("ignores fork_info on DEPOSIT and VALIDATOR_REGISTRATION and reports no genesis validators root", () => {
    for (const type of ["DEPOSIT", "VALIDATOR_REGISTRATION"] as const) {
      const plain = parseSigningRequest(samples[type], mainnet);
      const withForkInfo = parseSigningRequest({ ...samples[type], fork_info: "not even an object" }, mainnet);
      expect(toHex(withForkInfo.signingRoot)).toBe(toHex(plain.signingRoot));
      expect(withForkInfo.genesisValidatorsRoot).toBeUndefined();
    }
  });

  it("accepts bitlists up to exactly their limit", () => {
    for (const [bits, limit] of [[`0x${"ff".repeat(256)}01`, 2048], ["0x01", 0]] as const) {
      const body = { type: "AGGREGATE_AND_PROOF", fork_info: samples.AGGREGATE_AND_PROOF.fork_info, aggregate_and_proof: edited(phase0Aggregate(), (a) => (a.aggregate.aggregation_bits = bits)) };
      expect(() => parseSigningRequest(body, mainnet), `${limit} bits`).not.toThrow();
    }
  });

  it("treats a null signing root as absent", () => {
    expect(() => parseSigningRequest({ ...samples.RANDAO_REVEAL, signingRoot: null, signing_root: null }, mainnet)).not.toThrow();
  });
});

/** Random JSON values, including the shapes that break careless parsers. */
function randomJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 3 ? 9 : 13)) {
    case 0:
      return null;
    case 1:
      return rng.bool();
    case 2:
      return rng.pick([0, -1, 1.5, 2 ** 53, 2 ** 64, -0, Number.MAX_VALUE, 1e-300, 31, 1e21]);
    case 3:
      return String(rng.pick([0n, 1n, 2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 64n, -1n, 10n ** 30n]));
    case 4:
      return `0x${"ab".repeat(rng.pick([0, 1, 3, 4, 8, 16, 20, 32, 48, 96, 257, 100_000]))}`;
    case 5:
      return rng.pick(["", " ", "0x", "0x0", "0xzz", "PHASE0", "electra", "GLOAS", "BLOCK_V2", "constructor", "__proto__", "💥", "\u0000"]);
    case 6:
      return "x".repeat(rng.int(0, 3) === 0 ? 1_000_000 : rng.int(0, 50));
    case 7:
      return rng.pick([{}, [], [[]], { "": null }]);
    case 8: {
      let nested: unknown = rng.bool() ? [] : {};
      for (let i = 0; i < 2000; i++) nested = rng.bool() ? [nested] : { slot: nested, block: nested };
      return nested;
    }
    case 9:
      return Array.from({ length: rng.pick([129, 2049, 20_000]) }, () => "1");
    default: {
      const object: Record<string, unknown> = {};
      const keys = ["type", "fork_info", "fork", "epoch", "slot", "data", "version", "block", "block_header", "aggregate", "signingRoot", "__proto__", "constructor"];
      for (let i = rng.int(0, 4); i > 0; i--) object[rng.pick(keys)] = randomJson(rng, depth + 1);
      return object;
    }
  }
}

/** `body` with one randomly chosen value somewhere inside it replaced, removed, or given an extra key. */
function garble(body: unknown, rng: Rng): unknown {
  if (typeof body !== "object" || body === null) return randomJson(rng);
  const copy: any = Array.isArray(body) ? [...body] : { ...body };
  const keys = Object.keys(copy);
  if (keys.length === 0 || rng.int(0, 5) === 0) {
    copy[rng.pick(["type", "slot", "version", "data", "extra"])] = randomJson(rng);
    return copy;
  }
  const key = rng.pick(keys);
  switch (rng.int(0, 3)) {
    case 0:
      delete copy[key];
      break;
    case 1:
      copy[key] = randomJson(rng);
      break;
    default:
      copy[key] = garble(copy[key], rng);
  }
  return copy;
}

describe("property: any input yields a request or a SigningRequestError", () => {
  it("holds for 5,000 seeded random and garbled bodies", () => {
    const rng = new Rng(20240607);
    const valid = Object.values(samples);
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      let body: unknown = i % 10 === 0 ? randomJson(rng) : rng.pick(valid);
      for (let edits = rng.int(i % 10 === 0 ? 0 : 1, 3); edits > 0; edits--) body = garble(body, rng);
      if (rng.int(0, 4) === 0 && typeof body === "object" && body !== null && !Array.isArray(body)) {
        (body as Record<string, unknown>).type = rng.pick([...SIGNING_TYPES, "block_v2", "nope"]);
      }
      try {
        const request = parseSigningRequest(body, mainnet);
        expect(request.signingRoot.length).toBe(32);
        accepted++;
      } catch (error) {
        if (!(error instanceof SigningRequestError)) throw new Error(`input ${i} threw ${String(error)}`);
        expect(error.message).toMatch(/^[a-z_A-Z][\w.[\]]*( body)?: \S/);
        expect(error.message.length).toBeLessThan(400);
      }
    }
    // Some garblings touch only ignored fields; most break the request.
    expect(accepted).toBeGreaterThan(50);
    expect(accepted).toBeLessThan(4000);
  });
});
