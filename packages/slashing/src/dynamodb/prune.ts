/**
 * Pruning, validator by validator: first raise the low watermark to the
 * lowest record that stays (bumping attSeq, conditional on the state read, so
 * that a check in flight re-reads), then delete what lies below. In that
 * order, nothing that was deleted can be signed against: it is already under
 * the watermark. Deletes need no condition, so they go in batches.
 */
import type { PruneSummary } from "../protection.ts";
import { SlashingDatabaseError } from "../protection.ts";
import {
  ATTESTATION_PREFIX,
  BLOCK_PREFIX,
  decodeAttestation,
  decodeBlock,
  decodeState,
  isCommitted,
  guardedStateUpdate,
  highest,
  isValidatorPk,
  type Item,
  keyOf,
  lowest,
  maybeN,
  PREFIX_END,
  s,
  stateKey,
} from "./layout.ts";
import { BULK_CONCURRENCY, forEachLimited } from "./parallel.ts";
import type { Table } from "./table.ts";

const ATTEMPTS = 16;

async function pruneValidator(table: Table, pk: string, keepEpochs: bigint, slotsPerEpoch: bigint): Promise<PruneSummary> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) await table.pause(attempt, table.deadline());
    // State first: every record committed before this read is then in the query below.
    const state = decodeState(await table.get(stateKey(pk)));
    const records = await table.query({
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
      ExpressionAttributeValues: { ":pk": s(pk), ":from": s(ATTESTATION_PREFIX), ":to": s(`${BLOCK_PREFIX}${PREFIX_END}`) },
    });
    const isBlock = (item: Item) => keyOf(item).sk.startsWith(BLOCK_PREFIX);
    const blocks = records.filter(isBlock).map((item) => ({ key: keyOf(item), slot: decodeBlock(item).slot }));
    const attestations = records.filter((item) => !isBlock(item)).map((item) => ({ key: keyOf(item), ...decodeAttestation(item) }));

    const latestSlot = highest(blocks.map((x) => x.slot));
    const slotBound = latestSlot === undefined ? undefined : latestSlot - keepEpochs * slotsPerEpoch;
    // maxTarget, not the records: a record pending from a lost or dead check must not decide what is latest.
    const targetBound = state.maxTarget === undefined ? undefined : state.maxTarget - keepEpochs;
    const doomedBlocks = slotBound === undefined ? [] : blocks.filter((x) => x.slot < slotBound);
    const doomedAttestations = targetBound === undefined ? [] : attestations.filter((a) => a.target < targetBound);
    if (doomedBlocks.length === 0 && doomedAttestations.length === 0) return { blocksDeleted: 0, attestationsDeleted: 0 };

    const keptBlocks = slotBound === undefined ? blocks : blocks.filter((x) => x.slot >= slotBound);
    const keptAttestations = attestations.filter((a) => (targetBound === undefined || a.target >= targetBound) && isCommitted(a, state));
    // Each watermark rises to the lowest record kept of its kind, never falls.
    const update = guardedStateUpdate(state, {
      lwSlot: doomedBlocks.length > 0 ? maybeN(highest([state.lwSlot, lowest(keptBlocks.map((x) => x.slot))])) : undefined,
      lwSource: doomedAttestations.length > 0 ? maybeN(highest([state.lwSource, lowest(keptAttestations.map((a) => a.source))])) : undefined,
      lwTarget: doomedAttestations.length > 0 ? maybeN(highest([state.lwTarget, lowest(keptAttestations.map((a) => a.target))])) : undefined,
    });
    if (!(await table.update(stateKey(pk), update))) continue;
    await table.batchDelete([...doomedBlocks, ...doomedAttestations].map((x) => x.key));
    return { blocksDeleted: doomedBlocks.length, attestationsDeleted: doomedAttestations.length };
  }
  throw new SlashingDatabaseError(`prune: the state of validator ${pk.slice(2)} kept changing under it`);
}

export async function prune(table: Table, keepEpochs: bigint, slotsPerEpoch: bigint): Promise<PruneSummary> {
  const validators = new Set((await table.scan({ ProjectionExpression: "pk" })).map((item) => keyOf(item).pk).filter(isValidatorPk));
  let blocksDeleted = 0;
  let attestationsDeleted = 0;
  await forEachLimited(validators, BULK_CONCURRENCY, async (pk) => {
    const pruned = await pruneValidator(table, pk, keepEpochs, slotsPerEpoch);
    blocksDeleted += pruned.blocksDeleted;
    attestationsDeleted += pruned.attestationsDeleted;
  });
  return { blocksDeleted, attestationsDeleted };
}
