// Consensus presets (compile-time constants of consensus-specs) by PRESET_BASE. They fix the epoch
// length and the SSZ list/vector sizes that signing roots depend on. mainnet and gnosis share every
// size used here; gnosis differs only in SLOTS_PER_EPOCH (16 instead of 32), minimal in
// SLOTS_PER_EPOCH (8), SYNC_COMMITTEE_SIZE (32) and MAX_COMMITTEES_PER_SLOT (4).
import type { BeaconPreset } from "@lodestar/params";
import { gnosisPreset } from "@lodestar/params/presets/gnosis";
import { mainnetPreset } from "@lodestar/params/presets/mainnet";
import { minimalPreset } from "@lodestar/params/presets/minimal";

export const PRESET_BASES = ["mainnet", "minimal", "gnosis"] as const;
export type PresetBase = (typeof PRESET_BASES)[number];

export const PRESETS: Readonly<Record<PresetBase, BeaconPreset>> = {
  mainnet: mainnetPreset,
  minimal: minimalPreset,
  gnosis: gnosisPreset,
};

export function isPresetBase(value: string): value is PresetBase {
  return (PRESET_BASES as readonly string[]).includes(value);
}
