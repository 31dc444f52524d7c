// The PGlite backend (PostgreSQL in WebAssembly, in process): the backend
// contract on a fresh in-memory database per case, persistence of a data
// directory, and the same database served over the PostgreSQL wire protocol
// to the postgres:// backend.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, test } from "vitest";
import { openSlashingProtection, parseInterchange, SlashingProtectionError } from "../src/index.ts";
import { servePglite } from "../src/postgres/pglite.ts";
import { describeSlashingBackend } from "./contract.ts";
import { GVR, key, root, hex, block, attestation, interchangeFor } from "./fixtures.ts";

describeSlashingBackend("PGlite", () => openSlashingProtection("pglite:memory"));


describe("PGlite: rules of the PostgreSQL-schema backends", () => {
  test("a vote imported with source after target still refuses every vote surrounding it", async () => {
    const db = await openSlashingProtection("pglite:memory");
    try {
      await db.importInterchange(
        parseInterchange(
          JSON.stringify({
            metadata: { interchange_format_version: "5", genesis_validators_root: `0x${hex(GVR)}` },
            data: [{ pubkey: `0x${hex(key(1))}`, signed_attestations: [{ source_epoch: "1", target_epoch: "2" }, { source_epoch: "5", target_epoch: "3" }] }],
          }),
        ),
      );
      // 3→10 surrounds 5→3 from below the range the surround check reads: the raised source watermark refuses it.
      expect(await attestation(db, 1, 3n, 10n, 1)).toMatchObject({ allowed: false, rule: "source_below_low_watermark" });
      expect(await attestation(db, 1, 4n, 10n, 1)).toMatchObject({ allowed: false, rule: "source_below_low_watermark" });
      expect(await attestation(db, 1, 5n, 10n, 1)).toEqual({ allowed: true });
    } finally {
      await db.close();
    }
  });
});

describe("PGlite: data directory", () => {
  test("records, watermarks and disabled validators survive closing and reopening", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strongroom-pglite-"));
    const url = `pglite://${dir}`;
    try {
      const first = await openSlashingProtection(url);
      await first.ensureGenesisValidatorsRoot(GVR);
      expect(await block(first, 1, 10n, 1)).toEqual({ allowed: true });
      expect(await attestation(first, 1, 2n, 3n, 1)).toEqual({ allowed: true });
      await first.importInterchange(interchangeFor(2, "100", "10", "20"));
      await first.setValidatorsEnabled([key(3)], false);
      await first.close();

      const again = await openSlashingProtection(url);
      try {
        await expect(again.ensureGenesisValidatorsRoot(root(9))).rejects.toThrow(/genesis validators root/);
        expect(await block(again, 1, 10n, 1)).toEqual({ allowed: true });
        expect(await block(again, 1, 10n, 2)).toMatchObject({ rule: "double_block_proposal" });
        expect(await attestation(again, 1, 2n, 3n, 2)).toMatchObject({ rule: "double_vote" });
        expect(await block(again, 2, 50n, 1)).toMatchObject({ rule: "block_below_low_watermark" });
        expect(await block(again, 3, 1n, 1)).toMatchObject({ rule: "validator_disabled" });
        const exported = await again.exportInterchange([key(1), key(2)]);
        expect(exported.data.map((v) => hex(v.publicKey))).toEqual([hex(key(1)), hex(key(2))]);
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("locations other than pglite:memory and an absolute directory are refused", async () => {
    for (const url of ["pglite:relative/dir", "pglite://host/dir"]) {
      await expect(openSlashingProtection(url), url).rejects.toBeInstanceOf(SlashingProtectionError);
      await expect(openSlashingProtection(url), url).rejects.toThrow(/use pglite:memory or pglite:\/\/\/absolute\/data\/dir/);
    }
  });
});

describe("PGlite: served over the PostgreSQL wire protocol", () => {
  test("exchanges of different connections never interleave, even when a message spans many TCP reads", async () => {
    // pglite-socket's own server runs each message as it completes; a large
    // Bind arrives in many reads, and another connection's Parse used to land
    // in between ("bind message supplies 1 parameters, but prepared statement
    // requires 2").
    const server = await servePglite("memory");
    const pool = new pg.Pool({ connectionString: server.url, max: 8 });
    try {
      const large = "x".repeat(256 << 10);
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          i % 3 === 0
            ? pool.query("SELECT length($1::text) AS v", [large]).then((r) => r.rows[0].v === large.length)
            : pool.query("SELECT $1::int + $2::int AS v", [i, 1]).then((r) => r.rows[0].v === i + 1),
        ),
      );
      expect(answers.every(Boolean)).toBe(true);
    } finally {
      await pool.end();
      await server.close();
    }
  });

  test("the postgres:// backend signs, imports and exports through it, with many connections at once", async () => {
    const server = await servePglite("memory");
    const db = await openSlashingProtection(server.url);
    try {
      await db.ensureGenesisValidatorsRoot(GVR);
      // Extended-protocol exchanges from the pool's connections interleave on
      // the wire; each must still run whole in PGlite's single session.
      const validators = Array.from({ length: 20 }, (_, i) => i + 10);
      const signings = await Promise.all(
        validators.flatMap((k) => [
          attestation(db, k, 1n, 2n, 1),
          block(db, k, 5n, 1),
          attestation(db, k, 2n, 3n, 1),
          block(db, k, 5n, 2),
          attestation(db, k, 0n, 4n, 1),
        ]),
      );
      expect(signings.map((d) => (d.allowed ? "ok" : d.rule))).toEqual(
        validators.flatMap(() => ["ok", "ok", "ok", "double_block_proposal", "surrounding_vote"]),
      );
      // An import (a transaction over several exchanges) while signings arrive on other connections.
      const [summary, during] = await Promise.all([db.importInterchange(interchangeFor(2, "100", "10", "20")), block(db, 10, 6n, 1)]);
      expect(summary).toEqual({ validators: 1, blocks: 1, attestations: 1 });
      expect(during).toEqual({ allowed: true });
      expect(await block(db, 2, 99n, 1)).toMatchObject({ rule: "block_below_low_watermark" });
      const exported = await db.exportInterchange([key(2), key(10)]);
      const slots = new Map(exported.data.map((v) => [hex(v.publicKey), v.signedBlocks.map((b) => b.slot)]));
      expect(slots).toEqual(new Map([[hex(key(10)), [5n, 6n]], [hex(key(2)), [100n]]]));

      // Another client's open transaction holds the session; the backend waits its turn.
      const other = new pg.Client({ connectionString: server.url });
      await other.connect();
      await other.query("BEGIN");
      await other.query("SELECT count(*) FROM validators");
      const waiting = block(db, 11, 7n, 1);
      await other.query("COMMIT");
      expect(await waiting).toEqual({ allowed: true });
      await other.end();
    } finally {
      await db.close();
      await server.close();
    }
  });
});
