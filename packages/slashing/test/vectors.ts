import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The EIP-3076 conformance suite in shared/vectors/eip3076 (see its README). */
export const VECTORS_DIR = fileURLToPath(new URL("../../../../shared/vectors/eip3076/", import.meta.url));

export interface VectorCheckBlock {
  pubkey: string;
  slot: string;
  signing_root?: string;
  should_succeed: boolean;
  should_succeed_complete: boolean;
}
export interface VectorCheckAttestation {
  pubkey: string;
  source_epoch: string;
  target_epoch: string;
  signing_root?: string;
  should_succeed: boolean;
  should_succeed_complete: boolean;
}
export interface VectorStep {
  should_succeed: boolean;
  contains_slashable_data: boolean;
  interchange: unknown;
  blocks: VectorCheckBlock[];
  attestations: VectorCheckAttestation[];
}
export interface VectorFile {
  name: string;
  genesis_validators_root: string;
  steps: VectorStep[];
}

export function loadVectors(): VectorFile[] {
  return readdirSync(VECTORS_DIR)
    .filter((f) => f.endsWith(".json") && !f.startsWith("_"))
    .sort()
    .map((f) => ({ ...(JSON.parse(readFileSync(`${VECTORS_DIR}${f}`, "utf8")) as Omit<VectorFile, "name">), name: f }));
}

export const isZeroRoot = (root: string | undefined) => root === undefined || /^0x0{64}$/.test(root);
