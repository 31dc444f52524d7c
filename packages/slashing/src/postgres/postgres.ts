/**
 * `postgres://` (or `postgresql://`): a PostgreSQL server through a `pg`
 * pool, failing closed within a bounded time. The backend bounds each
 * operation by `operationTimeoutMs`; the pool bounds connecting and each
 * statement by the same time, and so does the server (statement_timeout,
 * idle_in_transaction_session_timeout), so that nothing run for a client
 * that gave up outlives it and its locks are released. Broken connections are
 * dropped and replaced on next use: the pool recovers by itself when the
 * server comes back.
 */
import { Pool, type PoolClient, type PoolConfig } from "pg";
import { DEFAULT_OPERATION_TIMEOUT_MS, type OpenOptions } from "../open.ts";
import type { OutboundOptions } from "../outbound.ts";
import { SlashingProtectionError, type SlashingProtection } from "../protection.ts";
import { SqlSlashingProtection } from "./backend.ts";
import { slashingError, type SqlClient, type SqlDatabase } from "./client.ts";
import { OutboundSocket } from "./outbound-socket.ts";
import { prepareSchema } from "./schema.ts";

export async function openPostgres(url: URL, options: OpenOptions): Promise<SlashingProtection> {
  // Without credentials or options, for logs and errors.
  const description = `${url.protocol}//${url.host}${url.pathname}`;
  const timeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  const db = new PgDatabase(url, timeoutMs, description, options.outbound);
  try {
    await prepareSchema(db, description);
  } catch (error) {
    await db.close();
    throw error;
  }
  return new SqlSlashingProtection(db, description, timeoutMs);
}

class PgDatabase implements SqlDatabase {
  readonly #pool: Pool;
  readonly #description: string;

  constructor(url: URL, timeoutMs: number, description: string, outbound: OutboundOptions | undefined) {
    this.#description = description;
    this.#pool = new Pool({
      ...(outbound === undefined ? { connectionString: url.href } : verifiedTlsThrough(outbound, url)),
      application_name: "strongroom",
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      statement_timeout: timeoutMs,
      idle_in_transaction_session_timeout: timeoutMs,
      keepAlive: true,
    });
    // A connection that breaks while idle in the pool (server restart, network
    // cut) makes the pool emit 'error', and one that breaks while checked out
    // makes its client emit it; unheard, either would crash the process. The
    // broken connection is discarded and the next operation reports the outage.
    this.#pool.on("error", () => {});
    this.#pool.on("connect", (client) => client.on("error", () => {}));
  }

  query<R>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    return this.#mapped(this.#pool.query(text, [...params]).then((result) => result.rows as R[]));
  }

  async transaction<T>(work: (client: SqlClient) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.#mapped(this.#pool.connect());
    const run = <R>(text: string, params: readonly unknown[] = []) =>
      this.#mapped(client.query(text, [...params]).then((result) => result.rows as R[]));
    try {
      await run("BEGIN");
      const result = await work({ query: run });
      await run("COMMIT");
      client.release();
      return result;
    } catch (error) {
      // Dropping the connection makes the server roll back, without waiting
      // for a ROLLBACK on a connection that may be broken or still busy.
      client.release(true);
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }

  #mapped<T>(work: Promise<T>): Promise<T> {
    return work.catch((error: unknown) => {
      throw slashingError(error, this.#description);
    });
  }
}

/**
 * Through an egress proxy: always TLS, verified against the URL's host name
 * (pg's verify-full), whatever the URL's sslmode says — a parent that could
 * read or rewrite the slashing history could get a validator slashed. An
 * sslmode weaker than verify-full is refused rather than silently upgraded.
 */
function verifiedTlsThrough(outbound: OutboundOptions, url: URL): PoolConfig {
  const sslmode = url.searchParams.get("sslmode");
  if (sslmode !== null && sslmode !== "verify-full") {
    throw new SlashingProtectionError(`slashing-protection database URL: sslmode=${sslmode} is refused here; the connection is always TLS with the server's certificate verified (verify-full)`);
  }
  const plain = new URL(url.href);
  plain.searchParams.delete("sslmode");
  return {
    connectionString: plain.href,
    stream: () => new OutboundSocket(outbound.connect),
    ssl: { rejectUnauthorized: true, ...(outbound.ca !== undefined && { ca: [...outbound.ca] }) },
  };
}
