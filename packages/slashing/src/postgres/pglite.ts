/**
 * `pglite:///absolute/data/dir` or `pglite:memory`: PostgreSQL compiled to
 * WebAssembly, in this process, with the same schema and SQL as a server. It
 * is one session that runs one statement at a time, queued behind any open
 * transaction; the operation timeout bounds that wait, though a statement
 * that has started cannot be interrupted. servePglite offers the same
 * database over the PostgreSQL wire protocol instead.
 */
import type { PGlite } from "@electric-sql/pglite";
import { DEFAULT_OPERATION_TIMEOUT_MS, type OpenOptions } from "../open.ts";
import type { SlashingProtection } from "../protection.ts";
import { SlashingProtectionError } from "../protection.ts";
import { SqlSlashingProtection } from "./backend.ts";
import { slashingError, type SqlClient, type SqlDatabase } from "./client.ts";
import { createPglite } from "./pglite-instance.ts";
import { prepareSchema } from "./schema.ts";

export { servePglite, type PgliteServer } from "./pglite-server.ts";

/** `pglite:memory` → undefined (in memory); `pglite:///abs/dir` → "/abs/dir". */
function pgliteDataDir(url: URL): string | undefined {
  if (url.host === "" && url.pathname === "memory") return undefined;
  if (url.host === "" && url.pathname.startsWith("/")) return decodeURIComponent(url.pathname);
  throw new SlashingProtectionError(`unsupported PGlite location "${url.href}"; use pglite:memory or pglite:///absolute/data/dir`);
}

export async function openPglite(url: URL, options: OpenOptions): Promise<SlashingProtection> {
  const dataDir = pgliteDataDir(url);
  const description = dataDir === undefined ? "pglite:memory" : `pglite://${dataDir}`;
  let pglite: PGlite;
  try {
    pglite = await createPglite(dataDir);
  } catch (error) {
    throw slashingError(error, description);
  }
  const db = new PgliteDatabase(pglite, description);
  try {
    await prepareSchema(db, description);
  } catch (error) {
    await db.close();
    throw error;
  }
  return new SqlSlashingProtection(db, description, options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS);
}

class PgliteDatabase implements SqlDatabase {
  readonly #pglite: PGlite;
  readonly #description: string;

  constructor(pglite: PGlite, description: string) {
    this.#pglite = pglite;
    this.#description = description;
  }

  /** PGlite queues a statement behind an open transaction, so a signing never runs inside an import's. */
  query<R>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    return this.#mapped(this.#pglite.query<R>(text, [...params]).then((result) => result.rows));
  }

  transaction<T>(work: (client: SqlClient) => Promise<T>): Promise<T> {
    return this.#mapped(
      this.#pglite.transaction((tx) =>
        work({ query: <R>(text: string, params: readonly unknown[] = []) => this.#mapped(tx.query<R>(text, [...params]).then((result) => result.rows)) }),
      ),
    );
  }

  close(): Promise<void> {
    return this.#pglite.close();
  }

  #mapped<T>(work: Promise<T>): Promise<T> {
    return work.catch((error: unknown) => {
      throw slashingError(error, this.#description);
    });
  }
}
