// compute_domain / compute_signing_root of consensus-specs, with domains cached: a domain depends only
// on (domain type, fork version, genesis validators root), of which a signer sees a handful, so the hot
// path (RANDAO_REVEAL, ATTESTATION) hashes ForkData once and then only looks it up.
import type { Type } from "@chainsafe/ssz";
import { toHex } from "./hex.ts";
import { ForkData, SigningData } from "./ssz-types.ts";

export const ZERO_ROOT: Uint8Array = new Uint8Array(32);

/**
 * Bounded so that clients sending many distinct fork versions or roots cannot grow it without limit;
 * when full the oldest entry goes (Map iterates in insertion order).
 */
const DOMAIN_CACHE_LIMIT = 1024;
const domainCache = new Map<string, Uint8Array>();

export function computeDomain(domainType: Uint8Array, forkVersion: Uint8Array, genesisValidatorsRoot: Uint8Array): Uint8Array {
  const key = toHex(domainType) + toHex(forkVersion) + toHex(genesisValidatorsRoot);
  let domain = domainCache.get(key);
  if (domain === undefined) {
    const forkDataRoot = ForkData.hashTreeRoot({ current_version: forkVersion, genesis_validators_root: genesisValidatorsRoot });
    domain = new Uint8Array(32);
    domain.set(domainType, 0);
    domain.set(forkDataRoot.subarray(0, 28), 4);
    if (domainCache.size >= DOMAIN_CACHE_LIMIT) domainCache.delete(domainCache.keys().next().value as string);
    domainCache.set(key, domain);
  }
  return domain;
}

/** hash_tree_root(SigningData(object_root, domain)). */
export function computeSigningRoot(objectRoot: Uint8Array, domain: Uint8Array): Uint8Array {
  return SigningData.hashTreeRoot({ object_root: objectRoot, domain });
}

/** compute_signing_root(value, domain) for a value of an SSZ type. */
export function signingRootOf<T>(type: Type<T>, value: T, domain: Uint8Array): Uint8Array {
  return computeSigningRoot(type.hashTreeRoot(value), domain);
}
