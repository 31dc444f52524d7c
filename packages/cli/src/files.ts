import { readFileSync, statSync } from "node:fs";
import { readRootCertificate } from "@strongroom/nitro";
import { UsageError } from "./options.ts";

/** Reads a file named by an option, refusing one larger than `limit` bytes (a wrong path, not a bigger input). */
export function readFileBounded(path: string, limit: number, what: string): Buffer {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  if (size > limit) throw new UsageError(`${what} ${path} is ${size} bytes; at most ${limit} are expected`);
  return readFileSync(path);
}

/** The root certificate (PEM or DER file) that `option` names, e.g. a simulator's attestation-root.pem. */
export function readRootCertificateFile(path: string, option: string): Uint8Array {
  const pemOrDer = readFileBounded(path, 64 * 1024, option);
  try {
    return readRootCertificate(pemOrDer.includes("-----BEGIN") ? pemOrDer.toString("latin1") : new Uint8Array(pemOrDer));
  } catch (error) {
    throw new UsageError(`${option}: ${path}: ${(error as Error).message}`);
  }
}
