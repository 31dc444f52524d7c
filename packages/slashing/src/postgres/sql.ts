/**
 * All SQL strongroom runs against a slashing database, shared by the
 * PostgreSQL and PGlite backends: its own stored functions (installed with
 * CREATE OR REPLACE at every open, all named strongroom_* so that Web3Signer's
 * migrations and tools ignore them) and the statements the backend sends.
 *
 * Conventions, so that both drivers behave the same: uint64 values travel as
 * decimal text and come back cast to text; byte strings come back hex-encoded;
 * lists travel as one JSON parameter.
 *
 * Locks: Web3Signer serialises the signings of one validator with
 * pg_advisory_xact_lock(kind, validator id), kind 0 for blocks and 1 for
 * attestations (DbLocker.LockType ordinals). strongroom takes the same locks,
 * so mixed fleets serialise correctly. Work that takes both takes them per
 * validator in ascending id order, attestation first, so it cannot deadlock
 * with itself or with a signing (which takes one).
 */

/** A single-key advisory lock, a lock space apart from the two-key validator locks. Guards schema creation. */
export const LOCK_SCHEMA = `SELECT pg_advisory_xact_lock(7142973281549131853)`;

export const LIST_TABLES = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`;
export const LIST_COLUMNS = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`;
export const SCHEMA_VERSION = `SELECT version FROM database_version WHERE id = 1`;
export const HAS_UPSERT_VALIDATORS = `SELECT to_regprocedure('upsert_validators(bytea[])') IS NOT NULL AS present`;

export const STRONGROOM_FUNCTIONS: readonly string[] = [
  // The network this database belongs to: recorded on first use (as Web3Signer
  // does), then only read. A concurrent first use wins and is read back.
  `CREATE OR REPLACE FUNCTION strongroom_genesis_validators_root(_gvr BYTEA) RETURNS BYTEA LANGUAGE plpgsql AS $$
   DECLARE _stored BYTEA;
   BEGIN
     SELECT genesis_validators_root INTO _stored FROM metadata WHERE id = 1;
     IF NOT FOUND THEN
       INSERT INTO metadata (id, genesis_validators_root) VALUES (1, _gvr) ON CONFLICT (id) DO NOTHING;
       SELECT genesis_validators_root INTO _stored FROM metadata WHERE id = 1;
     END IF;
     RETURN _stored;
   END $$`,

  // A plain lookup first: registering through upsert_validators on every
  // signing would cost more and is only needed for a key never seen before.
  `CREATE OR REPLACE FUNCTION strongroom_validator_id(_public_key BYTEA) RETURNS INTEGER LANGUAGE plpgsql AS $$
   DECLARE _id INTEGER;
   BEGIN
     SELECT id INTO _id FROM validators WHERE public_key = _public_key;
     IF NOT FOUND THEN
       SELECT v_id INTO _id FROM upsert_validators(ARRAY[_public_key]);
     END IF;
     RETURN _id;
   END $$`,

  `CREATE OR REPLACE FUNCTION strongroom_lock_validators(_ids INTEGER[]) RETURNS VOID LANGUAGE plpgsql AS $$
   DECLARE _id INTEGER;
   BEGIN
     FOR _id IN SELECT DISTINCT i FROM unnest(_ids) AS i ORDER BY i LOOP
       PERFORM pg_advisory_xact_lock(1, _id);
       PERFORM pg_advisory_xact_lock(0, _id);
     END LOOP;
   END $$`,

  // One block check-and-record: NULL when the block may be signed (and it is
  // then recorded, unless it repeats a recorded one), else the refusal rule.
  // A high watermark refuses at or beyond it (Web3Signer's BlockValidator); the
  // low watermark refuses at or below it unless the block repeats a recorded
  // one (EIP-3076); a NULL root never matches, so an unknown block at a slot
  // refuses every signing at that slot. The first block recorded for a
  // validator without a slot watermark sets it, as Web3Signer does: nothing
  // older than the oldest signature may be signed, and Web3Signer exports only
  // validators that have a watermark.
  `CREATE OR REPLACE FUNCTION strongroom_check_block(_public_key BYTEA, _slot NUMERIC, _signing_root BYTEA, _gvr BYTEA)
   RETURNS TEXT LANGUAGE plpgsql SET enable_seqscan = off AS $$
   DECLARE
     _validator_id INTEGER;
     _enabled BOOLEAN;
     _high NUMERIC;
     _low NUMERIC;
   BEGIN
     IF strongroom_genesis_validators_root(_gvr) IS DISTINCT FROM _gvr THEN
       RETURN 'genesis_validators_root_mismatch';
     END IF;
     _validator_id := strongroom_validator_id(_public_key);
     PERFORM pg_advisory_xact_lock(0, _validator_id);
     -- Every read below sees what earlier holders of the lock committed.
     SELECT enabled INTO _enabled FROM validators WHERE id = _validator_id;
     IF NOT _enabled THEN RETURN 'validator_disabled'; END IF;
     SELECT high_watermark_slot INTO _high FROM metadata WHERE id = 1;
     IF _slot >= _high THEN RETURN 'high_watermark'; END IF;
     IF EXISTS (SELECT 1 FROM signed_blocks WHERE validator_id = _validator_id AND slot = _slot AND signing_root = _signing_root) THEN
       RETURN NULL;
     END IF;
     IF EXISTS (SELECT 1 FROM signed_blocks WHERE validator_id = _validator_id AND slot = _slot) THEN
       RETURN 'double_block_proposal';
     END IF;
     SELECT slot INTO _low FROM low_watermarks WHERE validator_id = _validator_id;
     IF _slot <= _low THEN RETURN 'block_below_low_watermark'; END IF;
     INSERT INTO signed_blocks (validator_id, slot, signing_root) VALUES (_validator_id, _slot, _signing_root);
     IF _low IS NULL THEN
       INSERT INTO low_watermarks AS w (validator_id, slot) VALUES (_validator_id, _slot)
       ON CONFLICT (validator_id) DO UPDATE SET slot = EXCLUDED.slot WHERE w.slot IS NULL;
     END IF;
     RETURN NULL;
   END $$`,

  // The same for an attestation. Surround checks follow Web3Signer's queries:
  // an earlier vote with a greater source and a smaller target is surrounded
  // by this one; one with a smaller source and a greater target surrounds it.
  // Both check functions run with enable_seqscan off: their cached generic
  // plans do not know that "targets above this one" is nearly nothing, and
  // with few validators they would scan the whole history on every call.
  // Every statement here has an index to use; re-planning each call
  // (plan_cache_mode = force_custom_plan) also avoids the scan but halves the
  // throughput.
  `CREATE OR REPLACE FUNCTION strongroom_check_attestation(_public_key BYTEA, _source NUMERIC, _target NUMERIC, _signing_root BYTEA, _gvr BYTEA)
   RETURNS TEXT LANGUAGE plpgsql SET enable_seqscan = off AS $$
   DECLARE
     _validator_id INTEGER;
     _enabled BOOLEAN;
     _high NUMERIC;
     _low_source NUMERIC;
     _low_target NUMERIC;
   BEGIN
     IF strongroom_genesis_validators_root(_gvr) IS DISTINCT FROM _gvr THEN
       RETURN 'genesis_validators_root_mismatch';
     END IF;
     _validator_id := strongroom_validator_id(_public_key);
     PERFORM pg_advisory_xact_lock(1, _validator_id);
     SELECT enabled INTO _enabled FROM validators WHERE id = _validator_id;
     IF NOT _enabled THEN RETURN 'validator_disabled'; END IF;
     IF _source > _target THEN RETURN 'source_after_target'; END IF;
     SELECT high_watermark_epoch INTO _high FROM metadata WHERE id = 1;
     IF _source >= _high OR _target >= _high THEN RETURN 'high_watermark'; END IF;
     SELECT source_epoch, target_epoch INTO _low_source, _low_target FROM low_watermarks WHERE validator_id = _validator_id;
     IF _source < _low_source THEN RETURN 'source_below_low_watermark'; END IF;
     IF EXISTS (SELECT 1 FROM signed_attestations WHERE validator_id = _validator_id AND target_epoch = _target AND signing_root = _signing_root) THEN
       RETURN NULL;
     END IF;
     IF EXISTS (SELECT 1 FROM signed_attestations WHERE validator_id = _validator_id AND target_epoch = _target) THEN
       RETURN 'double_vote';
     END IF;
     IF _target <= _low_target THEN RETURN 'target_below_low_watermark'; END IF;
     -- A recorded vote with source ≤ target and source > _source has its
     -- target in (_source, _target): a short index range, however long the
     -- history. One imported with source > target may lie below that range,
     -- but the import raised the low watermark's source to its source, so
     -- _source is already refused above (see SET_SOURCE_FLOORS).
     IF EXISTS (SELECT 1 FROM signed_attestations WHERE validator_id = _validator_id AND target_epoch > _source AND target_epoch < _target AND source_epoch > _source) THEN
       RETURN 'surrounding_vote';
     END IF;
     IF EXISTS (SELECT 1 FROM signed_attestations WHERE validator_id = _validator_id AND target_epoch > _target AND source_epoch < _source) THEN
       RETURN 'surrounded_vote';
     END IF;
     INSERT INTO signed_attestations (validator_id, source_epoch, target_epoch, signing_root)
       VALUES (_validator_id, _source, _target, _signing_root);
     RETURN NULL;
   END $$`,

  // Per validator: drop what lies more than the kept range below its latest
  // record, then raise its low watermark to the lowest record kept, so that
  // nothing pruned can be signed again. The watermark is never lowered.
  `CREATE OR REPLACE FUNCTION strongroom_prune(_ids INTEGER[], _keep_epochs NUMERIC, _keep_slots NUMERIC)
   RETURNS TABLE (blocks_deleted BIGINT, attestations_deleted BIGINT) LANGUAGE plpgsql AS $$
   DECLARE _pruned INTEGER[];
   BEGIN
     PERFORM strongroom_lock_validators(_ids);

     WITH latest AS (
       SELECT validator_id, max(slot) AS slot FROM signed_blocks WHERE validator_id = ANY (_ids) GROUP BY validator_id
     ), gone AS (
       DELETE FROM signed_blocks b USING latest
       WHERE b.validator_id = latest.validator_id AND b.slot < latest.slot - _keep_slots
       RETURNING b.validator_id
     )
     SELECT count(*), array_agg(DISTINCT validator_id) INTO blocks_deleted, _pruned FROM gone;
     INSERT INTO low_watermarks AS w (validator_id, slot)
       SELECT validator_id, min(slot) FROM signed_blocks WHERE validator_id = ANY (_pruned) GROUP BY validator_id
     ON CONFLICT (validator_id) DO UPDATE SET slot = EXCLUDED.slot
       WHERE w.slot IS NULL OR w.slot < EXCLUDED.slot;

     WITH latest AS (
       SELECT validator_id, max(target_epoch) AS target FROM signed_attestations WHERE validator_id = ANY (_ids) GROUP BY validator_id
     ), gone AS (
       DELETE FROM signed_attestations a USING latest
       WHERE a.validator_id = latest.validator_id AND a.target_epoch < latest.target - _keep_epochs
       RETURNING a.validator_id
     )
     SELECT count(*), array_agg(DISTINCT validator_id) INTO attestations_deleted, _pruned FROM gone;
     INSERT INTO low_watermarks AS w (validator_id, source_epoch, target_epoch)
       SELECT validator_id, min(source_epoch), min(target_epoch) FROM signed_attestations WHERE validator_id = ANY (_pruned) GROUP BY validator_id
     ON CONFLICT (validator_id) DO UPDATE
       SET source_epoch = greatest(w.source_epoch, EXCLUDED.source_epoch), target_epoch = greatest(w.target_epoch, EXCLUDED.target_epoch)
       WHERE w.target_epoch IS NULL OR w.source_epoch < EXCLUDED.source_epoch OR w.target_epoch < EXCLUDED.target_epoch;

     RETURN NEXT;
   END $$`,

  // Web3Signer's updateValidatorEnabledStatus, for many keys: unknown keys are
  // registered disabled, so that they can never be signed for either.
  `CREATE OR REPLACE FUNCTION strongroom_set_validators_enabled(_keys BYTEA[], _enabled BOOLEAN) RETURNS VOID LANGUAGE plpgsql AS $$
   DECLARE _ids INTEGER[];
   BEGIN
     _ids := ARRAY(SELECT v_id FROM upsert_validators(_keys));
     PERFORM strongroom_lock_validators(_ids);
     UPDATE validators SET enabled = _enabled WHERE id = ANY (_ids) AND enabled IS DISTINCT FROM _enabled;
   END $$`,
];

/** $1, a JSON array of hex strings, as a bytea[]. */
const KEYS_PARAM = `ARRAY(SELECT decode(k, 'hex') FROM json_array_elements_text($1::json) AS k)`;
/** $1, a JSON array of validator ids, as an integer[]. */
const IDS_PARAM = `ARRAY(SELECT i::integer FROM json_array_elements_text($1::json) AS i)`;

export const RECORD_GVR = `SELECT encode(strongroom_genesis_validators_root($1::bytea), 'hex') AS gvr`;
export const CHECK_BLOCK = `SELECT strongroom_check_block($1::bytea, $2::numeric, $3::bytea, $4::bytea) AS refusal`;
export const CHECK_ATTESTATION = `SELECT strongroom_check_attestation($1::bytea, $2::numeric, $3::numeric, $4::bytea, $5::bytea) AS refusal`;
export const SET_VALIDATORS_ENABLED = `SELECT strongroom_set_validators_enabled(${KEYS_PARAM}, $2::boolean)`;
export const ALL_VALIDATOR_IDS = `SELECT id FROM validators ORDER BY id`;
export const PRUNE = `SELECT blocks_deleted::text, attestations_deleted::text FROM strongroom_prune(${IDS_PARAM}, $2::numeric, $3::numeric)`;
export const PING = `SELECT 1`;

// Import, in one transaction per group of validators.
export const REGISTER_VALIDATORS = `SELECT v_id AS id, encode(v_public_key, 'hex') AS public_key FROM upsert_validators(${KEYS_PARAM})`;
export const LOCK_VALIDATORS = `SELECT strongroom_lock_validators(${IDS_PARAM})`;
/**
 * Rows [validator id, slot, root hex | null], one per (validator, slot). A
 * slot already recorded keeps its root only if the imported one is the same;
 * otherwise it ends without a root, which never matches (EIP-3076: a
 * conflict keeps protection).
 */
export const MERGE_BLOCKS = `
  INSERT INTO signed_blocks AS b (validator_id, slot, signing_root)
  SELECT (r->>0)::integer, (r->>1)::numeric, decode(r->>2, 'hex') FROM json_array_elements($1::json) AS r
  ON CONFLICT (validator_id, slot) DO UPDATE SET signing_root = NULL
  WHERE b.signing_root IS NOT NULL AND b.signing_root IS DISTINCT FROM EXCLUDED.signing_root`;
/**
 * Rows [validator id, source, target, root hex | null], one per (validator,
 * target). The unique (validator, target) key holds one vote per target: on a
 * conflict it keeps the greater source (the stricter one for the surround
 * checks that future, higher-target votes face) and no root.
 */
export const MERGE_ATTESTATIONS = `
  INSERT INTO signed_attestations AS a (validator_id, source_epoch, target_epoch, signing_root)
  SELECT (r->>0)::integer, (r->>1)::numeric, (r->>2)::numeric, decode(r->>3, 'hex') FROM json_array_elements($1::json) AS r
  ON CONFLICT (validator_id, target_epoch) DO UPDATE
  SET source_epoch = greatest(a.source_epoch, EXCLUDED.source_epoch),
      signing_root = CASE WHEN a.source_epoch = EXCLUDED.source_epoch AND a.signing_root = EXCLUDED.signing_root THEN a.signing_root END
  WHERE a.source_epoch <> EXCLUDED.source_epoch OR (a.signing_root IS NOT NULL AND a.signing_root IS DISTINCT FROM EXCLUDED.signing_root)`;
/**
 * Rows [validator id, min slot | null, min source | null, min target | null]
 * of this import. The first import that covers a kind sets its watermark; a
 * watermark already set is kept, never lowered or raised by an import.
 */
export const SET_FIRST_LOW_WATERMARKS = `
  INSERT INTO low_watermarks AS w (validator_id, slot, source_epoch, target_epoch)
  SELECT (r->>0)::integer, (r->>1)::numeric, (r->>2)::numeric, (r->>3)::numeric FROM json_array_elements($1::json) AS r
  ON CONFLICT (validator_id) DO UPDATE
  SET slot = coalesce(w.slot, EXCLUDED.slot),
      source_epoch = CASE WHEN w.target_epoch IS NULL THEN EXCLUDED.source_epoch ELSE w.source_epoch END,
      target_epoch = coalesce(w.target_epoch, EXCLUDED.target_epoch)
  WHERE (w.slot IS NULL AND EXCLUDED.slot IS NOT NULL) OR (w.target_epoch IS NULL AND EXCLUDED.target_epoch IS NOT NULL)`;

/**
 * Rows [validator id, greatest source of the imported votes whose source is
 * after their target]. Such a vote (slashable data; a buggy signer's) is
 * surrounded by any later vote with a smaller source and a greater target,
 * and may lie below the index range the surround check reads; raising the
 * low watermark's source to its source refuses every such vote instead. The
 * only case in which an import raises a watermark.
 */
export const SET_SOURCE_FLOORS = `
  UPDATE low_watermarks AS w SET source_epoch = (r->>1)::numeric
  FROM json_array_elements($1::json) AS r
  WHERE w.validator_id = (r->>0)::integer AND w.source_epoch < (r->>1)::numeric`;

// Export, in one read-only snapshot: the validators (all, or those whose hex
// keys $1 lists), then their records a group of ids ($1) at a time.
export const EXPORT_SNAPSHOT = `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`;
export const STORED_GVR = `SELECT encode(genesis_validators_root, 'hex') AS gvr FROM metadata WHERE id = 1`;
export const EXPORT_VALIDATORS = `
  SELECT id, encode(public_key, 'hex') AS public_key FROM validators
  WHERE $1::json IS NULL OR public_key = ANY (${KEYS_PARAM}) ORDER BY id`;
export const EXPORT_BLOCKS = `
  SELECT validator_id, slot::text, encode(signing_root, 'hex') AS signing_root
  FROM signed_blocks WHERE validator_id = ANY (${IDS_PARAM}) ORDER BY validator_id, slot`;
export const EXPORT_ATTESTATIONS = `
  SELECT validator_id, source_epoch::text, target_epoch::text, encode(signing_root, 'hex') AS signing_root
  FROM signed_attestations WHERE validator_id = ANY (${IDS_PARAM}) ORDER BY validator_id, target_epoch`;
export const EXPORT_LOW_WATERMARKS = `
  SELECT validator_id, slot::text, source_epoch::text, target_epoch::text
  FROM low_watermarks WHERE validator_id = ANY (${IDS_PARAM})`;
