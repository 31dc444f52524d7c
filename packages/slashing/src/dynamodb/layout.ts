/**
 * The table's item layout: one table, string keys `pk` (partition) and `sk`
 * (sort), one partition per validator so that every check reads and writes a
 * single partition.
 *
 *   pk "meta"           sk "meta"                  gvr
 *   pk "v#<pubkey hex>" sk "state"                 disabled, lwSlot, lwSource, lwTarget,
 *                                                  attSeq, maxTarget, minInvertedTarget,
 *                                                  commitNonce, commitKey
 *   pk "v#<pubkey hex>" sk "b#<slot>"              signingRoot
 *   pk "v#<pubkey hex>" sk "a#<target>#<source>"   src, tgt, signingRoot, pending
 *
 * Numbers in keys are 20-digit zero-padded decimals, so that string order is
 * numeric order up to 2^64-1; numbers in attributes are DynamoDB N (38 digits
 * of precision), read back as bigint. An absent signingRoot means "unknown".
 * Attribute names avoid DynamoDB's reserved words (SOURCE, STATE, …) so that
 * expressions need no placeholders for them.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";

export type Item = Record<string, AttributeValue>;
export interface Key {
  readonly pk: string;
  readonly sk: string;
}

export const META_KEY: Key = { pk: "meta", sk: "meta" };
export const STATE_SK = "state";
export const BLOCK_PREFIX = "b#";
export const ATTESTATION_PREFIX = "a#";
/** Sorts after every key with the prefix (digits and '#' sort before '~'). */
export const PREFIX_END = "~";

const pad = (n: bigint) => n.toString().padStart(20, "0");
export const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

export const validatorPk = (publicKey: Uint8Array) => `v#${hex(publicKey)}`;
export const publicKeyOf = (pk: string) => new Uint8Array(Buffer.from(pk.slice(2), "hex"));
export const isValidatorPk = (pk: string) => pk.startsWith("v#");
export const stateKey = (pk: string): Key => ({ pk, sk: STATE_SK });
export const blockSk = (slot: bigint) => `${BLOCK_PREFIX}${pad(slot)}`;
export const attestationSk = (target: bigint, source: bigint) => `${ATTESTATION_PREFIX}${pad(target)}#${pad(source)}`;
/** The first attestation key with this target: attestation keys sort by target, then source. */
export const attestationTargetFrom = (target: bigint) => `${ATTESTATION_PREFIX}${pad(target)}`;

export const keyItem = (key: Key): Item => ({ pk: { S: key.pk }, sk: { S: key.sk } });
export const n = (value: bigint): AttributeValue => ({ N: value.toString() });
export const maybeN = (value: bigint | undefined): AttributeValue | undefined => (value === undefined ? undefined : n(value));
/** The smallest and largest of some numbers, ignoring undefined ones; undefined if there are none. */
export const lowest = (values: Iterable<bigint | undefined>) => {
  let low: bigint | undefined;
  for (const v of values) if (v !== undefined && (low === undefined || v < low)) low = v;
  return low;
};
export const highest = (values: Iterable<bigint | undefined>) => {
  let high: bigint | undefined;
  for (const v of values) if (v !== undefined && (high === undefined || v > high)) high = v;
  return high;
};
export const s = (value: string): AttributeValue => ({ S: value });
export const b = (value: Uint8Array): AttributeValue => ({ B: value });

const num = (item: Item, name: string): bigint | undefined => {
  const value = item[name]?.N;
  return value === undefined ? undefined : BigInt(value);
};
const str = (item: Item, name: string): string | undefined => item[name]?.S;
const bytes = (item: Item, name: string): Uint8Array | undefined => item[name]?.B;
export const keyOf = (item: Item): Key => ({ pk: str(item, "pk") ?? "", sk: str(item, "sk") ?? "" });

export const sameRoot = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));

/** A validator's state item; an absent item is an enabled validator with no watermarks. */
export interface ValidatorState {
  readonly disabled: boolean;
  readonly lwSlot?: bigint;
  readonly lwSource?: bigint;
  readonly lwTarget?: bigint;
  /** Version of everything attestation checks depend on; every change to it is conditional on the value read. */
  readonly attSeq?: bigint;
  /** Highest target of any committed or imported attestation: above it there is nothing to query. */
  readonly maxTarget?: bigint;
  /** Lowest target of an imported attestation with source > target (such a record can be surrounded from below any bound). */
  readonly minInvertedTarget?: bigint;
  /** Nonce and key of the attestation committed last, whose record may still carry its `pending` nonce. */
  readonly commitNonce?: string;
  readonly commitKey?: string;
}

export function decodeState(item: Item | undefined): ValidatorState {
  if (item === undefined) return { disabled: false };
  return {
    disabled: item["disabled"]?.BOOL === true,
    lwSlot: num(item, "lwSlot"),
    lwSource: num(item, "lwSource"),
    lwTarget: num(item, "lwTarget"),
    attSeq: num(item, "attSeq"),
    maxTarget: num(item, "maxTarget"),
    minInvertedTarget: num(item, "minInvertedTarget"),
    commitNonce: str(item, "commitNonce"),
    commitKey: str(item, "commitKey"),
  };
}

/**
 * A state update that bumps attSeq and sets `fields` (undefined ones are left
 * alone). It only applies if no other writer changed attSeq since `state` was
 * read: every writer of what attestation checks depend on goes through it.
 */
export function guardedStateUpdate(state: ValidatorState, fields: Record<string, AttributeValue | undefined>): { expression: string; condition: string; values: Item } {
  const sets = ["attSeq = :attSeq"];
  const values: Item = { ":attSeq": n((state.attSeq ?? 0n) + 1n) };
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    sets.push(`${name} = :${name}`);
    values[`:${name}`] = value;
  }
  const expression = `SET ${sets.join(", ")}`;
  if (state.attSeq === undefined) return { expression, condition: "attribute_not_exists(attSeq)", values };
  return { expression, condition: "attSeq = :seq", values: { ...values, ":seq": n(state.attSeq) } };
}

export interface StoredBlock {
  readonly slot: bigint;
  readonly signingRoot?: Uint8Array;
}
export const decodeBlock = (item: Item): StoredBlock => ({ slot: BigInt((str(item, "sk") ?? "").slice(BLOCK_PREFIX.length)), signingRoot: bytes(item, "signingRoot") });

export interface StoredAttestation {
  readonly sk: string;
  readonly source: bigint;
  readonly target: bigint;
  readonly signingRoot?: Uint8Array;
  /** The nonce of the check that wrote it, until that check is known to have committed. */
  readonly pending?: string;
}
export const decodeAttestation = (item: Item): StoredAttestation => ({
  sk: str(item, "sk") ?? "",
  source: num(item, "src") ?? 0n,
  target: num(item, "tgt") ?? 0n,
  signingRoot: bytes(item, "signingRoot"),
  pending: str(item, "pending"),
});

/**
 * An attestation record counts once the check that wrote it has committed:
 * it carries no pending nonce, or the nonce of the last commit (the next
 * check confirms it before committing itself). Anything else was written by
 * a check that is still running, lost its race, or died, and protects nothing.
 */
export const isCommitted = (record: StoredAttestation, state: ValidatorState) =>
  record.pending === undefined || record.pending === state.commitNonce;
