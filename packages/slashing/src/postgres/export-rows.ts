/**
 * Builds the interchange entries of an export from the rows read in one
 * snapshot: every record, plus, where a validator's low watermark is not
 * itself a record, a root-less record at the watermark. An importer that
 * derives its watermark from the records (EIP-3076) is then at least as strict
 * as this database: it can sign nothing at or below the watermark either.
 */
import type { InterchangeValidator } from "../protection.ts";

export interface ValidatorRow {
  readonly id: number;
  readonly public_key: string;
}
export interface BlockRow {
  readonly validator_id: number;
  readonly slot: string;
  readonly signing_root: string | null;
}
export interface AttestationRow {
  readonly validator_id: number;
  readonly source_epoch: string;
  readonly target_epoch: string;
  readonly signing_root: string | null;
}
export interface WatermarkRow {
  readonly validator_id: number;
  readonly slot: string | null;
  readonly source_epoch: string | null;
  readonly target_epoch: string | null;
}

type Block = InterchangeValidator["signedBlocks"][number];
type Attestation = InterchangeValidator["signedAttestations"][number];

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const root = (hex: string | null) => (hex === null ? {} : { signingRoot: fromHex(hex) });

function groupBy<T extends { readonly validator_id: number }>(rows: readonly T[]): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const row of rows) {
    const group = groups.get(row.validator_id);
    if (group === undefined) groups.set(row.validator_id, [row]);
    else group.push(row);
  }
  return groups;
}

/** Validators with neither records nor a watermark have nothing to protect and are left out. */
export function exportedValidators(
  validators: readonly ValidatorRow[],
  blockRows: readonly BlockRow[],
  attestationRows: readonly AttestationRow[],
  watermarkRows: readonly WatermarkRow[],
): InterchangeValidator[] {
  const blocksOf = groupBy(blockRows);
  const attestationsOf = groupBy(attestationRows);
  const watermarkOf = new Map(watermarkRows.map((w) => [w.validator_id, w]));
  const exported: InterchangeValidator[] = [];
  for (const validator of validators) {
    const signedBlocks: Block[] = (blocksOf.get(validator.id) ?? []).map((b) => ({ slot: BigInt(b.slot), ...root(b.signing_root) }));
    const signedAttestations: Attestation[] = (attestationsOf.get(validator.id) ?? []).map((a) => ({
      sourceEpoch: BigInt(a.source_epoch),
      targetEpoch: BigInt(a.target_epoch),
      ...root(a.signing_root),
    }));
    const watermark = watermarkOf.get(validator.id);
    if (watermark?.slot != null) {
      const slot = BigInt(watermark.slot);
      if (!signedBlocks.some((b) => b.slot === slot)) {
        signedBlocks.push({ slot });
        signedBlocks.sort((a, b) => (a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : 0));
      }
    }
    if (watermark?.source_epoch != null && watermark.target_epoch != null) {
      const sourceEpoch = BigInt(watermark.source_epoch);
      const targetEpoch = BigInt(watermark.target_epoch);
      if (!signedAttestations.some((a) => a.sourceEpoch === sourceEpoch && a.targetEpoch === targetEpoch)) {
        signedAttestations.push({ sourceEpoch, targetEpoch });
        signedAttestations.sort((a, b) => (a.targetEpoch < b.targetEpoch ? -1 : a.targetEpoch > b.targetEpoch ? 1 : 0));
      }
    }
    if (signedBlocks.length > 0 || signedAttestations.length > 0) {
      exported.push({ publicKey: fromHex(validator.public_key), signedBlocks, signedAttestations });
    }
  }
  return exported;
}
