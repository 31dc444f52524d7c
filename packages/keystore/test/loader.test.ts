import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretKey } from "@chainsafe/blst";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encryptKeystore, interopSecretKey, loadKeys, type KeyLoadFailure, type KeySources, type LoadedKey } from "../src/index.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const pubkeyHex = (i: number) => Buffer.from(SecretKey.fromBytes(interopSecretKey(i)).toPublicKey().toBytes()).toString("hex");
const skHex = (i: number) => `0x${Buffer.from(interopSecretKey(i)).toString("hex")}`;
const SCRYPT = { function: "scrypt", n: 1024, r: 8, p: 1 } as const;
const PBKDF2 = { function: "pbkdf2", c: 1000 } as const;
const keystore = (i: number, password: string, kdf: typeof SCRYPT | typeof PBKDF2 = SCRYPT) =>
  JSON.stringify(encryptKeystore(interopSecretKey(i), utf8(password), { kdf, path: `m/12381/3600/${i}/0/0` }));

/** Runs a load to completion, collecting what the handlers saw. */
async function load(sources: KeySources) {
  const keys: LoadedKey[] = [];
  const failures: KeyLoadFailure[] = [];
  const loading = loadKeys(sources, { onKey: (k) => keys.push(k), onFailure: (f) => failures.push(f) }, { threads: 2 });
  expect(loading.progress().done).toBe(false);
  const final = await loading.done;
  expect(loading.progress()).toEqual(final);
  expect(final.loaded + final.failed).toBe(final.total);
  const bySource = Object.fromEntries(keys.map((k) => [k.source, Buffer.from(k.publicKey).toString("hex")]));
  const failed = Object.fromEntries(failures.map((f) => [f.source, f.message]));
  return { final, keys, bySource, failed };
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "strongroom-keystore-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe("--keystores-path / --keystores-passwords-path", () => {
  test("good keystores load with the right key, broken ones are reported by file name", async () => {
    const ks = join(root, "bulk", "keystores");
    const pw = join(root, "bulk", "passwords");
    await mkdir(ks, { recursive: true });
    await mkdir(pw, { recursive: true });
    const files: [string, string][] = [
      [join(ks, "k0.json"), keystore(0, "zero")],
      [join(pw, "k0.txt"), "zero\n"], // trailing newline: removed by EIP-2335 normalisation
      [join(ks, "k1.JSON"), keystore(1, "one two", PBKDF2)],
      [join(pw, "k1.txt"), "one two\r\n"], // inner space kept, CRLF normalised away
      [join(ks, "k2.json"), keystore(2, "two")],
      [join(pw, "k2.txt"), "wrong"],
      [join(ks, "k3.json"), keystore(3, "three")], // no password file
      [join(ks, "k4.json"), "{ not json"],
      [join(pw, "k4.txt"), "x"],
      [join(ks, "k5.json"), keystore(5, "five ")],
      [join(pw, "k5.txt"), "five"], // trailing space is part of the password: no trimming
      [join(ks, "notes.txt"), "ignored: not *.json"],
    ];
    for (const [path, content] of files) await writeFile(path, content);

    const { final, bySource, failed, keys } = await load({ keystoresPath: ks, keystoresPasswordsPath: pw });
    expect(final).toEqual({ total: 6, loaded: 2, failed: 4, done: true });
    expect(bySource).toEqual({ [join(ks, "k0.json")]: pubkeyHex(0), [join(ks, "k1.JSON")]: pubkeyHex(1) });
    expect(keys.find((k) => k.source.endsWith("k1.JSON"))?.derivationPath).toBe("m/12381/3600/1/0/0");
    expect(keys.find((k) => k.source.endsWith("k1.JSON"))?.secretKey).toEqual(interopSecretKey(1));
    expect(failed).toEqual({
      [join(ks, "k2.json")]: "checksum mismatch: wrong password",
      [join(ks, "k3.json")]: `password file not found: ${join(pw, "k3.txt")}`,
      [join(ks, "k4.json")]: "keystore is not valid JSON",
      [join(ks, "k5.json")]: "checksum mismatch: wrong password",
    });
  });

  test("--keystores-password-file: one password for all", async () => {
    const ks = join(root, "shared", "keystores");
    await mkdir(ks, { recursive: true });
    await writeFile(join(ks, "a.json"), keystore(10, "same"));
    await writeFile(join(ks, "b.json"), keystore(11, "same", PBKDF2));
    await writeFile(join(root, "shared", "password"), "same\n");
    const { final, bySource } = await load({ keystoresPath: ks, keystoresPasswordFile: join(root, "shared", "password") });
    expect(final).toEqual({ total: 2, loaded: 2, failed: 0, done: true });
    expect(Object.values(bySource).sort()).toEqual([pubkeyHex(10), pubkeyHex(11)].sort());
  });

  test("a missing directory is one failure, not a crash", async () => {
    const missing = join(root, "nope");
    const { final, failed } = await load({ keystoresPath: missing, keystoresPasswordsPath: missing });
    expect(final).toEqual({ total: 1, loaded: 0, failed: 1, done: true });
    expect(failed).toEqual({ [missing]: `directory not found: ${missing}` });
  });

  test("keystoresPath needs exactly one password source", () => {
    const handlers = { onKey: () => {}, onFailure: () => {} };
    expect(() => loadKeys({ keystoresPath: root }, handlers)).toThrow(TypeError);
  });
});

describe("key-config directory", () => {
  test("file-raw and file-keystore configs load; broken files are reported by name", async () => {
    const dir = join(root, "configs");
    await mkdir(join(dir, "store"), { recursive: true });
    const files: [string, string][] = [
      ["raw.yaml", `type: "file-raw"\nkeyType: "BLS"\nprivateKey: "${skHex(20)}"\n`],
      ["keystore.YML", "type: file-keystore\nkeystoreFile: store/k21.json\nkeystorePasswordFile: store/k21.pass\n"],
      ["store/k21.json", keystore(21, "pass word")],
      ["store/k21.pass", "pass word\nsecond line is not part of the password\n"],
      ["multi.yaml", `type: file-raw\nprivateKey: ${skHex(22)}\n---\ntype: file-raw\nprivateKey: ${skHex(23)}\n`],
      ["blank.yaml", "type: file-keystore\nkeystoreFile: store/k21.json\nkeystorePasswordFile: store/blank.pass\n"],
      ["store/blank.pass", "   \nreal password on line 2\n"],
      ["zero.yaml", `type: file-raw\nprivateKey: 0x${"00".repeat(32)}\n`],
      ["vault.yaml", "type: hashicorp\nkeyPath: /v1/secret/data/key\n"],
      ["broken.yaml", "type: file-raw\n  privateKey: [\n"],
      ["missing.yaml", "type: file-keystore\nkeystoreFile: store/none.json\nkeystorePasswordFile: store/k21.pass\n"],
      [".hidden.yaml", `type: file-raw\nprivateKey: ${skHex(24)}\n`],
      ["readme.md", "not a config"],
    ];
    for (const [name, content] of files) await writeFile(join(dir, name), content);

    const { final, bySource, failed } = await load({ keyConfigDir: dir });
    expect(final).toEqual({ total: 9, loaded: 4, failed: 5, done: true });
    expect(bySource).toEqual({
      [join(dir, "raw.yaml")]: pubkeyHex(20),
      [join(dir, "keystore.YML")]: pubkeyHex(21),
      [`${join(dir, "multi.yaml")} (document 1)`]: pubkeyHex(22),
      [`${join(dir, "multi.yaml")} (document 2)`]: pubkeyHex(23),
    });
    expect(failed).toEqual({
      [join(dir, "blank.yaml")]: `password cannot be empty: ${join(dir, "store", "blank.pass")}`,
      [join(dir, "zero.yaml")]: "privateKey is not a valid BLS secret key",
      [join(dir, "vault.yaml")]: 'type: unsupported key config type "hashicorp", strongroom loads file-raw and file-keystore',
      [join(dir, "broken.yaml")]: expect.stringMatching(/^invalid YAML/),
      [join(dir, "missing.yaml")]: `keystore file not found: ${join(dir, "store", "none.json")}`,
    });
  });
});
