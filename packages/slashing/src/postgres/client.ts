/**
 * The little the backend needs from a PostgreSQL connection, so that its logic
 * is written once over both drivers: `pg` (a server, or PGlite over the wire)
 * and PGlite in process.
 */
import { SlashingDatabaseError, SlashingProtectionError } from "../protection.ts";

export interface SqlClient {
  /** One statement; every failure is a SlashingDatabaseError or, for a database rule that refused a change, a SlashingProtectionError. */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface SqlDatabase extends SqlClient {
  /** Runs `work` inside BEGIN … COMMIT on one connection; rolls back if it throws. */
  transaction<T>(work: (client: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** SQLSTATE of RAISE EXCEPTION: Web3Signer's watermark triggers refusing a change. */
const RAISE_EXCEPTION = "P0001";

/**
 * Maps a driver failure to the package's errors: the database not answering
 * (connection lost, timeout, server error) fails closed as a
 * SlashingDatabaseError; a trigger refusing the change is a
 * SlashingProtectionError, like any other refused operation.
 */
export function slashingError(error: unknown, database: string): Error {
  if (error instanceof SlashingDatabaseError || error instanceof SlashingProtectionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
  // Socket failures carry Node's codes (ECONNREFUSED…); only five-character codes are SQLSTATEs.
  const sqlState = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  if (sqlState === RAISE_EXCEPTION) return new SlashingProtectionError(`${database} refused the change: ${message}`, { cause: error });
  return new SlashingDatabaseError(`${database}: ${message}${sqlState === undefined ? "" : ` (SQLSTATE ${sqlState})`}`, { cause: error });
}
