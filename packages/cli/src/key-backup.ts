import { createPublicKey, type KeyObject } from "node:crypto";
import { closeSync, fchmodSync, mkdirSync, openSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { readFileBounded } from "./files.ts";
import { UsageError } from "./options.ts";
import type { SignerClient } from "./signer-client.ts";

/**
 * `strongroom keys generate`: the enclave makes the keys and seals them; the
 * operator keeps a backup of each — its keystore, and the keystore's
 * password encrypted (RSA-OAEP-SHA256) to a backup key whose private half
 * never meets the signer.
 */

export const MAX_GENERATE = 1000;
const MIN_RSA_BITS = 2048;

export const RECOVERY_HELP =
  "Each key's backup is DIR/keystore-PUBKEY.json and DIR/keystore-PUBKEY.password.enc (written 0600, never overwritten). To recover a keystore's password, with the private half of the backup key: base64 -d DIR/keystore-PUBKEY.password.enc | openssl pkeyutl -decrypt -inkey backup.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256";

/** The backup key's public half as SPKI PEM, checked here (RSA, at least 2048 bits, not a private key) so that no key is made for a wrong file. */
export function readBackupKey(path: string): string {
  const text = readFileBounded(path, 64 * 1024, "--backup-key").toString("utf8");
  if (text.includes("PRIVATE KEY")) {
    throw new UsageError(`--backup-key: ${path} holds a private key; give only its public half (openssl pkey -in ${path} -pubout -out backup.pub.pem) and keep the private half away from the signer's machines`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (error) {
    throw new UsageError(`--backup-key: ${path} is not a PEM public key: ${(error as Error).message}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== "rsa" || bits < MIN_RSA_BITS) throw new UsageError(`--backup-key: ${path} must be an RSA public key of at least ${MIN_RSA_BITS} bits`);
  return key.export({ type: "spki", format: "pem" }).toString();
}

/** The output directory, made 0700 if missing: before any key is generated, so a bad --out costs nothing. */
export function prepareBackupDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UsageError(`--out: cannot make ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!statSync(dir).isDirectory()) throw new UsageError(`--out: ${dir} is not a directory`);
}

interface GeneratedKey {
  readonly public_key: string;
  readonly keystore: unknown;
  readonly encrypted_password: string;
}

const PUBLIC_KEY = /^0x[0-9a-fA-F]{96}$/;

/** Asks the enclave for `count` keys and writes each one's backup into `dir`; prints their public keys. */
export async function generateKeys(signer: SignerClient, count: number, backupKey: string, dir: string): Promise<void> {
  const answer = await signer.callJson({ method: "POST", path: "/api/v1/strongroom/keys/generate", json: { count, backup_public_key: backupKey } });
  const generated = (answer as { data?: unknown } | null)?.data;
  if (!Array.isArray(generated)) throw new Error("the signer's answer has no data array");
  const unwritten: string[] = [];
  for (const key of generated as GeneratedKey[]) {
    if (typeof key.public_key !== "string" || !PUBLIC_KEY.test(key.public_key) || typeof key.encrypted_password !== "string" || typeof key.keystore !== "object" || key.keystore === null) {
      throw new Error("the signer's answer has an entry without a public key, keystore and encrypted password");
    }
    const name = `keystore-${key.public_key.slice(2).toLowerCase()}`;
    try {
      writeNew(join(dir, `${name}.json`), `${JSON.stringify(key.keystore, null, 2)}\n`);
      writeNew(join(dir, `${name}.password.enc`), `${key.encrypted_password}\n`);
    } catch (error) {
      // The key exists in the signer now: its backup must not be lost with the file that could not be written.
      unwritten.push(key.public_key);
      process.stderr.write(`cannot write the backup of ${key.public_key} in ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); keep this copy of it instead: ${JSON.stringify(key)}\n`);
      continue;
    }
    process.stdout.write(`${key.public_key}\n`);
  }
  if (unwritten.length > 0) throw new Error(`${unwritten.length} of ${generated.length} backups were not written (existing files are never overwritten); their copies are above on stderr`);
}

/** Creates `path` with mode 0600 (whatever the umask), refusing one that exists. */
function writeNew(path: string, text: string): void {
  const fd = openSync(path, "wx", 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
