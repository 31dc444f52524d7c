/**
 * Check-and-record with single-item conditional writes only. A single-item
 * write is atomic and, once acknowledged, seen by every strongly consistent
 * read that starts afterwards: the protocols below rely on nothing else.
 * (TransactWriteItems is not needed; it also guarantees less to a later
 * non-transactional read of another of its items, and dynalite lacks it.)
 *
 * Blocks: the record item of the slot is the lock. `attribute_not_exists`
 * lets exactly one signing create it; a later one finds it and is a repeat
 * (same root) or a double proposal. The state item is updated afterwards and
 * its old value re-checked, so that a validator disabled (or pruned above
 * this slot) in the meantime is refused.
 *
 * Attestations: surround votes span many items, so each validator's
 * attestations are serialised by a version counter (attSeq) in its state
 * item. A check reads the state, then the records that could conflict, then
 * writes its record marked `pending` with a random nonce, then bumps attSeq
 * from the value it read (conditional), naming its nonce as the last commit.
 * Only one of several concurrent checks can win a given bump; the others
 * re-read and decide again. A record written before the bump is visible to
 * anyone who sees the bumped counter; a pending record whose nonce is not the
 * last commit (a loser, a crashed writer) is ignored, so it never counts as
 * a repeat. The next check clears the last commit's pending mark before
 * bumping again, so every earlier commit is unmarked and plainly visible.
 */
import { randomUUID } from "node:crypto";
import { type AttestationSigning, type BlockSigning, type Decision, SlashingDatabaseError } from "../protection.ts";
import {
  ATTESTATION_PREFIX,
  attestationSk,
  attestationTargetFrom,
  b,
  blockSk,
  decodeAttestation,
  decodeBlock,
  decodeState,
  guardedStateUpdate,
  highest,
  isCommitted,
  type Item,
  keyItem,
  META_KEY,
  n,
  PREFIX_END,
  type StoredAttestation,
  s,
  stateKey,
  validatorPk,
  type ValidatorState,
} from "./layout.ts";
import { genesisRefusal } from "./genesis.ts";
import { ALLOWED, decideAttestation, decideBlock, DISABLED, lowestConflictingTarget, refuse, type Verdict } from "./rules.ts";
import type { Table } from "./table.ts";

/**
 * Attempts per check. A check retries only when another check of the same
 * validator committed in between (in practice one from another signer
 * instance: within one, they are queued) or took its key; the operation's
 * deadline bounds the time in any case.
 */
const MAX_ATTEMPTS = 32;

const decision = (verdict: Exclude<Verdict, "record">): Decision => (verdict === "repeat" ? ALLOWED : verdict);
const contention = (what: string) => new SlashingDatabaseError(`slashing-protection ${what} still contended after ${MAX_ATTEMPTS} attempts`);

export async function checkAndRecordBlock(table: Table, block: BlockSigning, signal: AbortSignal): Promise<Decision> {
  const pk = validatorPk(block.publicKey);
  const recordKey = { pk, sk: blockSk(block.slot) };
  // The state our own put was decided on, once we tried one: what we find at the slot afterwards may be that put.
  let putOn: ValidatorState | undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await table.pause(attempt, signal);
    const [meta, stateItem, atSlot] = await table.batchGet([META_KEY, stateKey(pk), recordKey], signal);
    const gvrRefusal = await genesisRefusal(table, meta, block.genesisValidatorsRoot, signal);
    if (gvrRefusal) return gvrRefusal;
    const state = decodeState(stateItem);
    const verdict = decideBlock(state, block.slot, block.signingRoot, atSlot && decodeBlock(atSlot));
    if (verdict !== "record" && verdict !== "repeat") return verdict;
    if (verdict === "record") {
      putOn = state;
      // Another signing took the slot since the read (or the SDK retried our put after a lost answer): look again.
      if (!(await table.put({ ...keyItem(recordKey), signingRoot: b(block.signingRoot) }, { condition: "attribute_not_exists(sk)" }, signal))) continue;
    }
    // The block is recorded. The first recorded block sets the low watermark when none is set (as Web3Signer does);
    // the state as it was before tells what changed since our read.
    const before = decodeState(
      await table.updateReturningOld(stateKey(pk), { expression: "SET lwSlot = if_not_exists(lwSlot, :slot)", values: { ":slot": n(block.slot) } }, signal),
    );
    // The record stays either way: a block recorded but not signed only refuses more.
    if (before.disabled) return DISABLED;
    // A watermark that was set when we decided to record and has since risen to the slot was raised by prune, which may
    // have deleted a block at this slot after we read it; a watermark set meanwhile from blank is only another first block.
    if (putOn?.lwSlot !== undefined && before.lwSlot !== undefined && block.slot <= before.lwSlot) {
      return refuse("block_below_low_watermark", `slot ${block.slot} is at or below the low watermark slot ${before.lwSlot}, raised meanwhile`);
    }
    return ALLOWED;
  }
  throw contention(`block check for slot ${block.slot}`);
}

/**
 * The committed attestations that could conflict with source->target, with
 * the check's own pending record left out. Nothing is read when the state
 * shows that no record can be high enough (the usual case: the previous
 * attestation targeted the current source), unless `ownKeyTaken`.
 */
async function conflictCandidates(
  table: Table,
  pk: string,
  state: ValidatorState,
  attestation: AttestationSigning,
  nonce: string,
  ownKeyTaken: boolean,
  signal: AbortSignal,
): Promise<StoredAttestation[]> {
  const { sourceEpoch: source, targetEpoch: target } = attestation;
  const lowest = lowestConflictingTarget(source, target, state.minInvertedTarget);
  if (!ownKeyTaken && (state.maxTarget === undefined || state.maxTarget < lowest)) return [];
  const items = await table.query(
    {
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
      FilterExpression: "tgt = :t OR (src > :s AND tgt < :t) OR (src < :s AND tgt > :t)",
      ExpressionAttributeValues: {
        ":pk": s(pk),
        ":from": s(attestationTargetFrom(lowest)),
        ":to": s(`${ATTESTATION_PREFIX}${PREFIX_END}`),
        ":t": n(target),
        ":s": n(source),
      },
    },
    signal,
  );
  const ownSk = attestationSk(target, source);
  return items.map(decodeAttestation).flatMap((record) => {
    if (record.pending === nonce) return [];
    if (isCommitted(record, state)) return [record];
    // Someone else's uncommitted record holds this very key, so ours cannot be written: a double vote, unless it
    // commits the same root before the next look. Its root is not known to be signed yet, so it cannot make a repeat.
    return record.sk === ownSk ? [{ ...record, signingRoot: undefined }] : [];
  });
}

export async function checkAndRecordAttestation(table: Table, attestation: AttestationSigning, signal: AbortSignal): Promise<Decision> {
  const { sourceEpoch: source, targetEpoch: target, signingRoot } = attestation;
  const pk = validatorPk(attestation.publicKey);
  const ownKey = { pk, sk: attestationSk(target, source) };
  const nonce = randomUUID();
  let ownKeyTaken = false;
  let written = false;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await table.pause(attempt, signal);
    const [meta, stateItem] = await table.batchGet([META_KEY, stateKey(pk)], signal);
    const gvrRefusal = await genesisRefusal(table, meta, attestation.genesisValidatorsRoot, signal);
    if (gvrRefusal) return gvrRefusal;
    const state = decodeState(stateItem);
    // Our commit went through although its answer was lost (the SDK retried it and the retry found the counter moved).
    if (written && state.commitNonce === nonce) return ALLOWED;
    const verdict = decideAttestation(state, source, target, signingRoot, await conflictCandidates(table, pk, state, attestation, nonce, ownKeyTaken, signal));
    if (verdict !== "record") {
      // A record we wrote in an attempt that lost protects nothing; remove it unless something adopted it meanwhile.
      if (written) await table.delete(ownKey, { condition: "pending = :nonce", values: { ":nonce": s(nonce) } }, signal);
      return decision(verdict);
    }
    const record: Item = { ...keyItem(ownKey), src: n(source), tgt: n(target), signingRoot: b(signingRoot), pending: s(nonce) };
    const [put] = await Promise.all([
      table.put(record, { condition: "attribute_not_exists(sk) OR pending = :nonce", values: { ":nonce": s(nonce) } }, signal),
      confirmLastCommit(table, pk, state, signal),
    ]);
    if (!put) {
      ownKeyTaken = true;
      continue;
    }
    written = true;
    const commit = guardedStateUpdate(state, { commitNonce: s(nonce), commitKey: s(ownKey.sk), maxTarget: n(highest([state.maxTarget, target])!) });
    const committed = await table.update(stateKey(pk), commit, signal);
    if (committed) return ALLOWED;
  }
  throw contention(`attestation check ${source}->${target}`);
}

/**
 * Clears the pending mark of the last committed record before the state
 * forgets its nonce. Refused when that record was already confirmed (by an
 * import) or pruned: nothing left to do.
 */
async function confirmLastCommit(table: Table, pk: string, state: ValidatorState, signal: AbortSignal): Promise<void> {
  if (state.commitNonce === undefined || state.commitKey === undefined) return;
  await table.update({ pk, sk: state.commitKey }, { expression: "REMOVE pending", condition: "pending = :nonce", values: { ":nonce": s(state.commitNonce) } }, signal);
}
