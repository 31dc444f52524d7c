/**
 * EIP-3076 interchange import (a merge) and export. Both are bulk work: each
 * request has its own deadline, not the whole operation.
 *
 * Import writes record by record with conditional writes, never with
 * BatchWriteItem: an unconditional put could overwrite a record that a
 * signer instance wrote a moment before, and so forget a signing. Each
 * record write is an atomic merge on its own, which orders it before or
 * after any concurrent check. The validator's state (watermark, maxTarget)
 * is updated first, bumping attSeq, so that a check can never skip the
 * query for a record already written.
 */
import type { ImportSummary, Interchange, InterchangeValidator } from "../protection.ts";
import { SlashingDatabaseError, SlashingProtectionError } from "../protection.ts";
import {
  ATTESTATION_PREFIX,
  attestationSk,
  b,
  BLOCK_PREFIX,
  blockSk,
  decodeAttestation,
  decodeBlock,
  decodeState,
  isCommitted,
  isValidatorPk,
  type Item,
  keyItem,
  keyOf,
  guardedStateUpdate,
  highest,
  lowest,
  maybeN,
  META_KEY,
  n,
  publicKeyOf,
  s,
  sameRoot,
  STATE_SK,
  stateKey,
  type StoredAttestation,
  validatorPk,
} from "./layout.ts";
import { requireGenesisRoot } from "./genesis.ts";
import { BULK_CONCURRENCY, forEachLimited } from "./parallel.ts";
import type { Table } from "./table.ts";

const STATE_ATTEMPTS = 16;
/** A record write only repeats when the item appears or vanishes under it (a check, a prune) — twice is already rare. */
const MERGE_ATTEMPTS = 4;

interface IncomingRecord {
  readonly sk: string;
  /** Attributes besides the key and the root (source and target of an attestation). */
  readonly attributes: Item;
  readonly signingRoot?: Uint8Array;
}
interface IncomingValidator {
  readonly pk: string;
  readonly blocks: Map<string, IncomingRecord & { readonly slot: bigint }>;
  readonly attestations: Map<string, IncomingRecord & { readonly source: bigint; readonly target: bigint }>;
}

/** Two entries for the same slot or target+source keep a root only if they agree on it. */
function merge<T extends IncomingRecord>(into: Map<string, T>, record: T): void {
  const held = into.get(record.sk);
  into.set(record.sk, held === undefined || sameRoot(held.signingRoot, record.signingRoot) ? record : { ...held, signingRoot: undefined });
}

/** The file's entries per validator (a public key may appear in several entries), duplicates merged. */
function byValidator(data: readonly InterchangeValidator[]): Map<string, IncomingValidator> {
  const validators = new Map<string, IncomingValidator>();
  for (const entry of data) {
    const pk = validatorPk(entry.publicKey);
    let validator = validators.get(pk);
    if (validator === undefined) validators.set(pk, (validator = { pk, blocks: new Map(), attestations: new Map() }));
    for (const block of entry.signedBlocks) merge(validator.blocks, { sk: blockSk(block.slot), attributes: {}, slot: block.slot, signingRoot: block.signingRoot });
    for (const a of entry.signedAttestations) {
      merge(validator.attestations, {
        sk: attestationSk(a.targetEpoch, a.sourceEpoch),
        attributes: { src: n(a.sourceEpoch), tgt: n(a.targetEpoch) },
        source: a.sourceEpoch,
        target: a.targetEpoch,
        signingRoot: a.signingRoot,
      });
    }
  }
  return validators;
}

/**
 * Sets what the import changes in the validator's state: the low watermark
 * when none is set yet (the first import covering the validator sets it, and
 * later ones leave it as is), maxTarget and minInvertedTarget.
 */
async function prepareState(table: Table, validator: IncomingValidator): Promise<void> {
  const slots = [...validator.blocks.values()].map((x) => x.slot);
  const attestations = [...validator.attestations.values()];
  const inverted = lowest(attestations.filter((a) => a.source > a.target).map((a) => a.target));
  for (let attempt = 0; attempt < STATE_ATTEMPTS; attempt++) {
    if (attempt > 0) await table.pause(attempt, table.deadline());
    const state = decodeState(await table.get(stateKey(validator.pk)));
    const watermarkBlank = state.lwSource === undefined && state.lwTarget === undefined;
    const update = guardedStateUpdate(state, {
      lwSlot: state.lwSlot === undefined ? maybeN(lowest(slots)) : undefined,
      lwSource: watermarkBlank ? maybeN(lowest(attestations.map((a) => a.source))) : undefined,
      lwTarget: watermarkBlank ? maybeN(lowest(attestations.map((a) => a.target))) : undefined,
      maxTarget: maybeN(highest([state.maxTarget, ...attestations.map((a) => a.target)])),
      minInvertedTarget: maybeN(lowest([state.minInvertedTarget, inverted])),
    });
    if (await table.update(stateKey(validator.pk), update)) return;
  }
  throw new SlashingDatabaseError(`import: the state of validator ${validator.pk.slice(2)} kept changing under it`);
}

/**
 * Adds one record, or merges it into the one already there: that one is
 * confirmed (the file vouches for the signing, so a pending mark goes) and
 * keeps its root only if the file's is the same.
 */
async function mergeRecord(table: Table, pk: string, record: IncomingRecord): Promise<void> {
  const key = { pk, sk: record.sk };
  const root = record.signingRoot;
  for (let attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
    const item = { ...keyItem(key), ...record.attributes, ...(root && { signingRoot: b(root) }) };
    if (await table.put(item, { condition: "attribute_not_exists(sk)" })) return;
    if (root && (await table.update(key, { expression: "REMOVE pending", condition: "signingRoot = :root", values: { ":root": b(root) } }))) return;
    if (await table.update(key, { expression: "REMOVE signingRoot, pending", condition: "attribute_exists(sk)" })) return;
  }
  throw new SlashingDatabaseError(`import: record ${record.sk} of validator ${pk.slice(2)} kept changing under it`);
}

export async function importInterchange(table: Table, interchange: Interchange): Promise<ImportSummary> {
  await requireGenesisRoot(table, interchange.genesisValidatorsRoot, table.deadline());
  const validators = [...byValidator(interchange.data).values()];
  await forEachLimited(validators, BULK_CONCURRENCY, (v) => prepareState(table, v));
  const records = validators.flatMap((v) => [...v.blocks.values(), ...v.attestations.values()].map((record) => ({ pk: v.pk, record })));
  await forEachLimited(records, BULK_CONCURRENCY, ({ pk, record }) => mergeRecord(table, pk, record));
  return {
    validators: validators.length,
    blocks: validators.reduce((sum, v) => sum + v.blocks.size, 0),
    attestations: validators.reduce((sum, v) => sum + v.attestations.size, 0),
  };
}

interface ValidatorItems {
  state?: Item;
  readonly blocks: Item[];
  readonly attestations: Item[];
}

function groupByValidator(items: readonly Item[]): Map<string, ValidatorItems> {
  const groups = new Map<string, ValidatorItems>();
  for (const item of items) {
    const { pk, sk } = keyOf(item);
    if (!isValidatorPk(pk)) continue;
    let group = groups.get(pk);
    if (group === undefined) groups.set(pk, (group = { blocks: [], attestations: [] }));
    if (sk === STATE_SK) group.state = item;
    else if (sk.startsWith(BLOCK_PREFIX)) group.blocks.push(item);
    else if (sk.startsWith(ATTESTATION_PREFIX)) group.attestations.push(item);
  }
  return groups;
}

/**
 * One validator's records as an interchange entry: only committed
 * attestations, plus a root-less record at the low watermark when that is
 * not itself a record, so that an importer keeps at least this watermark.
 */
async function exportValidator(table: Table, pk: string, items: ValidatorItems): Promise<InterchangeValidator> {
  let state = decodeState(items.state);
  const stored = items.attestations.map(decodeAttestation);
  let attestations: StoredAttestation[] = stored.filter((a) => isCommitted(a, state));
  const unsure = stored.filter((a) => !isCommitted(a, state));
  if (unsure.length > 0) {
    // The scan may have read a record before the state that named it as the last commit. Read the state again, then
    // the record: a record committed before that state read is named by it, or was confirmed (unmarked) before it.
    state = decodeState(await table.get(stateKey(pk)));
    for (const record of unsure) {
      const item = isCommitted(record, state) ? undefined : await table.get({ pk, sk: record.sk });
      const now = item === undefined ? record : decodeAttestation(item);
      if (isCommitted(now, state)) attestations.push(now);
    }
  }
  const blocks = items.blocks.map(decodeBlock);
  if (state.lwSlot !== undefined && !blocks.some((x) => x.slot === state.lwSlot)) blocks.push({ slot: state.lwSlot });
  const { lwSource, lwTarget } = state;
  if (lwSource !== undefined && lwTarget !== undefined && !attestations.some((a) => a.source === lwSource && a.target === lwTarget)) {
    attestations = [...attestations, { sk: "", source: lwSource, target: lwTarget }];
  }
  const byNumber = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
  return {
    publicKey: publicKeyOf(pk),
    signedBlocks: blocks.sort((x, y) => byNumber(x.slot, y.slot)).map(({ slot, signingRoot }) => (signingRoot ? { slot, signingRoot } : { slot })),
    signedAttestations: attestations
      .sort((x, y) => byNumber(x.target, y.target) || byNumber(x.source, y.source))
      .map(({ source, target, signingRoot }) => (signingRoot ? { sourceEpoch: source, targetEpoch: target, signingRoot } : { sourceEpoch: source, targetEpoch: target })),
  };
}

export async function exportInterchange(table: Table, publicKeys?: readonly Uint8Array[]): Promise<Interchange> {
  const genesisValidatorsRoot = (await table.get(META_KEY))?.["gvr"]?.B;
  if (genesisValidatorsRoot === undefined) throw new SlashingProtectionError("nothing to export: no genesis validators root is recorded yet");
  let items: Item[];
  if (publicKeys === undefined) {
    items = await table.scan();
  } else {
    const partitions: Item[][] = [];
    await forEachLimited(new Set(publicKeys.map(validatorPk)), BULK_CONCURRENCY, async (pk) => {
      partitions.push(await table.query({ KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": s(pk) } }));
    });
    items = partitions.flat();
  }
  const groups = [...groupByValidator(items)].sort(([x], [y]) => (x < y ? -1 : 1));
  const data: InterchangeValidator[] = new Array(groups.length);
  await forEachLimited(groups.keys(), BULK_CONCURRENCY, async (i) => {
    const [pk, group] = groups[i]!;
    data[i] = await exportValidator(table, pk, group);
  });
  // Validators with neither records nor a watermark have nothing to protect.
  return { genesisValidatorsRoot, data: data.filter((v) => v.signedBlocks.length > 0 || v.signedAttestations.length > 0) };
}
