// The PostgreSQL backend on a real server: the backend contract, one round
// trip per check, bulk import in few statements, Web3Signer's schema and
// queries, and refusal of databases it must not touch. One throwaway server
// for the file, a fresh database per test.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startPgWireProxy } from "../../../test/support/pg-wire-proxy.ts";
import { startPostgresServer, type PostgresServer } from "../../../test/support/postgres-server.ts";
import { openSlashingProtection, parseInterchange, SlashingProtectionError } from "../src/index.ts";
import { describeSlashingBackend } from "./contract.ts";
import { GVR, key, root, hex, block, attestation } from "./fixtures.ts";

let server: PostgresServer;
let databases = 0;
const freshDatabase = () => server.createDatabase(`t_${++databases}`);

beforeAll(async () => {
  server = await startPostgresServer();
});
afterAll(async () => {
  await server?.dispose();
});

describeSlashingBackend("PostgreSQL", async () => openSlashingProtection(await freshDatabase()));


async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe("PostgreSQL: round trips", () => {
  test("a check-and-record is exactly one round trip, for a known and for a new validator", async () => {
    const url = await freshDatabase();
    const proxy = await startPgWireProxy({ host: "127.0.0.1", port: server.port });
    const db = await openSlashingProtection(url.replace(`:${server.port}/`, `:${proxy.port}/`));
    try {
      await db.ensureGenesisValidatorsRoot(GVR);
      const roundTrips = async (work: () => Promise<unknown>) => {
        proxy.reset();
        await work();
        return proxy.roundTrips();
      };
      expect(await roundTrips(() => block(db, 1, 10n, 1))).toBe(1); // new validator
      expect(await roundTrips(() => block(db, 1, 11n, 1))).toBe(1);
      expect(await roundTrips(() => block(db, 1, 11n, 2))).toBe(1); // a refusal too
      expect(await roundTrips(() => attestation(db, 2, 1n, 2n, 1))).toBe(1); // new validator
      expect(await roundTrips(() => attestation(db, 2, 2n, 3n, 1))).toBe(1);
      expect(await roundTrips(() => attestation(db, 2, 0n, 4n, 1))).toBe(1);
    } finally {
      await db.close();
      await proxy.close();
    }
  });

  test("a large interchange is imported in few statements", async () => {
    const url = await freshDatabase();
    const proxy = await startPgWireProxy({ host: "127.0.0.1", port: server.port });
    const db = await openSlashingProtection(url.replace(`:${server.port}/`, `:${proxy.port}/`));
    try {
      const validators = 300;
      const perValidator = 100;
      const interchange = {
        genesisValidatorsRoot: GVR,
        data: Array.from({ length: validators }, (_, v) => ({
          publicKey: new Uint8Array(48).fill(v % 256).fill(v >> 8, 0, 1),
          signedBlocks: Array.from({ length: perValidator }, (_, i) => ({ slot: BigInt(1000 + i * 32), signingRoot: root(i + 1) })),
          signedAttestations: Array.from({ length: perValidator }, (_, i) => ({ sourceEpoch: BigInt(99 + i), targetEpoch: BigInt(100 + i), signingRoot: root(i + 1) })),
        })),
      };
      proxy.reset();
      const started = performance.now();
      const summary = await db.importInterchange(interchange);
      const elapsed = performance.now() - started;
      expect(summary).toEqual({ validators, blocks: validators * perValidator, attestations: validators * perValidator });
      // 60,000 records: the GVR, then per 256 validators BEGIN, register, lock, blocks, attestations, watermarks, COMMIT.
      expect(proxy.roundTrips()).toBeLessThanOrEqual(25);
      expect(elapsed).toBeLessThan(15_000);
      const first = interchange.data[0]!.publicKey;
      expect(await db.checkAndRecordBlock({ publicKey: first, slot: 999n, signingRoot: root(200), genesisValidatorsRoot: GVR })).toMatchObject({
        allowed: false,
        rule: "block_below_low_watermark",
      });
      expect(await db.checkAndRecordAttestation({ publicKey: first, sourceEpoch: 198n, targetEpoch: 200n, signingRoot: root(200), genesisValidatorsRoot: GVR })).toEqual({
        allowed: true,
      });
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});

describe("PostgreSQL: shared with other signers", () => {
  test("two instances on one database never record two slashable signatures", async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([openSlashingProtection(url), openSlashingProtection(url)]);
    try {
      const attempts = Array.from({ length: 80 }, (_, i) => ({ db: i % 2 === 0 ? a! : b!, source: BigInt(i % 5), target: BigInt(5 + (i % 3)), r: i }));
      const results = await Promise.all(attempts.map(async (x) => ({ ...x, decision: await attestation(x.db, 9, x.source, x.target, x.r) })));
      const allowed = results.filter((r) => r.decision.allowed);
      for (const x of allowed) {
        for (const y of allowed) {
          if (x === y) continue;
          expect(x.target === y.target || (x.source < y.source && x.target > y.target), `${x.source}->${x.target} vs ${y.source}->${y.target}`).toBe(false);
        }
      }
      const blocks = await Promise.all(Array.from({ length: 40 }, (_, i) => block(i % 2 === 0 ? a! : b!, 9, 77n, i)));
      expect(blocks.filter((d) => d.allowed)).toHaveLength(1);
    } finally {
      await a?.close();
      await b?.close();
    }
  });
});

describe("PostgreSQL: Web3Signer compatibility", () => {
  test("the schema has Web3Signer's version-12 tables, columns, constraints, indexes, sequences and triggers", async () => {
    const url = await freshDatabase();
    await (await openSlashingProtection(url)).close();
    await withClient(url, async (client) => {
      const columns = await client.query(
        `SELECT table_name || '.' || column_name || ' ' || data_type || coalesce('(' || numeric_precision || ')', '') || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END AS c
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
      );
      expect(columns.rows.map((r) => r.c)).toEqual([
        "database_version.id integer(32) not null",
        "database_version.version integer(32) not null",
        "low_watermarks.validator_id integer(32) not null",
        "low_watermarks.slot numeric(20)",
        "low_watermarks.target_epoch numeric(20)",
        "low_watermarks.source_epoch numeric(20)",
        "metadata.id integer(32) not null",
        "metadata.genesis_validators_root bytea not null",
        "metadata.high_watermark_epoch numeric(20)",
        "metadata.high_watermark_slot numeric(20)",
        "signed_attestations.validator_id integer(32)",
        "signed_attestations.source_epoch numeric(20) not null",
        "signed_attestations.target_epoch numeric(20) not null",
        "signed_attestations.signing_root bytea",
        "signed_attestations.id bigint(64) not null",
        "signed_blocks.validator_id integer(32) not null",
        "signed_blocks.slot numeric(20) not null",
        "signed_blocks.signing_root bytea",
        "signed_blocks.id bigint(64) not null",
        "validators.id integer(32) not null",
        "validators.public_key bytea not null",
        "validators.enabled boolean not null",
      ]);
      const constraints = await client.query(`SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`);
      expect(constraints.rows.map((r) => r.conname)).toEqual([
        "both_epochs_set_or_null",
        "database_version_pkey",
        "low_watermarks_validator_id_fkey",
        "low_watermarks_validator_id_key",
        "metadata_pkey",
        "signed_attestations_pkey",
        "signed_attestations_validator_id_fkey",
        "signed_blocks_pkey",
        "signed_blocks_validator_id_fkey",
        "unique_signed_attestation",
        "unique_signed_block",
        "validators_pkey",
        "validators_public_key_key",
      ]);
      const indexes = await client.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`);
      expect(indexes.rows.map((r) => r.indexname)).toEqual([
        "database_version_pkey",
        "low_watermarks_validator_id_key",
        "metadata_pkey",
        "signed_attestations_pkey",
        "signed_attestations_validator_id_target_epoch_idx",
        "signed_blocks_pkey",
        "signed_blocks_validator_id_slot_idx",
        "unique_signed_attestation",
        "unique_signed_block",
        "validators_pkey",
        "validators_public_key_key",
      ]);
      const sequences = await client.query(`SELECT sequencename || ' ' || data_type AS s FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1`);
      expect(sequences.rows.map((r) => r.s)).toEqual(["signed_attestations_id_seq bigint", "signed_blocks_id_seq bigint", "validators_id_seq integer"]);
      const triggers = await client.query(`SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`);
      expect(triggers.rows.map((r) => r.tgname)).toEqual(["check_before_insert_or_update_high_watermarks", "check_before_insert_or_update_low_watermarks"]);
      const functions = await client.query(`SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname NOT LIKE 'strongroom\\_%' ORDER BY 1`);
      expect(functions.rows.map((r) => r.proname)).toEqual(["check_high_watermarks", "check_low_watermarks", "upsert_validators"]);
    });
  });

  // The statements below are the SQL Web3Signer's DAOs run (slashing-protection/…/dao), with ? as $n.
  test("Web3Signer's own queries find what strongroom signed and imported, and strongroom honours what Web3Signer writes", async () => {
    const url = await freshDatabase();
    const db = await openSlashingProtection(url);
    try {
      await db.ensureGenesisValidatorsRoot(GVR);
      expect(await block(db, 1, 100n, 1)).toEqual({ allowed: true });
      expect(await attestation(db, 1, 5n, 6n, 2)).toEqual({ allowed: true });
      await db.importInterchange(
        parseInterchange(
          JSON.stringify({
            metadata: { interchange_format_version: "5", genesis_validators_root: `0x${hex(GVR)}` },
            data: [
              {
                pubkey: `0x${hex(key(2))}`,
                signed_blocks: [{ slot: "50", signing_root: `0x${hex(root(3))}` }, { slot: "60" }],
                signed_attestations: [{ source_epoch: "3", target_epoch: "4", signing_root: `0x${hex(root(4))}` }],
              },
            ],
          }),
        ),
      );
      await db.setValidatorsEnabled([key(3)], false);

      await withClient(url, async (w3s) => {
        expect((await w3s.query("SELECT version from database_version WHERE id = 1")).rows).toEqual([{ version: 12 }]);
        expect((await w3s.query("SELECT genesis_validators_root FROM metadata WHERE id = $1", [1])).rows[0].genesis_validators_root).toEqual(Buffer.from(GVR));
        // RegisteredValidators: upsert_validators returns the existing ids and registers a new key.
        const registered = await w3s.query(
          `SELECT v_id as id, v_public_key as public_key FROM upsert_validators(array[decode('${hex(key(1))}','hex'),decode('${hex(key(2))}','hex'),decode('${hex(key(4))}','hex')])`,
        );
        const ids = registered.rows.map((r) => r.id as number);
        expect(registered.rows.map((r) => hex(r.public_key))).toEqual([hex(key(1)), hex(key(2)), hex(key(4))]);
        const [id1, id2] = ids as [number, number];
        const retrieved = await w3s.query("SELECT id, public_key FROM validators WHERE public_key IN ($1, $2) ORDER BY id", [Buffer.from(key(1)), Buffer.from(key(2))]);
        expect(retrieved.rows.map((r) => r.id)).toEqual([id1, id2]);
        const enabled = async (k: number) => {
          const [{ id }] = (await w3s.query("SELECT id FROM validators WHERE public_key = $1", [Buffer.from(key(k))])).rows;
          return (await w3s.query("SELECT enabled FROM validators WHERE id = $1", [id])).rows[0].enabled;
        };
        expect(await enabled(1)).toBe(true);
        expect(await enabled(2)).toBe(true);
        expect(await enabled(3)).toBe(false);

        // SignedBlocksDao / SignedAttestationsDao
        const matchingBlock = await w3s.query(
          "SELECT validator_id, slot, signing_root FROM signed_blocks WHERE validator_id = $1 AND slot = $2 AND signing_root = $3",
          [id1, "100", Buffer.from(root(1))],
        );
        expect(matchingBlock.rows).toHaveLength(1);
        const conflicting = await w3s.query(
          "SELECT validator_id, slot, signing_root FROM signed_blocks WHERE (validator_id = $1 AND slot = $2) AND (signing_root <> $3 OR signing_root IS NULL)",
          [id2, "60", Buffer.from(root(9))],
        );
        expect(conflicting.rows).toEqual([{ validator_id: id2, slot: "60", signing_root: null }]);
        const matchingAttestation = await w3s.query(
          "SELECT validator_id, source_epoch, target_epoch, signing_root FROM signed_attestations WHERE validator_id = $1 AND target_epoch = $2 AND signing_root = $3",
          [id2, "4", Buffer.from(root(4))],
        );
        expect(matchingAttestation.rows).toEqual([{ validator_id: id2, source_epoch: "3", target_epoch: "4", signing_root: Buffer.from(root(4)) }]);
        // Web3Signer asked to sign 4→7 for validator 1 finds the 5→6 strongroom signed inside it.
        const surrounded = await w3s.query(
          "SELECT validator_id, source_epoch, target_epoch, signing_root FROM signed_attestations WHERE validator_id = $1 AND source_epoch > $2 AND target_epoch < $3 ORDER BY target_epoch DESC LIMIT 1",
          [id1, "4", "7"],
        );
        expect(surrounded.rows).toEqual([{ validator_id: id1, source_epoch: "5", target_epoch: "6", signing_root: Buffer.from(root(2)) }]);

        // LowWatermarkDao: set by the first block strongroom signed (as Web3Signer does) and by the import.
        const watermark = (id: number) => w3s.query("SELECT validator_id, slot, source_epoch, target_epoch FROM low_watermarks WHERE validator_id = $1", [id]);
        expect((await watermark(id1)).rows).toEqual([{ validator_id: id1, slot: "100", source_epoch: null, target_epoch: null }]);
        expect((await watermark(id2)).rows).toEqual([{ validator_id: id2, slot: "50", source_epoch: "3", target_epoch: "4" }]);

        // Web3Signer signs a block under its lock: strongroom's check waits for it, then sees it.
        await w3s.query("BEGIN");
        await w3s.query("SELECT pg_advisory_xact_lock($1, $2)", [0, id1]);
        let settled = false;
        const waiting = block(db, 1, 101n, 7).finally(() => (settled = true));
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(settled).toBe(false);
        await w3s.query("INSERT INTO signed_blocks (validator_id, slot, signing_root) VALUES ($1, $2, $3)", [id1, "101", Buffer.from(root(8))]);
        await w3s.query("COMMIT");
        expect(await waiting).toMatchObject({ allowed: false, rule: "double_block_proposal" });

        // MetadataDao.updateHighWatermark (Web3Signer's watermark repair): strongroom refuses at or beyond it.
        await w3s.query("UPDATE metadata set high_watermark_epoch=$1, high_watermark_slot=$2 WHERE id =$3", ["20", "1000", 1]);
        expect((await w3s.query("SELECT high_watermark_epoch as epoch, high_watermark_slot as slot FROM metadata WHERE id = $1", [1])).rows).toEqual([
          { epoch: "20", slot: "1000" },
        ]);
        expect(await block(db, 1, 1000n, 1)).toMatchObject({ allowed: false, rule: "high_watermark" });
        expect(await block(db, 1, 999n, 1)).toEqual({ allowed: true });
        expect(await attestation(db, 1, 6n, 20n, 1)).toMatchObject({ allowed: false, rule: "high_watermark" });
        expect(await attestation(db, 1, 6n, 19n, 1)).toEqual({ allowed: true });
        // Web3Signer's trigger keeps the high watermark above every low watermark.
        await expect(w3s.query("UPDATE metadata set high_watermark_epoch=$1, high_watermark_slot=$2 WHERE id =$3", ["20", "50", 1])).rejects.toThrow(/high_watermark_slot/);
      });
    } finally {
      await db.close();
    }
  });
});

describe("PostgreSQL: databases strongroom refuses", () => {
  test("a schema at another version is refused, naming the version and the way out", async () => {
    const url = await freshDatabase();
    await (await openSlashingProtection(url)).close();
    await withClient(url, (client) => client.query("UPDATE database_version SET version = 11 WHERE id = 1"));
    const opening = openSlashingProtection(url);
    await expect(opening).rejects.toBeInstanceOf(SlashingProtectionError);
    await expect(opening).rejects.toThrow(/schema version is 11, strongroom needs Web3Signer's version 12; upgrade it first with Web3Signer's database migrations/);
  });

  test("a database holding other tables is refused, and left untouched", async () => {
    const url = await freshDatabase();
    await withClient(url, (client) => client.query("CREATE TABLE stray (x integer)"));
    const opening = openSlashingProtection(url);
    await expect(opening).rejects.toBeInstanceOf(SlashingProtectionError);
    await expect(opening).rejects.toThrow(/not empty \(tables: stray\) and not a Web3Signer slashing-protection database/);
    const tables = await withClient(url, (client) => client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"));
    expect(tables.rows).toEqual([{ table_name: "stray" }]);
  });

  test("a version-12 schema missing a column is refused", async () => {
    const url = await freshDatabase();
    await (await openSlashingProtection(url)).close();
    await withClient(url, (client) => client.query("ALTER TABLE validators DROP COLUMN enabled"));
    await expect(openSlashingProtection(url)).rejects.toThrow(/lacks validators\.enabled/);
  });

  test("instances opening an empty database together create the schema once", async () => {
    const url = await freshDatabase();
    const opened = await Promise.all(Array.from({ length: 4 }, () => openSlashingProtection(url)));
    await Promise.all(opened.map((db) => db.close()));
    const versions = await withClient(url, (client) => client.query("SELECT version FROM database_version"));
    expect(versions.rows).toEqual([{ version: 12 }]);
  });
});
