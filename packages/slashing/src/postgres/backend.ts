/**
 * The PostgreSQL-schema backend, written once over a minimal SQL client: the
 * same code serves a PostgreSQL server (through `pg`) and PGlite. Signing
 * checks are one statement each (a stored function call, see sql.ts), so one
 * round trip, and fail within the operation timeout; bulk work (import,
 * export, prune) runs in statements of bounded size, each under the driver's
 * own timeouts.
 */
import type {
  AttestationSigning,
  BlockSigning,
  Decision,
  ImportSummary,
  Interchange,
  PruneSummary,
  RefusalRule,
  SlashingProtection,
} from "../protection.ts";
import { SlashingDatabaseError, SlashingProtectionError } from "../protection.ts";
import { KeyedQueue, withDeadline } from "./bounded.ts";
import type { SqlClient, SqlDatabase } from "./client.ts";
import { exportedValidators, type AttestationRow, type BlockRow, type ValidatorRow, type WatermarkRow } from "./export-rows.ts";
import { planImport, toHex, type ValidatorPlan } from "./import-plan.ts";
import {
  ALL_VALIDATOR_IDS,
  CHECK_ATTESTATION,
  CHECK_BLOCK,
  SET_VALIDATORS_ENABLED,
  EXPORT_ATTESTATIONS,
  EXPORT_BLOCKS,
  EXPORT_LOW_WATERMARKS,
  EXPORT_SNAPSHOT,
  EXPORT_VALIDATORS,
  LOCK_VALIDATORS,
  MERGE_ATTESTATIONS,
  MERGE_BLOCKS,
  PING,
  PRUNE,
  RECORD_GVR,
  REGISTER_VALIDATORS,
  SET_FIRST_LOW_WATERMARKS,
  SET_SOURCE_FLOORS,
  STORED_GVR,
} from "./sql.ts";

/**
 * Validators per import/export/disable transaction. Each holds two advisory
 * locks until commit, and PostgreSQL's shared lock table is small
 * (max_locks_per_transaction × max_connections, 6400 by default).
 */
const VALIDATORS_PER_TRANSACTION = 256;
/** Validators per prune statement: a first prune of a long history deletes much per validator, and each statement must finish within the operation timeout. */
const VALIDATORS_PER_PRUNE = 16;
/** Records per import statement: large enough that a big file takes few round trips, small enough to finish well within the timeout. */
const ROWS_PER_STATEMENT = 10_000;

const REFUSALS: Readonly<Record<RefusalRule, string>> = {
  genesis_validators_root_mismatch: "its genesis validators root is not the one the slashing database belongs to",
  validator_disabled: "the validator is disabled in the slashing database",
  high_watermark: "it is at or beyond the slashing database's high watermark",
  block_below_low_watermark: "its slot is at or below the validator's low watermark",
  double_block_proposal: "a different block was already signed at this slot",
  source_after_target: "its source epoch is after its target epoch",
  source_below_low_watermark: "its source epoch is below the validator's low watermark",
  target_below_low_watermark: "its target epoch is at or below the validator's low watermark",
  double_vote: "a different attestation was already signed for this target epoch",
  surrounding_vote: "it surrounds an attestation already signed",
  surrounded_vote: "it is surrounded by an attestation already signed",
};

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

export class SqlSlashingProtection implements SlashingProtection {
  readonly description: string;
  readonly #db: SqlDatabase;
  readonly #timeoutMs: number;
  readonly #inOrder = new KeyedQueue();
  #closing: Promise<void> | undefined;

  constructor(db: SqlDatabase, description: string, timeoutMs: number) {
    this.#db = db;
    this.description = description;
    this.#timeoutMs = timeoutMs;
  }

  #bounded<T>(work: (expired: AbortSignal) => Promise<T>): Promise<T> {
    return withDeadline(this.#timeoutMs, this.description, work);
  }

  async ensureGenesisValidatorsRoot(genesisValidatorsRoot: Uint8Array): Promise<void> {
    const [row] = await this.#bounded(() => this.#db.query<{ gvr: string }>(RECORD_GVR, [genesisValidatorsRoot]));
    const wanted = toHex(genesisValidatorsRoot);
    if (row?.gvr !== wanted) {
      throw new SlashingProtectionError(
        `genesis validators root 0x${wanted} is not the one ${this.description} belongs to (0x${row?.gvr}): it holds another network's slashing data`,
      );
    }
  }

  checkAndRecordBlock(block: BlockSigning): Promise<Decision> {
    const params = [block.publicKey, block.slot.toString(), block.signingRoot, block.genesisValidatorsRoot];
    return this.#check(`block:${toHex(block.publicKey)}`, CHECK_BLOCK, params, `block at slot ${block.slot}`);
  }

  checkAndRecordAttestation(attestation: AttestationSigning): Promise<Decision> {
    const { publicKey, sourceEpoch, targetEpoch } = attestation;
    const params = [publicKey, sourceEpoch.toString(), targetEpoch.toString(), attestation.signingRoot, attestation.genesisValidatorsRoot];
    return this.#check(`attestation:${toHex(publicKey)}`, CHECK_ATTESTATION, params, `attestation ${sourceEpoch}→${targetEpoch}`);
  }

  /** In arrival order per validator and kind (the database lock's granularity), within the timeout including the wait. */
  async #check(key: string, statement: string, params: readonly unknown[], subject: string): Promise<Decision> {
    const [row] = await this.#bounded((expired) =>
      this.#inOrder.run(key, () => {
        expired.throwIfAborted();
        return this.#db.query<{ refusal: string | null }>(statement, params);
      }),
    );
    return this.#decision(row, subject);
  }

  #decision(row: { refusal: string | null } | undefined, subject: string): Decision {
    if (row?.refusal === null) return { allowed: true };
    // Anything but a known rule means the database did not answer as expected: fail closed.
    if (row === undefined || !Object.hasOwn(REFUSALS, row.refusal)) {
      throw new SlashingDatabaseError(`${this.description}: unexpected check result ${JSON.stringify(row)}`);
    }
    const rule = row.refusal as RefusalRule;
    return { allowed: false, rule, message: `refused ${subject}: ${REFUSALS[rule]}` };
  }

  /**
   * One transaction per group of validators: each validator's records and
   * watermark land together, under its locks, so no signing sees half of
   * them. A failed import may leave earlier groups imported; importing the
   * same file again is harmless.
   */
  async importInterchange(interchange: Interchange): Promise<ImportSummary> {
    const plans = planImport(interchange);
    await this.ensureGenesisValidatorsRoot(interchange.genesisValidatorsRoot);
    for (const group of chunks(plans, VALIDATORS_PER_TRANSACTION)) {
      await this.#db.transaction((client) => importGroup(client, group));
    }
    let blocks = 0;
    let attestations = 0;
    for (const plan of plans) {
      blocks += plan.blocks.size;
      attestations += plan.attestations.size;
    }
    return { validators: plans.length, blocks, attestations };
  }

  async exportInterchange(publicKeys?: readonly Uint8Array[]): Promise<Interchange> {
    return this.#db.transaction(async (client) => {
      await client.query(EXPORT_SNAPSHOT);
      const [stored] = await client.query<{ gvr: string }>(STORED_GVR);
      if (stored === undefined) {
        throw new SlashingProtectionError(`${this.description} has no genesis validators root yet: nothing was ever signed or imported, so there is nothing to export`);
      }
      const keys = publicKeys === undefined ? null : JSON.stringify(publicKeys.map(toHex));
      const validators = await client.query<ValidatorRow>(EXPORT_VALIDATORS, [keys]);
      const data = [];
      for (const group of chunks(validators, VALIDATORS_PER_TRANSACTION)) {
        const ids = [JSON.stringify(group.map((v) => v.id))];
        const blocks = await client.query<BlockRow>(EXPORT_BLOCKS, ids);
        const attestations = await client.query<AttestationRow>(EXPORT_ATTESTATIONS, ids);
        const watermarks = await client.query<WatermarkRow>(EXPORT_LOW_WATERMARKS, ids);
        data.push(...exportedValidators(group, blocks, attestations, watermarks));
      }
      return { genesisValidatorsRoot: new Uint8Array(Buffer.from(stored.gvr, "hex")), data };
    });
  }

  async setValidatorsEnabled(publicKeys: readonly Uint8Array[], enabled: boolean): Promise<void> {
    for (const group of chunks(publicKeys, VALIDATORS_PER_TRANSACTION)) {
      await this.#bounded(() => this.#db.query(SET_VALIDATORS_ENABLED, [JSON.stringify(group.map(toHex)), enabled]));
    }
  }

  async prune(keepEpochs: bigint, slotsPerEpoch: bigint): Promise<PruneSummary> {
    if (keepEpochs < 0n || slotsPerEpoch <= 0n) throw new RangeError(`prune needs keepEpochs ≥ 0 and slotsPerEpoch > 0, got ${keepEpochs} and ${slotsPerEpoch}`);
    const ids = (await this.#db.query<{ id: number }>(ALL_VALIDATOR_IDS)).map((r) => r.id);
    let blocksDeleted = 0;
    let attestationsDeleted = 0;
    for (const group of chunks(ids, VALIDATORS_PER_PRUNE)) {
      const [row] = await this.#db.query<{ blocks_deleted: string; attestations_deleted: string }>(PRUNE, [
        JSON.stringify(group),
        keepEpochs.toString(),
        (keepEpochs * slotsPerEpoch).toString(),
      ]);
      blocksDeleted += Number(row?.blocks_deleted ?? 0);
      attestationsDeleted += Number(row?.attestations_deleted ?? 0);
    }
    return { blocksDeleted, attestationsDeleted };
  }

  async ping(): Promise<void> {
    await this.#bounded(() => this.#db.query(PING));
  }

  close(): Promise<void> {
    this.#closing ??= this.#db.close();
    return this.#closing;
  }
}

async function importGroup(client: SqlClient, group: readonly ValidatorPlan[]): Promise<void> {
  const registered = await client.query<{ id: number; public_key: string }>(REGISTER_VALIDATORS, [JSON.stringify(group.map((p) => p.publicKey))]);
  const ids = new Map(registered.map((r) => [r.public_key, r.id]));
  const idOf = (plan: ValidatorPlan) => {
    const id = ids.get(plan.publicKey);
    if (id === undefined) throw new SlashingDatabaseError(`validator 0x${plan.publicKey} was not registered by upsert_validators`);
    return id;
  };
  await client.query(LOCK_VALIDATORS, [JSON.stringify([...ids.values()])]);

  const blocks = group.flatMap((plan) => [...plan.blocks].map(([slot, root]) => [idOf(plan), slot.toString(), root]));
  for (const rows of chunks(blocks, ROWS_PER_STATEMENT)) await client.query(MERGE_BLOCKS, [JSON.stringify(rows)]);

  const attestations = group.flatMap((plan) =>
    [...plan.attestations].map(([target, vote]) => [idOf(plan), vote.source.toString(), target.toString(), vote.root]),
  );
  for (const rows of chunks(attestations, ROWS_PER_STATEMENT)) await client.query(MERGE_ATTESTATIONS, [JSON.stringify(rows)]);

  const watermarks = group
    .filter((plan) => plan.minSlot !== undefined || plan.minTarget !== undefined)
    .map((plan) => [idOf(plan), plan.minSlot?.toString() ?? null, plan.minSource?.toString() ?? null, plan.minTarget?.toString() ?? null]);
  if (watermarks.length > 0) await client.query(SET_FIRST_LOW_WATERMARKS, [JSON.stringify(watermarks)]);

  const floors = group.filter((plan) => plan.sourceFloor !== undefined).map((plan) => [idOf(plan), plan.sourceFloor!.toString()]);
  if (floors.length > 0) await client.query(SET_SOURCE_FLOORS, [JSON.stringify(floors)]);
}
