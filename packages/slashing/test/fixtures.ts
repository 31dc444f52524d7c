// Small values shared by the backend tests: keys and roots filled with one byte, and shorthand checks.
import { parseInterchange, type SlashingProtection } from "../src/index.ts";

export const GVR = new Uint8Array(32).fill(0x47);
export const key = (n: number) => new Uint8Array(48).fill(n);
export const root = (n: number) => new Uint8Array(32).fill(n);
export const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

export const block = (db: SlashingProtection, k: number, slot: bigint, r: number) =>
  db.checkAndRecordBlock({ publicKey: key(k), slot, signingRoot: root(r), genesisValidatorsRoot: GVR });
export const attestation = (db: SlashingProtection, k: number, source: bigint, target: bigint, r: number) =>
  db.checkAndRecordAttestation({ publicKey: key(k), sourceEpoch: source, targetEpoch: target, signingRoot: root(r), genesisValidatorsRoot: GVR });

/** An interchange holding one root-less block and attestation for key `k`. */
export const interchangeFor = (k: number, slot: string, source: string, target: string) =>
  parseInterchange(
    JSON.stringify({
      metadata: { interchange_format_version: "5", genesis_validators_root: `0x${hex(GVR)}` },
      data: [{ pubkey: `0x${hex(key(k))}`, signed_blocks: [{ slot }], signed_attestations: [{ source_epoch: source, target_epoch: target }] }],
    }),
  );
