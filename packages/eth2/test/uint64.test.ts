// uint64 fields keep every bit up to 2^64 − 1, and roots over such values match a hand-rolled SSZ
// hash (sha256 from node:crypto, no SSZ library).
import { describe, expect, it } from "vitest";
import { namedNetwork, parseSigningRequest, SigningRequestError, toHex, UINT64_MAX } from "../src/index.ts";
import { forkInfo, MAINNET_GVR } from "./samples.ts";
import { chunk, merkleize, signingRoot, uint64Chunk } from "./ssz-by-hand.ts";

const mainnet = namedNetwork("mainnet");
const FULU = forkInfo("0x05000000", "0x06000000", "411392");
const DOMAIN_BEACON_PROPOSER = "00000000";
const DOMAIN_BEACON_ATTESTER = "01000000";
const DOMAIN_RANDAO = "02000000";

describe.each([2n ** 64n - 1n, 2n ** 53n + 1n, 2n ** 63n])("slot %s", (slot) => {
  it("is kept exactly in slashing.slot and hashed exactly in a BLOCK_V2 header", () => {
    const header = { slot: slot.toString(), proposer_index: (slot - 1n).toString(), parent_root: `0x${"01".repeat(32)}`, state_root: `0x${"02".repeat(32)}`, body_root: `0x${"03".repeat(32)}` };
    const request = parseSigningRequest({ type: "BLOCK_V2", fork_info: FULU, beacon_block: { version: "FULU", block_header: header } }, mainnet);
    expect(request.slashing).toEqual({ kind: "block", slot });

    const headerRoot = merkleize([uint64Chunk(slot), uint64Chunk(slot - 1n), chunk("01".repeat(32)), chunk("02".repeat(32)), chunk("03".repeat(32))]);
    // The block's epoch is far beyond fork_info.fork.epoch, so the current (fulu) version applies.
    expect(toHex(request.signingRoot)).toBe(signingRoot(headerRoot, DOMAIN_BEACON_PROPOSER, "06000000", MAINNET_GVR.slice(2)));
  });
});

describe("epochs above 2^53", () => {
  it("are kept exactly in attestation slashing data and roots", () => {
    const source = 2n ** 53n + 1n;
    const target = UINT64_MAX;
    const data = {
      slot: "0",
      index: "18446744073709551614",
      beacon_block_root: `0x${"aa".repeat(32)}`,
      source: { epoch: source.toString(), root: `0x${"bb".repeat(32)}` },
      target: { epoch: target.toString(), root: `0x${"cc".repeat(32)}` },
    };
    const request = parseSigningRequest({ type: "ATTESTATION", fork_info: FULU, attestation: data }, mainnet);
    expect(request.slashing).toEqual({ kind: "attestation", sourceEpoch: source, targetEpoch: target });

    const checkpoint = (epoch: bigint, root: string) => merkleize([uint64Chunk(epoch), chunk(root)]);
    const dataRoot = merkleize([uint64Chunk(0n), uint64Chunk(UINT64_MAX - 1n), chunk("aa".repeat(32)), checkpoint(source, "bb".repeat(32)), checkpoint(target, "cc".repeat(32))]);
    expect(toHex(request.signingRoot)).toBe(signingRoot(dataRoot, DOMAIN_BEACON_ATTESTER, "06000000", MAINNET_GVR.slice(2)));
  });

  it("select the previous version when below a fork epoch above 2^53", () => {
    const forkEpoch = 2n ** 60n;
    const body = (epoch: bigint) => ({ type: "RANDAO_REVEAL", fork_info: forkInfo("0x05000000", "0x06000000", forkEpoch.toString()), randao_reveal: { epoch: epoch.toString() } });
    expect(toHex(parseSigningRequest(body(forkEpoch - 1n), mainnet).signingRoot)).toBe(signingRoot(uint64Chunk(forkEpoch - 1n), DOMAIN_RANDAO, "05000000", MAINNET_GVR.slice(2)));
    expect(toHex(parseSigningRequest(body(forkEpoch), mainnet).signingRoot)).toBe(signingRoot(uint64Chunk(forkEpoch), DOMAIN_RANDAO, "06000000", MAINNET_GVR.slice(2)));
  });
});

describe("uint64 parsing", () => {
  const randao = (epoch: unknown) => ({ type: "RANDAO_REVEAL", fork_info: FULU, randao_reveal: { epoch } });
  const rootOf = (epoch: unknown) => toHex(parseSigningRequest(randao(epoch), mainnet).signingRoot);

  it.each([
    ["0", 0n],
    ["1", 1n],
    ["9007199254740993", 2n ** 53n + 1n],
    ["18446744073709551615", UINT64_MAX],
    ["00000000000000000042", 42n],
    [9007199254740991, 2n ** 53n - 1n],
    [0, 0n],
  ] as const)("accepts %j as %s", (value, expected) => {
    const version = expected < 411392n ? "05000000" : "06000000";
    expect(rootOf(value)).toBe(signingRoot(uint64Chunk(expected), DOMAIN_RANDAO, version, MAINNET_GVR.slice(2)));
  });

  it.each([
    "18446744073709551616",
    "99999999999999999999",
    "000000000000000000001",
    "-1",
    "+1",
    " 1",
    "1 ",
    "",
    "1e3",
    "0x1",
    "1.0",
    "١",
    9007199254740992,
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    true,
    null,
    [],
    {},
  ])("rejects %j", (value) => {
    expect(() => rootOf(value)).toThrow(SigningRequestError);
  });
});
