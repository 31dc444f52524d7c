// The small files aTLS clients keep: PCR manifests (read) and pin files
// (read, and created once, atomically).
import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface SmallFile {
  readonly bytes: Buffer;
  /** Permission bits. */
  readonly mode: number;
}

/** A regular file's bytes and mode, or undefined when it does not exist; refused unread past `limit`. */
export function readSmallFile(path: string, limit: number, what: string): SmallFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new Error(`cannot read the ${what} ${path}: ${code ?? (error as Error).message}`, { cause: error });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error(`the ${what} ${path} is not a regular file`);
    if (stat.size > limit) throw new Error(`the ${what} ${path} is ${stat.size} bytes; at most ${limit} are expected`);
    return { bytes: readFileSync(fd), mode: stat.mode & 0o777 };
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `path` holding `data` (mode 0600, its directory 0700 if new)
 * unless it exists: readers see no file or the whole file, and of writers
 * racing to create it exactly one succeeds. Returns false when it existed.
 */
export function createFileOnce(path: string, data: Uint8Array): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(temporary, "wx", 0o600);
  try {
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link(2), unlike rename(2), fails when the target exists: the first writer wins.
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    unlinkSync(temporary);
  }
}
