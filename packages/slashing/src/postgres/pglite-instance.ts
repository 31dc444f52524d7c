/**
 * Starting PGlite instances. initdb dominates PGlite's start-up (1.5 s in
 * memory, 5 s into a directory), so a new database, in memory or on disk,
 * starts from a copy of a pristine data directory made once per process
 * (0.3 s into memory, 1 s onto disk); an existing directory is just reopened.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";

let pristine: Promise<Blob> | undefined;

function pristineDataDir(): Promise<Blob> {
  pristine ??= (async () => {
    const template = await PGlite.create();
    try {
      // Uncompressed (about 40 MB): loading it is what must be fast.
      return await template.dumpDataDir("none");
    } finally {
      await template.close();
    }
  })().catch((error: unknown) => {
    pristine = undefined;
    throw error;
  });
  return pristine;
}

/** An in-memory database when `dataDir` is undefined, else the data directory at that absolute path (created if new). */
export async function createPglite(dataDir: string | undefined): Promise<PGlite> {
  if (dataDir === undefined) return PGlite.create({ loadDataDir: await pristineDataDir() });
  // PG_VERSION is the file initdb writes first and PostgreSQL checks on start.
  if (existsSync(join(dataDir, "PG_VERSION"))) return PGlite.create(dataDir);
  return PGlite.create(dataDir, { loadDataDir: await pristineDataDir() });
}
