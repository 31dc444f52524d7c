// The networks a signer can be configured for: the named public ones (from @lodestar/config) and any
// devnet described by a consensus-specs config.yaml. A Network carries only what signing needs: the
// preset (epoch length, SSZ sizes), the fork schedule and, when known, the genesis validators root.
import type { ChainConfig } from "@lodestar/config";
import { genesisData, networksChainConfig } from "@lodestar/config/networks";
import { parse as parseYaml } from "yaml";
import { FORK_NAMES, type ForkName } from "./forks.ts";
import { decodeHex } from "./hex.ts";
import { isPresetBase, PRESET_BASES, PRESETS, type PresetBase } from "./presets.ts";
import { parseUint64, UINT64_MAX } from "./uint.ts";

export class NetworkConfigError extends Error {
  override readonly name = "NetworkConfigError";
}

export interface Fork {
  readonly name: ForkName;
  /** 4-byte fork version. */
  readonly version: Uint8Array;
  /** First epoch of the fork; FAR_FUTURE_EPOCH (2^64 − 1) when it is not scheduled. */
  readonly epoch: bigint;
}

export interface Network {
  readonly name: string;
  readonly presetBase: PresetBase;
  /** SLOTS_PER_EPOCH of the preset (mainnet 32, gnosis 16, minimal 8). */
  readonly slotsPerEpoch: bigint;
  readonly genesisForkVersion: Uint8Array;
  /** One entry per supported fork, phase0 … fulu in order; phase0 is the genesis version at epoch 0. */
  readonly forks: readonly Fork[];
  /** Known for the named networks; undefined for a config file, which does not contain it. */
  readonly genesisValidatorsRoot: Uint8Array | undefined;
}

export const FAR_FUTURE_EPOCH = UINT64_MAX;

export const NETWORK_NAMES = ["mainnet", "sepolia", "hoodi", "gnosis"] as const;
export type NetworkName = (typeof NETWORK_NAMES)[number];

/** The fork in effect at `epoch`: the last one whose first epoch is ≤ epoch (forks sharing an epoch resolve to the latest). */
export function forkAtEpoch(network: Network, epoch: bigint): Fork {
  let current = network.forks[0] as Fork;
  for (const fork of network.forks) {
    if (fork.epoch <= epoch) current = fork;
  }
  return current;
}

export function epochAtSlot(network: Network, slot: bigint): bigint {
  return slot / network.slotsPerEpoch;
}

export function forkNamed(network: Network, name: ForkName): Fork {
  return network.forks.find((f) => f.name === name) as Fork;
}

const namedNetworks = new Map<NetworkName, Network>();

/** One of NETWORK_NAMES; throws NetworkConfigError (listing the valid names) for anything else. */
export function namedNetwork(name: string): Network {
  const known = NETWORK_NAMES.find((n) => n === name);
  if (known === undefined) {
    throw new NetworkConfigError(`unknown network ${JSON.stringify(name.slice(0, 60))}; expected one of ${NETWORK_NAMES.join(", ")}`);
  }
  let network = namedNetworks.get(known);
  if (network === undefined) {
    network = fromLodestarConfig(known, networksChainConfig[known], genesisData[known].genesisValidatorsRoot);
    namedNetworks.set(known, network);
  }
  return network;
}

/** Lodestar writes unscheduled epochs as Infinity; the wire format (and this package) uses FAR_FUTURE_EPOCH. */
function lodestarEpoch(epoch: number): bigint {
  return Number.isFinite(epoch) ? BigInt(epoch) : FAR_FUTURE_EPOCH;
}

function fromLodestarConfig(name: NetworkName, config: ChainConfig, gvrHex: string): Network {
  const forkFields: Record<Exclude<ForkName, "phase0">, readonly [Uint8Array, number]> = {
    altair: [config.ALTAIR_FORK_VERSION, config.ALTAIR_FORK_EPOCH],
    bellatrix: [config.BELLATRIX_FORK_VERSION, config.BELLATRIX_FORK_EPOCH],
    capella: [config.CAPELLA_FORK_VERSION, config.CAPELLA_FORK_EPOCH],
    deneb: [config.DENEB_FORK_VERSION, config.DENEB_FORK_EPOCH],
    electra: [config.ELECTRA_FORK_VERSION, config.ELECTRA_FORK_EPOCH],
    fulu: [config.FULU_FORK_VERSION, config.FULU_FORK_EPOCH],
  };
  const forks = FORK_NAMES.map((fork): Fork => {
    if (fork === "phase0") return { name: fork, version: config.GENESIS_FORK_VERSION, epoch: 0n };
    const [version, epoch] = forkFields[fork];
    return { name: fork, version, epoch: lodestarEpoch(epoch) };
  });
  return makeNetwork(name, config.PRESET_BASE, forks, decodeHex(gvrHex));
}

function makeNetwork(name: string, presetBase: PresetBase, forks: Fork[], genesisValidatorsRoot: Uint8Array | undefined): Network {
  const phase0 = forks[0] as Fork;
  return Object.freeze({
    name,
    presetBase,
    slotsPerEpoch: BigInt(PRESETS[presetBase].SLOTS_PER_EPOCH),
    genesisForkVersion: phase0.version,
    forks: Object.freeze(forks.map((f) => Object.freeze(f))),
    genesisValidatorsRoot,
  });
}

/**
 * Builds a Network from a consensus-specs config.yaml (for example a devnet's). Scalars are read as
 * strings (YAML failsafe schema) so that 0x-versions stay hex and FAR_FUTURE_EPOCH = 18446744073709551615
 * keeps every digit. Throws NetworkConfigError naming the first missing or invalid key.
 */
export function networkFromConfigYaml(yamlText: string, sourceName: string): Network {
  const fail = (problem: string): never => {
    throw new NetworkConfigError(`${sourceName}: ${problem}`);
  };
  let doc: unknown;
  try {
    doc = parseYaml(yamlText, { schema: "failsafe" });
  } catch (error) {
    return fail(`not valid YAML: ${(error as Error).message.split("\n", 1)[0]}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    return fail("expected a YAML mapping of config keys (consensus-specs config.yaml)");
  }
  const config = doc as Record<string, unknown>;
  const scalar = (key: string): string => {
    const value = Object.hasOwn(config, key) ? config[key] : undefined;
    if (value === undefined || value === null || value === "") return fail(`${key} is missing`);
    if (typeof value !== "string") return fail(`${key} must be a scalar value`);
    return value;
  };
  const version = (key: string): Uint8Array => {
    const text = scalar(key);
    const bytes = text.length === 10 ? decodeHex(text) : undefined;
    return bytes ?? fail(`${key} must be a 4-byte fork version written as 0x followed by 8 hex digits, got ${JSON.stringify(text.slice(0, 40))}`);
  };
  const epoch = (key: string): bigint =>
    parseUint64(scalar(key)) ?? fail(`${key} must be an epoch: a decimal integer from 0 to ${FAR_FUTURE_EPOCH}, got ${JSON.stringify(scalar(key).slice(0, 40))}`);

  const presetBase = scalar("PRESET_BASE");
  if (!isPresetBase(presetBase)) {
    return fail(`PRESET_BASE must be one of ${PRESET_BASES.join(", ")}, got ${JSON.stringify(presetBase.slice(0, 40))}`);
  }
  const forks: Fork[] = [{ name: "phase0", version: version("GENESIS_FORK_VERSION"), epoch: 0n }];
  for (const fork of FORK_NAMES.slice(1)) {
    const prefix = fork.toUpperCase();
    const next: Fork = { name: fork, version: version(`${prefix}_FORK_VERSION`), epoch: epoch(`${prefix}_FORK_EPOCH`) };
    const previous = forks[forks.length - 1] as Fork;
    if (next.epoch < previous.epoch) {
      return fail(`${prefix}_FORK_EPOCH (${next.epoch}) is before ${previous.name.toUpperCase()}_FORK_EPOCH (${previous.epoch}); forks must be scheduled in order`);
    }
    forks.push(next);
  }
  const configName = Object.hasOwn(config, "CONFIG_NAME") ? config["CONFIG_NAME"] : undefined;
  return makeNetwork(typeof configName === "string" && configName !== "" ? configName : sourceName, presetBase, forks, undefined);
}
