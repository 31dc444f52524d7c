/**
 * EIP-3076 (complete history with low watermark) as pure functions of what
 * a check read; the protocols in check.ts make those reads consistent.
 *
 * Where several rules apply, the first listed names the refusal (as in the
 * PostgreSQL backend). Blocks: the record at the slot (same known root: a
 * repeat, allowed without a new record; otherwise a double proposal), then
 * the low watermark — the first recorded block sets that watermark, so a
 * second root for that very slot is still reported as the double proposal it
 * is. Attestations: source after target, source below the watermark, the
 * record(s) at the target (repeat or double vote), target at or below the
 * watermark, surrounding, surrounded.
 */
import type { Decision, RefusalRule } from "../protection.ts";
import { sameRoot, type ValidatorState } from "./layout.ts";

/** Refuse; allow as a repeat of what is recorded (nothing to write); or allow and record. */
export type Verdict = Extract<Decision, { allowed: false }> | "repeat" | "record";

export const ALLOWED: Decision = { allowed: true };
export const refuse = (rule: RefusalRule, message: string): Extract<Decision, { allowed: false }> => ({ allowed: false, rule, message });
export const DISABLED = refuse("validator_disabled", "validator is disabled in the slashing-protection database");

export interface RecordedAttestation {
  readonly source: bigint;
  readonly target: bigint;
  readonly signingRoot?: Uint8Array;
}

export function decideBlock(state: ValidatorState, slot: bigint, signingRoot: Uint8Array, atSlot: { readonly signingRoot?: Uint8Array } | undefined): Verdict {
  if (state.disabled) return DISABLED;
  if (atSlot !== undefined) {
    return sameRoot(atSlot.signingRoot, signingRoot)
      ? "repeat"
      : refuse("double_block_proposal", `a block with ${atSlot.signingRoot ? "another" : "an unknown"} signing root is recorded for slot ${slot}`);
  }
  if (state.lwSlot !== undefined && slot <= state.lwSlot) {
    return refuse("block_below_low_watermark", `slot ${slot} is at or below the low watermark slot ${state.lwSlot}`);
  }
  return "record";
}

/**
 * `recorded` must hold every committed attestation that could conflict (at
 * the same target, surrounding or surrounded); others are ignored.
 */
export function decideAttestation(
  state: ValidatorState,
  source: bigint,
  target: bigint,
  signingRoot: Uint8Array,
  recorded: readonly RecordedAttestation[],
): Verdict {
  if (state.disabled) return DISABLED;
  if (source > target) return refuse("source_after_target", `source epoch ${source} is after target epoch ${target}`);
  if (state.lwSource !== undefined && source < state.lwSource) {
    return refuse("source_below_low_watermark", `source epoch ${source} is below the low watermark source epoch ${state.lwSource}`);
  }
  const atTarget = recorded.filter((r) => r.target === target);
  if (atTarget.length > 0) {
    return atTarget.every((r) => sameRoot(r.signingRoot, signingRoot))
      ? "repeat"
      : refuse("double_vote", `an attestation with another or an unknown signing root is recorded for target epoch ${target}`);
  }
  if (state.lwTarget !== undefined && target <= state.lwTarget) {
    return refuse("target_below_low_watermark", `target epoch ${target} is at or below the low watermark target epoch ${state.lwTarget}`);
  }
  const surrounded = recorded.find((r) => r.source > source && r.target < target);
  if (surrounded) {
    return refuse("surrounding_vote", `${source}->${target} would surround the recorded attestation ${surrounded.source}->${surrounded.target}`);
  }
  const surrounding = recorded.find((r) => r.source < source && r.target > target);
  if (surrounding) {
    return refuse("surrounded_vote", `${source}->${target} would be surrounded by the recorded attestation ${surrounding.source}->${surrounding.target}`);
  }
  return "record";
}

/**
 * The lowest target an attestation conflicting with source->target can have:
 * one it surrounds has source > `source` and (if well formed) target >= its
 * source; a double vote has target `target`; one surrounding it a higher
 * target. Imported records with source > target are the exception, hence
 * `minInvertedTarget`.
 */
export function lowestConflictingTarget(source: bigint, target: bigint, minInvertedTarget: bigint | undefined): bigint {
  const wellFormed = source < target ? source + 1n : target;
  return minInvertedTarget !== undefined && minInvertedTarget < wellFormed ? minInvertedTarget : wellFormed;
}
