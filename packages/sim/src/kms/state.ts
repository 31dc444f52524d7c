// The KMS simulator's keys, kept in <dir>/kms-state.json (mode 0600): every
// key's metadata, policy and 256-bit backing key. Each change rewrites the
// file atomically (a temporary file in the same directory, fsync, rename), so
// a crash leaves the old state or the new one, never half of either.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

export const STATE_FILE = "kms-state.json";
const STATE_VERSION = 1;
const MAX_STATE_BYTES = 64 * 1024 * 1024;

export interface StoredKey {
  readonly keyId: string;
  description: string;
  /** Seconds since the epoch, as KMS reports CreationDate. */
  readonly creationDate: number;
  enabled: boolean;
  policy: string;
  /** The backing key: secret, zeroed by the simulator when it closes. */
  readonly backingKey: Uint8Array;
}

interface StateFile {
  readonly version: number;
  readonly region: string;
  readonly accountId: string;
  readonly keys: ReadonlyArray<{ keyId: string; description: string; creationDate: number; enabled: boolean; policy: string; backingKey: string }>;
}

export class KmsState {
  readonly path: string;
  readonly keys = new Map<string, StoredKey>();
  readonly #region: string;
  readonly #accountId: string;

  private constructor(path: string, region: string, accountId: string) {
    this.path = path;
    this.#region = region;
    this.#accountId = accountId;
  }

  /** Loads the state in `dir`, or starts an empty one; refuses a file open to others, or one made for another region or account. */
  static load(dir: string, region: string, accountId: string): KmsState {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const state = new KmsState(join(dir, STATE_FILE), region, accountId);
    let text: Buffer;
    try {
      const mode = statSync(state.path).mode;
      if ((mode & 0o077) !== 0) throw new Error(`${state.path} holds KMS key material and is open to group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
      text = readFileSync(state.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return state;
      throw error;
    }
    if (text.length > MAX_STATE_BYTES) throw new Error(`${state.path} is larger than ${MAX_STATE_BYTES} bytes`);
    let parsed: StateFile;
    try {
      parsed = JSON.parse(text.toString("utf8")) as StateFile;
    } catch {
      throw new Error(`${state.path} is not valid JSON`);
    } finally {
      text.fill(0);
    }
    if (parsed.version !== STATE_VERSION || !Array.isArray(parsed.keys)) throw new Error(`${state.path} is not a version ${STATE_VERSION} KMS simulator state`);
    if (parsed.region !== region || parsed.accountId !== accountId) {
      throw new Error(`${state.path} holds keys of account ${parsed.accountId} in ${parsed.region}, not ${accountId} in ${region}; use another directory`);
    }
    for (const key of parsed.keys) {
      const backingKey = new Uint8Array(Buffer.from(key.backingKey, "base64"));
      if (backingKey.length !== 32 || typeof key.keyId !== "string" || typeof key.policy !== "string") throw new Error(`${state.path}: key ${String(key.keyId)} is damaged`);
      state.keys.set(key.keyId, { keyId: key.keyId, description: key.description, creationDate: key.creationDate, enabled: key.enabled === true, policy: key.policy, backingKey });
    }
    return state;
  }

  /** Writes the whole state atomically. */
  save(): void {
    const file: StateFile = {
      version: STATE_VERSION,
      region: this.#region,
      accountId: this.#accountId,
      keys: [...this.keys.values()].map((key) => ({
        keyId: key.keyId,
        description: key.description,
        creationDate: key.creationDate,
        enabled: key.enabled,
        policy: key.policy,
        backingKey: Buffer.from(key.backingKey).toString("base64"),
      })),
    };
    // The serialised form holds the backing keys: it lives in a Buffer, zeroed once written.
    const bytes = Buffer.from(JSON.stringify(file, null, 2), "utf8");
    const temporary = `${this.path}.${process.pid}.tmp`;
    try {
      removeIfPresent(temporary);
      // "wx": created here, so the mode is this one (a leftover file's would not change).
      const fd = openSync(temporary, "wx", 0o600);
      try {
        writeSync(fd, bytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, this.path);
    } catch (error) {
      try {
        removeIfPresent(temporary);
      } catch {
        // The write's own failure is the one to report.
      }
      throw error;
    } finally {
      bytes.fill(0);
    }
  }

  /** Zeroes every backing key held in memory. */
  wipe(): void {
    for (const key of this.keys.values()) key.backingKey.fill(0);
    this.keys.clear();
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
