import type { OutboundOptions } from "./outbound.ts";
import type { SlashingProtection } from "./protection.ts";
import { SlashingProtectionError } from "./protection.ts";

export interface OpenOptions {
  /** Upper bound for one database operation; past it the operation fails with SlashingDatabaseError (fail closed). */
  readonly operationTimeoutMs?: number;
  /** Reach the database through these streams, always over verified TLS (the enclave); absent: connect directly. */
  readonly outbound?: OutboundOptions;
}

export const DEFAULT_OPERATION_TIMEOUT_MS = 2_000;

/**
 * Opens a slashing-protection database by URL:
 * - `postgres://user:password@host:port/db?sslmode=…` (or `postgresql://`): PostgreSQL with Web3Signer's schema;
 * - `pglite:///absolute/data/dir` or `pglite:memory`: embedded PostgreSQL (PGlite), same SQL;
 * - `dynamodb://table?region=…&endpoint=…`: DynamoDB with conditional writes.
 */
export async function openSlashingProtection(url: string, options: OpenOptions = {}): Promise<SlashingProtection> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SlashingProtectionError("slashing-protection database URL is not a URL; use postgres://…, pglite:///dir, pglite:memory or dynamodb://table?region=…");
  }
  switch (parsed.protocol) {
    case "postgres:":
    case "postgresql:":
      return (await import("./postgres/postgres.ts")).openPostgres(parsed, options);
    case "pglite:":
      if (options.outbound !== undefined) {
        throw new SlashingProtectionError("an enclave keeps no slashing history of its own (it would be lost on restart): use postgres:// or dynamodb://");
      }
      return (await import("./postgres/pglite.ts")).openPglite(parsed, options);
    case "dynamodb:":
      return (await import("./dynamodb/dynamodb.ts")).openDynamo(parsed, options);
    default:
      throw new SlashingProtectionError(
        `unsupported slashing-protection database scheme "${parsed.protocol}"; use postgres://, pglite: or dynamodb://`,
      );
  }
}
