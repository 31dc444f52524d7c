// Test support: a seeded PRNG, random values for @lodestar/types SSZ types (the independent reference),
// and request builders in Web3Signer's JSON shape.
import { BitArray } from "@chainsafe/ssz";
import { createBeaconConfig, type BeaconConfig } from "@lodestar/config";
import { genesisData, networksChainConfig } from "@lodestar/config/networks";
import { ForkName } from "@lodestar/params";
import { toHex } from "../src/index.ts";

/** mulberry32: small, fast, deterministic. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [min, max] (inclusive), for ranges within 2^53. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  bool(): boolean {
    return this.next() < 0.5;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
  /** A uint below 2^53, biased towards both small and large values. */
  uint53(): number {
    switch (this.int(0, 3)) {
      case 0:
        return this.int(0, 16);
      case 1:
        return this.int(0, 2 ** 32);
      case 2:
        return Number.MAX_SAFE_INTEGER - this.int(0, 16);
      default:
        return Math.floor(this.next() * Number.MAX_SAFE_INTEGER);
    }
  }
}

export interface RandomOptions {
  /** Upper bound on the length of lists (their SSZ limits are far larger). */
  readonly maxListLength: number;
  /** Upper bound on the length of bitlists. */
  readonly maxBits: number;
}

/**
 * A random value for a lodestar SSZ type. Lodestar's types come from another copy of @chainsafe/ssz,
 * so the type kinds are recognised by their properties rather than with instanceof.
 */
export function randomValue(type: any, rng: Rng, opts: RandomOptions): unknown {
  if (Array.isArray(type.fieldsEntries)) {
    const value: Record<string, unknown> = {};
    for (const { fieldName, fieldType } of type.fieldsEntries) value[fieldName] = randomValue(fieldType, rng, opts);
    return value;
  }
  if (typeof type.limitBits === "number") {
    const bits = Array.from({ length: rng.int(0, Math.min(type.limitBits, opts.maxBits)) }, () => rng.bool());
    return BitArray.fromBoolArray(bits);
  }
  if (typeof type.lengthBits === "number") return BitArray.fromBoolArray(Array.from({ length: type.lengthBits }, () => rng.bool()));
  if (typeof type.lengthBytes === "number") return rng.bytes(type.lengthBytes);
  if (typeof type.limitBytes === "number") return rng.bytes(rng.int(0, Math.min(type.limitBytes, 64)));
  if (type.elementType !== undefined && typeof type.limit === "number") {
    return Array.from({ length: rng.int(0, Math.min(type.limit, opts.maxListLength)) }, () => randomValue(type.elementType, rng, opts));
  }
  if (type.elementType !== undefined && typeof type.length === "number") {
    return Array.from({ length: type.length }, () => randomValue(type.elementType, rng, opts));
  }
  const zero = type.defaultValue();
  if (typeof zero === "boolean") return rng.bool();
  if (typeof zero === "bigint") return BigInt(rng.uint53()) * BigInt(rng.int(1, 1000));
  if (typeof zero === "number") return type.byteLength >= 7 ? rng.uint53() : rng.int(0, 2 ** Math.min(8 * type.byteLength, 31) - 1);
  throw new Error(`randomValue: unsupported SSZ type ${type.typeName}`);
}

export const FORKS = [ForkName.phase0, ForkName.altair, ForkName.bellatrix, ForkName.capella, ForkName.deneb, ForkName.electra, ForkName.fulu] as const;
export type Fork = (typeof FORKS)[number];

export const LODESTAR_SLOTS_PER_EPOCH = 32;

/** Lodestar's BeaconConfig for a named network, the reference for domains and fork schedules. */
export function referenceConfig(name: "mainnet" | "hoodi" | "sepolia"): BeaconConfig {
  return createBeaconConfig(networksChainConfig[name], Buffer.from(genesisData[name].genesisValidatorsRoot.slice(2), "hex"));
}

/**
 * Epochs during which `fork` is the fork in effect on the network, or undefined when it never is (e.g.
 * hoodi started at Deneb, so phase0 … capella are never in effect there). Fulu is open-ended; a
 * window of 10^6 epochs stands in for it.
 */
export function activeEpochs(config: BeaconConfig, fork: Fork): { first: number; last: number } | undefined {
  const first = config.forks[fork].epoch;
  if (!Number.isFinite(first)) return undefined;
  const later = FORKS.slice(FORKS.indexOf(fork) + 1).map((f) => config.forks[f].epoch);
  const next = Math.min(...later, first + 1_000_000);
  return next > first ? { first, last: next - 1 } : undefined;
}

/**
 * The epoch of instance i: the fork's boundary epochs first (first, first + 1, last − 1, last), each
 * twice so that both fork_info habits meet every boundary, then random epochs inside the fork.
 */
export function pickEpoch(rng: Rng, range: { first: number; last: number }, i: number): number {
  const boundaries = [range.first, range.first + 1, range.last - 1, range.last];
  const boundary = boundaries[i >> 1];
  return boundary !== undefined && boundary >= range.first && boundary <= range.last ? boundary : rng.int(range.first, range.last);
}

export type ForkInfoHabit = "lodestar" | "lighthouse";

/**
 * fork_info as each client sends it for a message signed at `slot`: both send the fork in effect at
 * that slot and its predecessor's version; Lodestar puts the signing epoch in fork.epoch, Lighthouse
 * the fork's real first epoch.
 */
export function forkInfoJson(config: BeaconConfig, slot: number, habit: ForkInfoHabit) {
  const fork = config.getForkInfo(slot);
  return {
    fork: {
      previous_version: toHex(fork.prevVersion),
      current_version: toHex(fork.version),
      epoch: String(habit === "lodestar" ? Math.floor(slot / LODESTAR_SLOTS_PER_EPOCH) : fork.epoch),
    },
    genesis_validators_root: toHex(config.genesisValidatorsRoot),
  };
}

/** fork_info naming a specific fork (as Lodestar does for post-Deneb exits: the Capella fork). */
export function forkInfoForFork(config: BeaconConfig, fork: Fork) {
  const info = config.forks[fork];
  return {
    fork: { previous_version: toHex(info.prevVersion), current_version: toHex(info.version), epoch: String(info.epoch) },
    genesis_validators_root: toHex(config.genesisValidatorsRoot),
  };
}
