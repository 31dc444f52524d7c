import { describe, expect, test } from "vitest";
import { interopSecretKey, KeystoreError, parseKeyConfigFile } from "../src/index.ts";

const skHex = (i: number) => `0x${Buffer.from(interopSecretKey(i)).toString("hex")}`;

describe("parseKeyConfigFile (Web3Signer key-config YAML)", () => {
  test("file-raw: unquoted 0x hex stays a string and decodes to the key; keyType defaults to BLS", () => {
    const [doc] = parseKeyConfigFile(`type: "file-raw"\nprivateKey: ${skHex(0)}\n`, "/keys/a.yaml");
    expect(doc).toEqual({ source: "/keys/a.yaml", config: { type: "file-raw", secretKey: interopSecretKey(0) } });
  });

  test("file-keystore: relative paths resolve against the config directory, absolute ones stay", () => {
    const text = "type: file-keystore\nkeyType: bls\nkeystoreFile: ks/a.json\nkeystorePasswordFile: /secrets/a.txt\n";
    expect(parseKeyConfigFile(text, "/etc/keys/a.yml")).toEqual([
      {
        source: "/etc/keys/a.yml",
        config: { type: "file-keystore", keystoreFile: "/etc/keys/ks/a.json", keystorePasswordFile: "/secrets/a.txt" },
      },
    ]);
  });

  test("several documents in one file are reported one by one", () => {
    const text = [`type: file-raw\nprivateKey: "${skHex(1)}"`, "type: hashicorp\nkeyPath: /v1/secret", "type: file-raw\nprivateKey: 0x1234"].join("\n---\n");
    const docs = parseKeyConfigFile(text, "/k/multi.yaml");
    expect(docs.map((d) => d.source)).toEqual(["/k/multi.yaml (document 1)", "/k/multi.yaml (document 2)", "/k/multi.yaml (document 3)"]);
    expect(docs[0]).toMatchObject({ config: { type: "file-raw" } });
    expect(docs[1]).toMatchObject({ error: 'type: unsupported key config type "hashicorp", strongroom loads file-raw and file-keystore' });
    expect(docs[2]).toMatchObject({ error: "privateKey: expected 32 bytes of hex, got 2" });
  });

  test.each([
    ["keyType: SECP256K1\ntype: file-raw\nprivateKey: 0x00", "keyType: SECP256K1 keys are not supported, strongroom signs with BLS keys only"],
    ["type: file-raw", "privateKey: expected a hex string"],
    ["privateKey: 0x00", "type: expected a non-empty string"],
    ["type: file-keystore\nkeystoreFile: a.json", "keystorePasswordFile: expected a non-empty string"],
    ["- just\n- a list", "expected a mapping with a type field"],
    ["type: azure-secret", 'type: unsupported key config type "azure-secret", strongroom loads file-raw and file-keystore'],
  ])("refused document: %j", (text, error) => {
    expect(parseKeyConfigFile(text, "/k/x.yaml")).toEqual([{ source: "/k/x.yaml", error }]);
  });

  test("a YAML syntax error refuses the file without quoting its content", () => {
    const text = `type: file-raw\nprivateKey: ${skHex(2)}\n  bad: [indent\n`;
    let error: unknown;
    try {
      parseKeyConfigFile(text, "/k/bad.yaml");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeystoreError);
    expect((error as Error).message).toMatch(/^invalid YAML \([A-Z_]+\) at line \d+, column \d+$/);
    expect((error as Error).message).not.toContain(skHex(2).slice(2, 10));
  });

  test("an empty file is refused", () => {
    expect(() => parseKeyConfigFile("", "/k/empty.yaml")).toThrow(new KeystoreError("no key configuration in the file"));
  });
});
