import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { blsPublicKey } from "./bls.ts";
import { KeystoreDecryptPool } from "./decrypt-pool.ts";
import { MAX_KEYSTORE_BYTES, parseKeystore } from "./eip2335.ts";
import { KeystoreError } from "./errors.ts";
import { readFileCapped, readPasswordFile } from "./files.ts";
import { parseKeyConfigFile, type KeyConfigDocument } from "./key-config.ts";

/** Where keys come from, named after the Web3Signer options they mirror. */
export interface KeySources {
  /** --key-config-path (--key-store-path): *.yaml / *.yml key-config files. */
  keyConfigDir?: string;
  /** --keystores-path: *.json EIP-2335 keystores (Web3Signer's bulk loading). */
  keystoresPath?: string;
  /** --keystores-passwords-path: `<keystore file name minus .json>.txt` per keystore. */
  keystoresPasswordsPath?: string;
  /** --keystores-password-file: one password for every keystore in keystoresPath. */
  keystoresPasswordFile?: string;
}

export interface LoadedKey {
  publicKey: Uint8Array;
  /** Owned by the onKey handler from then on: it zeroes it when dropped. */
  secretKey: Uint8Array;
  /** The file the key came from: a key-config file or a keystore. */
  source: string;
  /** The keystore's EIP-2334 path; undefined for file-raw keys. */
  derivationPath: string | undefined;
}

export interface KeyLoadFailure {
  source: string;
  message: string;
}

/** total grows while sources are listed; at done, total = loaded + failed. */
export interface KeyLoadProgress {
  total: number;
  loaded: number;
  failed: number;
  done: boolean;
}

/** Called as each key or failure is known. Handlers must not throw. */
export interface KeyLoadHandlers {
  onKey(key: LoadedKey): void;
  onFailure(failure: KeyLoadFailure): void;
}

export interface KeyLoadOptions {
  /** Worker threads for a pool of the loader's own; default: all cores. */
  threads?: number;
  /** Use this pool (e.g. shared with the Key Manager API) and leave it open. */
  pool?: KeystoreDecryptPool;
}

export interface KeyLoad {
  progress(): KeyLoadProgress;
  /** Resolves when every source is loaded or reported failed. */
  done: Promise<KeyLoadProgress>;
}

/** Web3Signer reads key-config files of any size; this bound is generous. */
const MAX_KEY_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

interface KeystoreJob {
  source: string;
  keystoreFile: string;
  password(): Promise<Uint8Array>;
}

function describe(error: unknown): string {
  if (error instanceof KeystoreError) return error.message;
  return `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
}

/** Names in `dir` matching `pattern`, sorted so that loading order is stable. */
async function listDir(dir: string, pattern: RegExp): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeystoreError(code === "ENOENT" ? `directory not found: ${dir}` : `cannot list directory ${dir}: ${code ?? "error"}`);
  }
  return names.filter((name) => pattern.test(name)).sort();
}

/** Run `fn` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let item = items[next++]; item !== undefined; item = items[next++]) await fn(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Load every key from the given sources without blocking: returns at once,
 * hands each key to `onKey` as soon as it is decrypted (keystores decrypt in
 * parallel on worker threads), reports each broken file to `onFailure` by
 * name without stopping the others, and tracks progress.
 *
 * Web3Signer behaviours kept: key-config files are the non-hidden *.yaml/*.yml
 * files (case-insensitive) of the directory, each possibly holding several
 * YAML documents; relative keystoreFile/keystorePasswordFile paths resolve
 * against that directory; bulk keystores are the *.json files (case-
 * insensitive), each with its password in `<name>.txt`. The same key from two
 * sources is delivered twice: the key store deduplicates.
 */
export function loadKeys(sources: KeySources, handlers: KeyLoadHandlers, options: KeyLoadOptions = {}): KeyLoad {
  const { keystoresPath, keystoresPasswordsPath, keystoresPasswordFile } = sources;
  if (keystoresPath !== undefined && (keystoresPasswordsPath === undefined) === (keystoresPasswordFile === undefined)) {
    throw new TypeError("keystoresPath needs exactly one of keystoresPasswordsPath and keystoresPasswordFile");
  }
  const state: KeyLoadProgress = { total: 0, loaded: 0, failed: 0, done: false };
  const fail = (source: string, error: unknown) => {
    state.failed++;
    handlers.onFailure({ source, message: describe(error) });
  };
  /** Takes ownership of secretKey: delivers it with its public key, or zeroes it. */
  const deliver = (source: string, secretKey: Uint8Array, derivationPath: string | undefined, what: string) => {
    let publicKey: Uint8Array;
    try {
      publicKey = blsPublicKey(secretKey, what);
    } catch (error) {
      secretKey.fill(0);
      fail(source, error);
      return;
    }
    state.loaded++;
    handlers.onKey({ publicKey, secretKey, source, derivationPath });
  };

  // Listing and reading key-config files is quick; decryption is not. All
  // sources are listed first so `total` is final before the slow part starts.
  const discoverKeyConfigs = async (dir: string, jobs: KeystoreJob[]) => {
    for (const name of await listDir(dir, /^[^.].*\.ya?ml$/i)) {
      const file = join(dir, name);
      let docs: KeyConfigDocument[];
      try {
        const content = await readFileCapped(file, MAX_KEY_CONFIG_FILE_BYTES, "key-config file");
        try {
          // The text may hold a privateKey: zero the bytes, though the decoded
          // string (which the YAML parser needs) cannot be.
          docs = parseKeyConfigFile(content.toString("utf8"), file);
        } finally {
          content.fill(0);
        }
      } catch (error) {
        state.total++;
        fail(file, error);
        continue;
      }
      for (const doc of docs) {
        state.total++;
        if ("error" in doc) {
          fail(doc.source, new KeystoreError(doc.error));
        } else if (doc.config.type === "file-raw") {
          deliver(doc.source, doc.config.secretKey, undefined, "privateKey");
        } else {
          const { keystoreFile, keystorePasswordFile } = doc.config;
          jobs.push({ source: doc.source, keystoreFile, password: () => readPasswordFile(keystorePasswordFile, "first-line") });
        }
      }
    }
  };

  const discoverKeystores = async (dir: string, jobs: KeystoreJob[], password: (name: string) => () => Promise<Uint8Array>) => {
    for (const name of await listDir(dir, /\.json$/i)) {
      state.total++;
      const keystoreFile = join(dir, name);
      jobs.push({ source: keystoreFile, keystoreFile, password: password(name.slice(0, -".json".length)) });
    }
  };

  const decrypt = async (job: KeystoreJob, pool: KeystoreDecryptPool) => {
    let secretKey: Uint8Array;
    let derivationPath: string | undefined;
    try {
      const keystore = parseKeystore(await readFileCapped(job.keystoreFile, MAX_KEYSTORE_BYTES, "keystore file"));
      derivationPath = keystore.path;
      const password = await job.password();
      try {
        secretKey = await pool.decrypt(keystore, password);
      } finally {
        password.fill(0);
      }
    } catch (error) {
      fail(job.source, error);
      return;
    }
    deliver(job.source, secretKey, derivationPath, "the decrypted secret");
  };

  const discoverSource = async (source: string, discover: () => Promise<void>) => {
    try {
      await discover();
    } catch (error) {
      state.total++;
      fail(source, error);
    }
  };

  const run = async (): Promise<KeyLoadProgress> => {
    const jobs: KeystoreJob[] = [];
    let sharedPassword: Uint8Array | undefined;
    try {
      if (sources.keyConfigDir !== undefined) {
        const dir = sources.keyConfigDir;
        await discoverSource(dir, () => discoverKeyConfigs(dir, jobs));
      }
      if (keystoresPath !== undefined && keystoresPasswordsPath !== undefined) {
        // Web3Signer reads the whole password file: no trimming (see files.ts).
        const passwords = keystoresPasswordsPath;
        await discoverSource(keystoresPath, () =>
          discoverKeystores(keystoresPath, jobs, (base) => () => readPasswordFile(join(passwords, `${base}.txt`), "whole-file")),
        );
      } else if (keystoresPath !== undefined && keystoresPasswordFile !== undefined) {
        // As in Web3Signer, an unreadable shared password file is one failure.
        await discoverSource(keystoresPasswordFile, async () => {
          sharedPassword = await readPasswordFile(keystoresPasswordFile, "whole-file");
        });
        const shared = sharedPassword;
        if (shared !== undefined) {
          await discoverSource(keystoresPath, () => discoverKeystores(keystoresPath, jobs, () => async () => shared.slice()));
        }
      }
      const pool = options.pool ?? new KeystoreDecryptPool(options.threads);
      try {
        // Two jobs per thread: enough to keep every worker busy, while only a
        // few passwords are read into memory ahead of their decryption.
        await forEachLimited(jobs, pool.threads * 2, (job) => decrypt(job, pool));
      } finally {
        if (options.pool === undefined) await pool.close();
      }
    } finally {
      sharedPassword?.fill(0);
    }
    state.done = true;
    return { ...state };
  };

  return { progress: () => ({ ...state }), done: run() };
}
