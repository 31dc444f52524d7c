// Parses and validates the body of POST /api/v1/eth2/sign/{identifier} and computes the signing root
// from the payload (a client-sent root is only ever compared with it, never signed).
import { computeSigningRoot } from "./domain.ts";
import { describe, fail } from "./errors.ts";
import { toHex } from "./hex.ts";
import { field, readBytes, readUint64, requiredField, requireObject } from "./json-ssz.ts";
import type { Network } from "./networks.ts";
import { type ForkInfo, SIGNING_TYPE_SPECS, SIGNING_TYPES, type SigningType, type SlashingData } from "./signing-types.ts";
import { typesForPreset } from "./ssz-types.ts";

export interface SigningRequest {
  readonly type: SigningType;
  /** 32 bytes, computed from the payload. */
  readonly signingRoot: Uint8Array;
  /** fork_info.genesis_validators_root, for the types that carry fork_info; the network guard compares it. */
  readonly genesisValidatorsRoot?: Uint8Array;
  /** Present for BLOCK, BLOCK_V2 and ATTESTATION. */
  readonly slashing?: SlashingData;
}

/** Web3Signer reads `signing_root` and, as an alias, Lodestar's and Lighthouse's `signingRoot`. */
const SIGNING_ROOT_FIELDS = ["signing_root", "signingRoot"] as const;

function readSigningType(value: unknown): SigningType {
  const expected = `expected one of ${SIGNING_TYPES.join(", ")}`;
  if (typeof value !== "string") fail("type", `must be a signing type string (${expected}), got ${describe(value)}`);
  const name = value.length <= 64 ? value.toUpperCase() : "";
  const type = SIGNING_TYPES.find((t) => t === name);
  return type ?? fail("type", `unknown signing type ${describe(value)}; ${expected}`);
}

function readForkInfo(value: unknown): ForkInfo {
  const forkInfo = requireObject(value, "fork_info");
  const fork = requireObject(requiredField(forkInfo, "fork", "fork_info.fork"), "fork_info.fork");
  const part = (name: string) => requiredField(fork, name, `fork_info.fork.${name}`);
  return {
    previousVersion: readBytes(part("previous_version"), 4, "fork_info.fork.previous_version"),
    currentVersion: readBytes(part("current_version"), 4, "fork_info.fork.current_version"),
    epoch: readUint64(part("epoch"), "fork_info.fork.epoch"),
    genesisValidatorsRoot: readBytes(
      requiredField(forkInfo, "genesis_validators_root", "fork_info.genesis_validators_root"),
      32,
      "fork_info.genesis_validators_root",
    ),
  };
}

/**
 * Validates an already JSON.parse'd Web3Signer eth2 signing request for `network` and computes its
 * signing root. Throws SigningRequestError, and only that, for any input that is not a valid request.
 */
export function parseSigningRequest(body: unknown, network: Network): SigningRequest {
  const request = requireObject(body, "request body");
  const type = readSigningType(requiredField(request, "type", "type"));
  const spec = SIGNING_TYPE_SPECS[type];
  const types = typesForPreset(network.presetBase);

  const payload = field(request, spec.field);
  if (payload === undefined || payload === null) fail(spec.field, `is missing; ${type} requests carry their payload in "${spec.field}"`);
  let forkInfo: ForkInfo | undefined;
  let signable;
  if (spec.forkInfo) {
    forkInfo = readForkInfo(requiredField(request, "fork_info", "fork_info"));
    signable = spec.read(payload, spec.field, { network, types, forkInfo });
  } else {
    signable = spec.read(payload, spec.field, { network, types });
  }
  const signingRoot = computeSigningRoot(signable.objectRoot, signable.domain);

  for (const name of SIGNING_ROOT_FIELDS) {
    const sent = field(request, name);
    if (sent === undefined || sent === null) continue;
    const sentRoot = readBytes(sent, 32, name);
    if (!sentRoot.every((byte, i) => byte === signingRoot[i])) {
      fail(name, `the sent signing root ${toHex(sentRoot)} does not match the signing root computed from the request, ${toHex(signingRoot)}`);
    }
  }

  return {
    type,
    signingRoot,
    ...(forkInfo !== undefined && { genesisValidatorsRoot: forkInfo.genesisValidatorsRoot }),
    ...(signable.slashing !== undefined && { slashing: signable.slashing }),
  };
}
