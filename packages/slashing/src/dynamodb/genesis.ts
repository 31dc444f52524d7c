/**
 * The genesis validators root, in the metadata item: recorded by the first
 * operation that brings one (a conditional put, so concurrent first uses
 * agree), then compared with every request and import.
 */
import { SlashingProtectionError } from "../protection.ts";
import { b, hex, type Item, keyItem, META_KEY, sameRoot } from "./layout.ts";
import { refuse } from "./rules.ts";
import type { Table } from "./table.ts";

/** The root the database holds, after recording `requested` if it held none; `meta` is the metadata item as just read. */
export async function recordedGenesisRoot(table: Table, meta: Item | undefined, requested: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
  const held = meta?.["gvr"]?.B;
  if (held !== undefined) return held;
  if (await table.put({ ...keyItem(META_KEY), gvr: b(requested) }, { condition: "attribute_not_exists(pk)" }, signal)) return requested;
  const winner = (await table.get(META_KEY, signal))?.["gvr"]?.B;
  if (winner === undefined) throw new SlashingProtectionError("the metadata item exists without a genesis validators root");
  return winner;
}

const mismatch = (held: Uint8Array, requested: Uint8Array) => `genesis validators root mismatch: the database holds 0x${hex(held)}, not 0x${hex(requested)}`;

/** For a check: a refusal if the request belongs to another network. */
export async function genesisRefusal(table: Table, meta: Item | undefined, requested: Uint8Array, signal: AbortSignal) {
  const held = await recordedGenesisRoot(table, meta, requested, signal);
  return sameRoot(held, requested) ? undefined : refuse("genesis_validators_root_mismatch", mismatch(held, requested));
}

/** For ensure and import: SlashingProtectionError if the database belongs to another network. */
export async function requireGenesisRoot(table: Table, requested: Uint8Array, signal: AbortSignal): Promise<void> {
  const held = await recordedGenesisRoot(table, await table.get(META_KEY, signal), requested, signal);
  if (!sameRoot(held, requested)) throw new SlashingProtectionError(mismatch(held, requested));
}
