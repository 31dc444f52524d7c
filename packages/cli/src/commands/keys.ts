import type { Command } from "../cli.ts";
import { clientCommand, requestCommand } from "../client-command.ts";
import { generateKeys, MAX_GENERATE, prepareBackupDirectory, readBackupKey, RECOVERY_HELP } from "../key-backup.ts";
import { IMPORT_BATCH, importKeystores } from "../key-import.ts";
import { UsageError, type OptionTable } from "../options.ts";

/**
 * `strongroom keys …`: the signing keys an enclave keeps sealed under its
 * vault's master key (available while the vault is unsealed): list, switch
 * on and off, delete, import from keystores, generate inside the enclave.
 */

const KEYS = "/api/v1/strongroom/keys";
const NO_OPTIONS = [] as const satisfies OptionTable;

/** The path segment of a public key given as `<public-key>`. */
function publicKeySegment(value: string | undefined): string {
  if (value === undefined || !/^0x[0-9a-fA-F]{96}$/.test(value)) throw new UsageError("<public-key>: expected a 48-byte BLS public key, 0x and 96 hex digits");
  return value.toLowerCase();
}

const IMPORT_OPTIONS = [
  { name: "password", kind: "string", description: "one password for every keystore: env:NAME, file:/path or prompt (default: each NAME.json's password in NAME.txt beside it)" },
  { name: "no-persist", kind: "boolean", default: false, description: "import into the enclave's memory only; by default each key is also sealed under the vault's master key and stored, so it survives a restart" },
] as const satisfies OptionTable;

const GENERATE_OPTIONS = [
  { name: "backup-key", kind: "string", description: "PEM file of an RSA public key (at least 2048 bits) to which each keystore's password is encrypted for the backup" },
  { name: "out", kind: "string", description: "directory for the backups (made with mode 0700 if missing)" },
] as const satisfies OptionTable;

export const KEYS_COMMANDS: Record<string, Command> = {
  list: requestCommand("List the sealed keys: status (active or inactive), whether loaded, when created and changed, why one failed to load.", NO_OPTIONS, [], () => ({ method: "GET", path: KEYS })),
  activate: requestCommand("Load a sealed key and sign with it.", NO_OPTIONS, ["public-key"], (_v, [key]) => ({ method: "POST", path: `${KEYS}/${publicKeySegment(key)}/activate` })),
  deactivate: requestCommand("Stop signing with a sealed key and unload it; it stays stored.", NO_OPTIONS, ["public-key"], (_v, [key]) => ({ method: "POST", path: `${KEYS}/${publicKeySegment(key)}/deactivate` })),
  delete: requestCommand("Delete a sealed key from the store (keep a backup: this cannot be undone).", NO_OPTIONS, ["public-key"], (_v, [key]) => ({ method: "DELETE", path: `${KEYS}/${publicKeySegment(key)}` })),
  import: clientCommand({
    summary: "Import the EIP-2335 keystores (*.json) of a directory through the Key Manager API, sealed and stored unless --no-persist.",
    details: `Each NAME.json's password is read from NAME.txt beside it (its bytes, without one trailing newline), as with Web3Signer's key files, unless --password gives one for all. Keystores go ${IMPORT_BATCH} per request; a line per key shows its status (imported, duplicate, error), and the command exits 1 if any failed.`,
    options: IMPORT_OPTIONS,
    positionals: ["dir"],
    run: (signer, values, env) => importKeystores(signer, { dir: values.positionals[0]!, password: values.password, persist: !values["no-persist"] }, env),
  }),
  generate: clientCommand({
    summary: "Generate keys inside the enclave (sealed, active) and write a backup of each: its keystore, and its password encrypted to --backup-key.",
    details: RECOVERY_HELP,
    options: GENERATE_OPTIONS,
    positionals: ["count"],
    async run(signer, values) {
      const countText = values.positionals[0]!;
      const count = /^\d{1,4}$/.test(countText) ? Number(countText) : 0;
      if (count < 1 || count > MAX_GENERATE) throw new UsageError(`<count>: expected an integer from 1 to ${MAX_GENERATE}`);
      if (values["backup-key"] === undefined) throw new UsageError("--backup-key is required: the RSA public key (PEM) that each backup's password is encrypted to");
      if (values.out === undefined) throw new UsageError("--out is required: the directory for the backups");
      const backupKey = readBackupKey(values["backup-key"]);
      prepareBackupDirectory(values.out);
      await generateKeys(signer, count, backupKey, values.out);
    },
  }),
};
