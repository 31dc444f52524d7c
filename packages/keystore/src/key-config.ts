import { dirname, resolve } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import { KeystoreError, quoted } from "./errors.ts";
import { decodeHex } from "./hex.ts";

/** A Web3Signer key-config document that strongroom can load. */
export type KeyConfig =
  | { type: "file-raw"; secretKey: Uint8Array }
  | { type: "file-keystore"; keystoreFile: string; keystorePasswordFile: string };

/** One document of a key-config file: its config, or why it was refused. */
export type KeyConfigDocument = { source: string } & ({ config: KeyConfig } | { error: string });

type Yaml = Record<string, unknown>;

function field(doc: Yaml, name: string): string {
  const value = doc[name];
  if (typeof value !== "string" || value === "") throw new KeystoreError(`${name}: expected a non-empty string`);
  return value;
}

function parseDocument(doc: unknown, configDir: string): KeyConfig {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new KeystoreError("expected a mapping with a type field");
  const yaml = doc as Yaml;
  // Web3Signer defaults keyType to BLS and matches it case-insensitively.
  const keyType = yaml.keyType === undefined ? "BLS" : field(yaml, "keyType").toUpperCase();
  if (keyType === "SECP256K1") throw new KeystoreError("keyType: SECP256K1 keys are not supported, strongroom signs with BLS keys only");
  if (keyType !== "BLS") throw new KeystoreError("keyType: expected BLS");
  const type = field(yaml, "type");
  switch (type) {
    case "file-raw":
      // The YAML parser already holds the hex as an immutable string; that
      // copy is inherent to the file-raw format. The bytes are ours to zero.
      return { type, secretKey: decodeHex(yaml.privateKey, "privateKey", 32) };
    case "file-keystore":
      // Web3Signer resolves relative paths against the key-config directory.
      return {
        type,
        keystoreFile: resolve(configDir, field(yaml, "keystoreFile")),
        keystorePasswordFile: resolve(configDir, field(yaml, "keystorePasswordFile")),
      };
    default:
      throw new KeystoreError(`type: unsupported key config type ${quoted(type)}, strongroom loads file-raw and file-keystore`);
  }
}

/**
 * Parse one Web3Signer key-config file. Like Web3Signer, a file may hold
 * several YAML documents; each is reported on its own. A YAML syntax error
 * refuses the whole file (thrown as KeystoreError).
 *
 * Scalars are read with the failsafe schema, so `privateKey: 0x…` stays a
 * string instead of becoming a (lossy) hex number.
 */
export function parseKeyConfigFile(text: string, file: string): KeyConfigDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { schema: "failsafe", prettyErrors: false, lineCounter });
  if (!Array.isArray(docs) || docs.length === 0) throw new KeystoreError("no key configuration in the file");
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error !== undefined) {
      // Only the code and position: the library's pretty message quotes the
      // source line, which may be a privateKey.
      const at = lineCounter.linePos(error.pos[0]);
      throw new KeystoreError(`invalid YAML (${error.code}) at line ${at.line}, column ${at.col}`);
    }
  }
  return docs.map((doc, i) => {
    const source = docs.length === 1 ? file : `${file} (document ${i + 1})`;
    try {
      return { source, config: parseDocument(doc.toJS(), dirname(file)) };
    } catch (error) {
      // toJS() itself may refuse, e.g. on excessive aliases.
      return { source, error: error instanceof KeystoreError ? error.message : "invalid YAML document" };
    }
  });
}
