/**
 * Makes a database ready at open: an empty one gets Web3Signer's schema
 * (version 12); an existing one must already be exactly that version; either
 * way strongroom's functions are (re)installed. All in one transaction, under
 * an advisory lock, so that instances starting together create it once.
 */
import { SlashingProtectionError } from "../protection.ts";
import type { SqlClient, SqlDatabase } from "./client.ts";
import {
  HAS_UPSERT_VALIDATORS,
  LIST_COLUMNS,
  LIST_TABLES,
  LOCK_SCHEMA,
  SCHEMA_VERSION,
  STRONGROOM_FUNCTIONS,
} from "./sql.ts";
import { WEB3SIGNER_COLUMNS, WEB3SIGNER_SCHEMA, WEB3SIGNER_SCHEMA_VERSION } from "./web3signer-schema.ts";

export async function prepareSchema(db: SqlDatabase, description: string): Promise<void> {
  await db.transaction(async (client) => {
    await client.query(LOCK_SCHEMA);
    const tables = (await client.query<{ table_name: string }>(LIST_TABLES)).map((r) => r.table_name);
    if (tables.length === 0) {
      for (const statement of WEB3SIGNER_SCHEMA) await client.query(statement);
    } else {
      await verifySchema(client, tables, description);
    }
    for (const statement of STRONGROOM_FUNCTIONS) await client.query(statement);
  });
}

async function verifySchema(client: SqlClient, tables: readonly string[], description: string): Promise<void> {
  const refuse: (problem: string, remedy: string) => never = (problem, remedy) => {
    throw new SlashingProtectionError(`slashing database ${description}: ${problem}; ${remedy}`);
  };
  if (!tables.includes("database_version")) {
    const listed = tables.slice(0, 5).join(", ") + (tables.length > 5 ? ", …" : "");
    refuse(
      `not empty (tables: ${listed}) and not a Web3Signer slashing-protection database (no database_version table)`,
      `give strongroom an empty database, which it initialises, or a Web3Signer slashing database at schema version ${WEB3SIGNER_SCHEMA_VERSION}`,
    );
  }
  const [row] = await client.query<{ version: number }>(SCHEMA_VERSION);
  const version = row?.version;
  if (version === undefined) refuse("database_version has no row", "the schema is damaged; restore it from Web3Signer's migrations");
  if (version !== WEB3SIGNER_SCHEMA_VERSION) {
    refuse(
      `schema version is ${version}, strongroom needs Web3Signer's version ${WEB3SIGNER_SCHEMA_VERSION}`,
      version < WEB3SIGNER_SCHEMA_VERSION
        ? `upgrade it first with Web3Signer's database migrations (flyway migrate, up to V${String(WEB3SIGNER_SCHEMA_VERSION).padStart(5, "0")})`
        : "a newer Web3Signer migrated it; use a strongroom release that supports that version",
    );
  }
  const present = new Set((await client.query<{ table_name: string; column_name: string }>(LIST_COLUMNS)).map((r) => `${r.table_name}.${r.column_name}`));
  const missing = Object.entries(WEB3SIGNER_COLUMNS).flatMap(([table, columns]) => columns.map((c) => `${table}.${c}`).filter((c) => !present.has(c)));
  if (missing.length > 0) {
    refuse(`says version ${WEB3SIGNER_SCHEMA_VERSION} but lacks ${missing.join(", ")}`, "the schema was altered; restore it from Web3Signer's migrations");
  }
  const [upsert] = await client.query<{ present: boolean }>(HAS_UPSERT_VALIDATORS);
  if (upsert?.present !== true) {
    refuse(`says version ${WEB3SIGNER_SCHEMA_VERSION} but lacks the function upsert_validators(bytea[])`, "the schema was altered; restore it from Web3Signer's migrations");
  }
}
