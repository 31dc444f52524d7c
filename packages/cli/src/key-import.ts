import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { readFileBounded } from "./files.ts";
import { UsageError } from "./options.ts";
import { readSecret, readSecretOrPrompt } from "./secrets.ts";
import type { SignerClient } from "./signer-client.ts";

/**
 * `strongroom keys import DIR`: EIP-2335 keystores from a directory into a
 * signer through the Key Manager API (POST /eth/v1/keystores), laid out as
 * Web3Signer's key files are: `NAME.json` beside its password in `NAME.txt`.
 */

/** Keystores per request: a bound on each body and on how many passwords are in memory at once. */
export const IMPORT_BATCH = 100;
/** An EIP-2335 keystore is a few kilobytes; a larger .json in the directory is something else. */
const MAX_KEYSTORE_BYTES = 64 * 1024;

interface KeystoreFile {
  readonly path: string;
  /** The keystore's JSON text, sent as it is (it is encrypted). */
  readonly text: string;
  /** 0x-prefixed, when the keystore names it: for the summary. */
  readonly publicKey: string | undefined;
  /** `NAME.txt` beside it, unless one --password serves every keystore. */
  readonly passwordFile: string | undefined;
}

export interface ImportSettings {
  readonly dir: string;
  /** env:, file: or prompt: one password for every keystore; otherwise each keystore's NAME.txt. */
  readonly password: string | undefined;
  readonly persist: boolean;
}

/** Every keystore of the directory, checked (JSON, a password file for each) before anything is sent. */
function readKeystoreDirectory(dir: string, sharedPassword: boolean): KeystoreFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith(".json")).sort();
  } catch (error) {
    throw new UsageError(`<dir>: cannot read ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (names.length === 0) throw new UsageError(`<dir>: ${dir} holds no *.json keystore`);
  return names.map((name) => {
    const path = join(dir, name);
    const text = readFileBounded(path, MAX_KEYSTORE_BYTES, "keystore").toString("utf8");
    let keystore: unknown;
    try {
      keystore = JSON.parse(text);
    } catch {
      throw new UsageError(`${path} is not JSON; every *.json in the directory must be an EIP-2335 keystore`);
    }
    const pubkey = (keystore as { pubkey?: unknown } | null)?.pubkey;
    const passwordFile = sharedPassword ? undefined : join(dir, `${name.slice(0, -".json".length)}.txt`);
    if (passwordFile !== undefined && !existsSync(passwordFile)) {
      throw new UsageError(`${passwordFile} is missing: put each keystore's password beside it in NAME.txt, or give --password for all of them`);
    }
    return { path, text, publicKey: typeof pubkey === "string" ? `0x${pubkey.replace(/^0x/, "")}` : undefined, passwordFile };
  });
}

interface ImportResult {
  readonly status: string;
  readonly message?: string;
}

/** Imports every keystore, a batch per request, printing a line per key; throws if any was refused. */
export async function importKeystores(signer: SignerClient, settings: ImportSettings, env: NodeJS.ProcessEnv): Promise<void> {
  const files = readKeystoreDirectory(settings.dir, settings.password !== undefined);
  signer.checkToken();
  const shared = settings.password === undefined ? undefined : await readSecretOrPrompt(settings.password, "--password", env, { question: "Password of the keystores: ", confirm: false });
  let failed = 0;
  try {
    for (let start = 0; start < files.length; start += IMPORT_BATCH) {
      const batch = files.slice(start, start + IMPORT_BATCH);
      // The Key Manager API takes passwords as JSON strings, the one place the CLI sends a secret that way
      // (strings cannot be zeroed); each batch's live only for its request.
      const passwords = batch.map((file) => passwordText(file, shared, env));
      const answer = await signer.callJson({ method: "POST", path: "/eth/v1/keystores", json: { keystores: batch.map((file) => file.text), passwords, persist: settings.persist } });
      const results = (answer as { data?: unknown } | null)?.data;
      if (!Array.isArray(results) || results.length !== batch.length) throw new Error(`the signer answered ${batch.length} keystores with something other than ${batch.length} results`);
      batch.forEach((file, i) => {
        const { status, message } = results[i] as ImportResult;
        if (status === "error") failed++;
        process.stdout.write(`${String(status).padEnd(9)} ${file.publicKey ?? "(no pubkey)"} ${basename(file.path)}${message ? `: ${message}` : ""}\n`);
      });
    }
  } finally {
    shared?.fill(0);
  }
  if (failed > 0) throw new Error(`${failed} of ${files.length} keystores were not imported (status error)`);
}

function passwordText(file: KeystoreFile, shared: Buffer | undefined, env: NodeJS.ProcessEnv): string {
  // Bytes without one trailing newline, as Web3Signer reads its password files.
  const bytes = shared ?? readSecret(`file:${file.passwordFile}`, `password of ${basename(file.path)}`, env);
  try {
    return bytes.toString("utf8");
  } finally {
    if (bytes !== shared) bytes.fill(0);
  }
}
