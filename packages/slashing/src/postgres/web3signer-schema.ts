/**
 * Web3Signer's slashing-protection schema, version 12, as its PostgreSQL
 * migrations V00001…V00012 leave it: the same tables, columns, types,
 * constraint and index names, the `upsert_validators` function its DAOs call
 * and its two watermark triggers. strongroom creates it in an empty database,
 * so that Web3Signer instances (and Web3Signer's own tools) can use the same
 * database during a migration, in either direction.
 *
 * Written from reading Web3Signer's migrations and DAOs
 * (slashing-protection/src/main/resources/migrations/postgresql,
 * slashing-protection/src/main/java/…/dao); see the package README.
 */

export const WEB3SIGNER_SCHEMA_VERSION = 12;

/** Statements that create the schema in an empty database, one statement each. */
export const WEB3SIGNER_SCHEMA: readonly string[] = [
  `CREATE TABLE validators (
     id SERIAL PRIMARY KEY,
     public_key BYTEA NOT NULL UNIQUE,
     enabled BOOLEAN NOT NULL DEFAULT TRUE
   )`,
  // V00002 added the id primary keys after the other columns; V00011 widened them to bigint.
  `CREATE TABLE signed_blocks (
     validator_id INTEGER NOT NULL REFERENCES validators (id),
     slot NUMERIC(20) NOT NULL,
     signing_root BYTEA,
     id BIGSERIAL PRIMARY KEY,
     CONSTRAINT unique_signed_block UNIQUE (validator_id, slot)
   )`,
  `CREATE INDEX signed_blocks_validator_id_slot_idx ON signed_blocks (validator_id, slot)`,
  // Web3Signer leaves validator_id nullable here (unlike signed_blocks); kept as is.
  `CREATE TABLE signed_attestations (
     validator_id INTEGER REFERENCES validators (id),
     source_epoch NUMERIC(20) NOT NULL,
     target_epoch NUMERIC(20) NOT NULL,
     signing_root BYTEA,
     id BIGSERIAL PRIMARY KEY,
     CONSTRAINT unique_signed_attestation UNIQUE (validator_id, target_epoch)
   )`,
  `CREATE INDEX signed_attestations_validator_id_target_epoch_idx ON signed_attestations (validator_id, target_epoch)`,
  `CREATE TABLE low_watermarks (
     validator_id INTEGER NOT NULL REFERENCES validators (id) UNIQUE,
     slot NUMERIC(20),
     target_epoch NUMERIC(20),
     source_epoch NUMERIC(20),
     CONSTRAINT both_epochs_set_or_null CHECK ((target_epoch IS NULL) = (source_epoch IS NULL))
   )`,
  `CREATE TABLE metadata (
     id INTEGER PRIMARY KEY,
     genesis_validators_root BYTEA NOT NULL,
     high_watermark_epoch NUMERIC(20),
     high_watermark_slot NUMERIC(20)
   )`,
  `CREATE TABLE database_version (
     id INTEGER PRIMARY KEY,
     version INTEGER NOT NULL
   )`,
  `INSERT INTO database_version (id, version) VALUES (1, ${WEB3SIGNER_SCHEMA_VERSION})`,
  // Web3Signer registers validators with
  // SELECT v_id, v_public_key FROM upsert_validators(array[...]): the id of
  // every key, in argument order, inserting the missing ones. Only missing keys
  // reach the INSERT, so known keys never consume sequence values; a concurrent
  // insert of the same key is waited for and then read back by the second query.
  `CREATE FUNCTION upsert_validators(_vals BYTEA[])
   RETURNS TABLE (v_id INTEGER, v_public_key BYTEA) LANGUAGE plpgsql AS $$
   BEGIN
     INSERT INTO validators (public_key)
       SELECT DISTINCT k FROM unnest(_vals) AS k
       WHERE NOT EXISTS (SELECT 1 FROM validators v WHERE v.public_key = k)
       ORDER BY 1
       ON CONFLICT (public_key) DO NOTHING;
     RETURN QUERY
       SELECT v.id, v.public_key
       FROM unnest(_vals) WITH ORDINALITY AS u (k, n) JOIN validators v ON v.public_key = u.k
       ORDER BY u.n;
   END $$`,
  // The high watermark (set by Web3Signer's watermark-repair tooling) must stay
  // above every low watermark, and every low watermark at or below it.
  `CREATE FUNCTION check_high_watermarks() RETURNS TRIGGER LANGUAGE plpgsql AS $$
   BEGIN
     IF NEW.high_watermark_slot <= (SELECT max(slot) FROM low_watermarks) THEN
       RAISE EXCEPTION 'high_watermark_slot must be greater than every slot in low_watermarks';
     END IF;
     IF NEW.high_watermark_epoch <= (SELECT greatest(max(target_epoch), max(source_epoch)) FROM low_watermarks) THEN
       RAISE EXCEPTION 'high_watermark_epoch must be greater than every epoch in low_watermarks';
     END IF;
     RETURN NEW;
   END $$`,
  `CREATE TRIGGER check_before_insert_or_update_high_watermarks
   BEFORE INSERT OR UPDATE ON metadata FOR EACH ROW EXECUTE PROCEDURE check_high_watermarks()`,
  `CREATE FUNCTION check_low_watermarks() RETURNS TRIGGER LANGUAGE plpgsql AS $$
   DECLARE
     high_slot NUMERIC(20) := (SELECT min(high_watermark_slot) FROM metadata);
     high_epoch NUMERIC(20) := (SELECT min(high_watermark_epoch) FROM metadata);
   BEGIN
     IF NEW.slot > high_slot THEN
       RAISE EXCEPTION 'low_watermark slot must be less than or equal to high_watermark_slot in metadata';
     END IF;
     IF NEW.source_epoch > high_epoch OR NEW.target_epoch > high_epoch THEN
       RAISE EXCEPTION 'low_watermark epochs must be less than or equal to high_watermark_epoch in metadata';
     END IF;
     RETURN NEW;
   END $$`,
  `CREATE TRIGGER check_before_insert_or_update_low_watermarks
   BEFORE INSERT OR UPDATE ON low_watermarks FOR EACH ROW EXECUTE PROCEDURE check_low_watermarks()`,
];

/** The columns strongroom reads and writes, checked on every open of an existing database. */
export const WEB3SIGNER_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  validators: ["id", "public_key", "enabled"],
  signed_blocks: ["validator_id", "slot", "signing_root"],
  signed_attestations: ["validator_id", "source_epoch", "target_epoch", "signing_root"],
  low_watermarks: ["validator_id", "slot", "source_epoch", "target_epoch"],
  metadata: ["id", "genesis_validators_root", "high_watermark_epoch", "high_watermark_slot"],
  database_version: ["id", "version"],
};

