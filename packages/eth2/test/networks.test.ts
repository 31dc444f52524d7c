// Named networks (fork schedules from @lodestar/config, well-known genesis validators roots) and
// networks read from a consensus-specs config.yaml.
import { networksChainConfig } from "@lodestar/config/networks";
import { describe, expect, it } from "vitest";
import { FAR_FUTURE_EPOCH, FORK_NAMES, forkAtEpoch, NETWORK_NAMES, NetworkConfigError, namedNetwork, networkFromConfigYaml, toHex } from "../src/index.ts";

/** Genesis validators roots as published by each network (eth-clients/*, gnosischain/configs). */
const GVRS = {
  mainnet: "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95",
  sepolia: "0xd8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078",
  hoodi: "0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f",
  gnosis: "0xf5dcb5564e829aab27264b9becd5dfaa017085611224cb3036f573368dbb9d47",
} as const;

describe.each(NETWORK_NAMES)("named network %s", (name) => {
  const network = namedNetwork(name);
  const lodestar = networksChainConfig[name];

  it("has its genesis validators root, preset and epoch length", () => {
    expect(network.name).toBe(name);
    expect(network.genesisValidatorsRoot && toHex(network.genesisValidatorsRoot)).toBe(GVRS[name]);
    expect(network.presetBase).toBe(name === "gnosis" ? "gnosis" : "mainnet");
    expect(network.slotsPerEpoch).toBe(name === "gnosis" ? 16n : 32n);
  });

  it("has lodestar's fork schedule, phase0 … fulu", () => {
    expect(network.forks.map((f) => f.name)).toEqual([...FORK_NAMES]);
    expect(toHex(network.genesisForkVersion)).toBe(toHex(lodestar.GENESIS_FORK_VERSION));
    for (const fork of network.forks.slice(1)) {
      const key = fork.name.toUpperCase() as "ALTAIR";
      expect(toHex(fork.version)).toBe(toHex(lodestar[`${key}_FORK_VERSION`]));
      const epoch = lodestar[`${key}_FORK_EPOCH`];
      expect(fork.epoch).toBe(Number.isFinite(epoch) ? BigInt(epoch) : FAR_FUTURE_EPOCH);
    }
  });

  it("is the same object on every call", () => {
    expect(namedNetwork(name)).toBe(network);
  });
});

describe("namedNetwork", () => {
  it("resolves forks sharing an epoch to the latest (hoodi starts at deneb)", () => {
    const hoodi = namedNetwork("hoodi");
    expect(forkAtEpoch(hoodi, 0n).name).toBe("deneb");
    expect(forkAtEpoch(hoodi, 2047n).name).toBe("deneb");
    expect(forkAtEpoch(hoodi, 2048n).name).toBe("electra");
  });

  it.each(["holesky", "Mainnet", "", "x".repeat(10_000)])("refuses %j, listing the valid names", (name) => {
    expect(() => namedNetwork(name)).toThrow(NetworkConfigError);
    expect(() => namedNetwork(name)).toThrow(/^unknown network ".{0,62}"; expected one of mainnet, sepolia, hoodi, gnosis$/);
  });
});

/** A devnet config in the form ethpandaops and kurtosis produce (abridged; unknown keys are ignored). */
const DEVNET = `
# Extends the minimal preset
PRESET_BASE: 'minimal'
CONFIG_NAME: 'my-devnet'
MIN_GENESIS_TIME: 1700000000
GENESIS_FORK_VERSION: 0x10000038
GENESIS_DELAY: 60
ALTAIR_FORK_VERSION: 0x20000038
ALTAIR_FORK_EPOCH: 0
BELLATRIX_FORK_VERSION: 0x30000038
BELLATRIX_FORK_EPOCH: 0
CAPELLA_FORK_VERSION: 0x40000038
CAPELLA_FORK_EPOCH: 1
DENEB_FORK_VERSION: 0x50000038
DENEB_FORK_EPOCH: 2
ELECTRA_FORK_VERSION: 0x60000038
ELECTRA_FORK_EPOCH: 10
FULU_FORK_VERSION: 0x70000038
FULU_FORK_EPOCH: 18446744073709551615
GLOAS_FORK_VERSION: 0x80000038
GLOAS_FORK_EPOCH: 18446744073709551615
TERMINAL_TOTAL_DIFFICULTY: 0
DEPOSIT_CONTRACT_ADDRESS: 0x4242424242424242424242424242424242424242
BLOB_SCHEDULE:
  - EPOCH: 10
    MAX_BLOBS_PER_BLOCK: 12
`;

describe("networkFromConfigYaml", () => {
  it("reads a minimal-preset devnet config", () => {
    const network = networkFromConfigYaml(DEVNET, "devnet/config.yaml");
    expect(network.name).toBe("my-devnet");
    expect(network.presetBase).toBe("minimal");
    expect(network.slotsPerEpoch).toBe(8n);
    expect(network.genesisValidatorsRoot).toBeUndefined();
    expect(network.forks.map((f) => [f.name, toHex(f.version), f.epoch])).toEqual([
      ["phase0", "0x10000038", 0n],
      ["altair", "0x20000038", 0n],
      ["bellatrix", "0x30000038", 0n],
      ["capella", "0x40000038", 1n],
      ["deneb", "0x50000038", 2n],
      ["electra", "0x60000038", 10n],
      ["fulu", "0x70000038", 18446744073709551615n],
    ]);
  });

  it("keeps FAR_FUTURE_EPOCH exactly", () => {
    const network = networkFromConfigYaml(DEVNET, "devnet.yaml");
    expect(network.forks.at(-1)?.epoch).toBe(FAR_FUTURE_EPOCH);
    expect(forkAtEpoch(network, FAR_FUTURE_EPOCH - 1n).name).toBe("electra");
    expect(forkAtEpoch(network, FAR_FUTURE_EPOCH).name).toBe("fulu");
  });

  it("takes its name from the source when CONFIG_NAME is absent, and reads quoted values", () => {
    const yaml = DEVNET.replace("CONFIG_NAME: 'my-devnet'\n", "").replace("GENESIS_FORK_VERSION: 0x10000038", 'GENESIS_FORK_VERSION: "0x10000038"');
    const network = networkFromConfigYaml(yaml, "devnet.yaml");
    expect(network.name).toBe("devnet.yaml");
    expect(toHex(network.genesisForkVersion)).toBe("0x10000038");
  });

  const without = (key: string) => DEVNET.split("\n").filter((line) => !line.startsWith(`${key}:`)).join("\n");
  const replaced = (key: string, value: string) => DEVNET.replace(new RegExp(`^${key}: .*$`, "m"), `${key}: ${value}`);

  it.each([
    ["PRESET_BASE missing", without("PRESET_BASE"), /^devnet\.yaml: PRESET_BASE is missing$/],
    ["an unknown PRESET_BASE", replaced("PRESET_BASE", "holesky"), /^devnet\.yaml: PRESET_BASE must be one of mainnet, minimal, gnosis, got "holesky"$/],
    ["GENESIS_FORK_VERSION missing", without("GENESIS_FORK_VERSION"), /^devnet\.yaml: GENESIS_FORK_VERSION is missing$/],
    ["a 3-byte GENESIS_FORK_VERSION", replaced("GENESIS_FORK_VERSION", "0x100000"), /^devnet\.yaml: GENESIS_FORK_VERSION must be a 4-byte fork version written as 0x followed by 8 hex digits, got "0x100000"$/],
    ["a decimal fork version", replaced("ALTAIR_FORK_VERSION", "12345678"), /^devnet\.yaml: ALTAIR_FORK_VERSION must be a 4-byte fork version/],
    ["DENEB_FORK_EPOCH missing", without("DENEB_FORK_EPOCH"), /^devnet\.yaml: DENEB_FORK_EPOCH is missing$/],
    ["FULU_FORK_VERSION missing", without("FULU_FORK_VERSION"), /^devnet\.yaml: FULU_FORK_VERSION is missing$/],
    ["an epoch above 2^64 − 1", replaced("FULU_FORK_EPOCH", "18446744073709551616"), /^devnet\.yaml: FULU_FORK_EPOCH must be an epoch: a decimal integer from 0 to 18446744073709551615, got "18446744073709551616"$/],
    ["a negative epoch", replaced("CAPELLA_FORK_EPOCH", "-1"), /^devnet\.yaml: CAPELLA_FORK_EPOCH must be an epoch/],
    ["an epoch that is a list", replaced("ELECTRA_FORK_EPOCH", "[1, 2]"), /^devnet\.yaml: ELECTRA_FORK_EPOCH must be a scalar value$/],
    ["an empty epoch", replaced("ELECTRA_FORK_EPOCH", ""), /^devnet\.yaml: ELECTRA_FORK_EPOCH is missing$/],
    ["forks out of order", replaced("DENEB_FORK_EPOCH", "0"), /^devnet\.yaml: DENEB_FORK_EPOCH \(0\) is before CAPELLA_FORK_EPOCH \(1\); forks must be scheduled in order$/],
    ["invalid YAML", "PRESET_BASE: [unclosed", /^devnet\.yaml: not valid YAML: /],
    ["duplicate keys", `${DEVNET}\nPRESET_BASE: mainnet\n`, /^devnet\.yaml: not valid YAML: Map keys must be unique at line \d+, column 1:$/],
    ["a YAML list instead of a mapping", "- PRESET_BASE: minimal", /^devnet\.yaml: expected a YAML mapping of config keys/],
    ["an empty file", "", /^devnet\.yaml: expected a YAML mapping of config keys/],
  ])("refuses %s, naming the key", (_, yaml, message) => {
    expect(() => networkFromConfigYaml(yaml, "devnet.yaml")).toThrow(NetworkConfigError);
    expect(() => networkFromConfigYaml(yaml, "devnet.yaml")).toThrow(message);
  });
});
