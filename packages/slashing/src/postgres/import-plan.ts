/**
 * Turns a parsed interchange into what the import writes, per validator: one
 * entry per slot and per target (duplicates in the file merged by the rule the
 * database applies against what it already holds: the same root stays, any
 * disagreement or unknown root leaves no root), the minimums that set a
 * validator's low watermark when this is the first import covering it, and
 * the source floor of votes recorded with source after target.
 */
import type { Interchange } from "../protection.ts";

export interface PlannedAttestation {
  readonly source: bigint;
  readonly root: string | null;
}

export interface ValidatorPlan {
  /** Hex, without 0x. */
  readonly publicKey: string;
  /** Slot → root hex, or null when unknown or conflicting. */
  readonly blocks: Map<bigint, string | null>;
  /** Target → vote; one per target, as the schema's unique key holds them. */
  readonly attestations: Map<bigint, PlannedAttestation>;
  minSlot: bigint | undefined;
  minSource: bigint | undefined;
  minTarget: bigint | undefined;
  /** The greatest source of the votes whose source is after their target (see SET_SOURCE_FLOORS). */
  sourceFloor: bigint | undefined;
}

export const toHex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

const min = (a: bigint | undefined, b: bigint) => (a === undefined || b < a ? b : a);
const max = (a: bigint | undefined, b: bigint) => (a === undefined || b > a ? b : a);
const sameRoot = (a: string | null, b: string | null) => (a !== null && a === b ? a : null);

export function planImport(interchange: Interchange): ValidatorPlan[] {
  const plans = new Map<string, ValidatorPlan>();
  for (const entry of interchange.data) {
    const publicKey = toHex(entry.publicKey);
    let plan = plans.get(publicKey);
    if (plan === undefined) {
      plan = { publicKey, blocks: new Map(), attestations: new Map(), minSlot: undefined, minSource: undefined, minTarget: undefined, sourceFloor: undefined };
      plans.set(publicKey, plan);
    }
    for (const block of entry.signedBlocks) {
      const root = block.signingRoot === undefined ? null : toHex(block.signingRoot);
      const earlier = plan.blocks.get(block.slot);
      plan.blocks.set(block.slot, earlier === undefined ? root : sameRoot(earlier, root));
      plan.minSlot = min(plan.minSlot, block.slot);
    }
    for (const attestation of entry.signedAttestations) {
      const root = attestation.signingRoot === undefined ? null : toHex(attestation.signingRoot);
      const earlier = plan.attestations.get(attestation.targetEpoch);
      plan.attestations.set(
        attestation.targetEpoch,
        earlier === undefined
          ? { source: attestation.sourceEpoch, root }
          : {
              // The greater source is the stricter one for the surround checks later votes face.
              source: earlier.source > attestation.sourceEpoch ? earlier.source : attestation.sourceEpoch,
              root: earlier.source === attestation.sourceEpoch ? sameRoot(earlier.root, root) : null,
            },
      );
      plan.minSource = min(plan.minSource, attestation.sourceEpoch);
      plan.minTarget = min(plan.minTarget, attestation.targetEpoch);
      if (attestation.sourceEpoch > attestation.targetEpoch) plan.sourceFloor = max(plan.sourceFloor, attestation.sourceEpoch);
    }
  }
  return [...plans.values()];
}
