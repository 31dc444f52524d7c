// `strongroom attest verify` end to end, as a user runs it.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { issueAttestationDocument, loadOrCreateSimulatedCa } from "@strongroom/nitro";
import { runCliToEnd } from "./support/cli-process.ts";

const VECTORS = new URL("../../shared/vectors/nitro/", import.meta.url);
const PRODUCTION = new URL("aws-production-2024-09-07.b64", VECTORS).pathname;
const DEBUG = new URL("aws-debug-2024-09-07.b64", VECTORS).pathname;
const PRODUCTION_AT = "--at=2024-09-07T14:37:39.545Z";
const DEBUG_AT = "--at=2024-09-07T14:38:06.508Z";

const dir = mkdtempSync(join(tmpdir(), "strongroom-attest-"));
const verify = (...args: string[]) => runCliToEnd(["attest", "verify", ...args]);

interface Output {
  moduleId: string;
  timestamp: string;
  pcrs: Record<string, string>;
  cabundle: string[];
  userData: string | null;
  verification: { root: string; debug: boolean; validUntil: string; chain: { subject: string }[] };
}

describe("strongroom attest verify", () => {
  test("a valid production document: exit 0 and the document as JSON", async () => {
    const { code, stdout, stderr } = await verify(PRODUCTION, PRODUCTION_AT);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const output = JSON.parse(stdout) as Output;
    expect(output.moduleId).toBe("i-0a22e5c5f24d22174-enc0191cceb4289903f");
    expect(output.timestamp).toBe("2024-09-07T14:37:39.545Z");
    expect(Object.keys(output.pcrs)).toHaveLength(16);
    expect(output.pcrs["0"]).toMatch(/^e72a46ca80a260fb[0-9a-f]{80}$/);
    expect(output.cabundle).toHaveLength(4);
    expect(output.userData).toMatch(/^[0-9a-f]{2048}$/);
    expect(output.verification).toMatchObject({ root: "AWS Nitro Enclaves Root G1", debug: false, validUntil: "2024-09-07T17:37:39.000Z" });
    expect(output.verification.chain.at(-1)!.subject).toMatch(/CN=i-0a22e5c5f24d22174-enc0191cceb4289903f/);
  });

  test("raw CBOR is read as well as base64", async () => {
    const raw = join(dir, "production.cbor");
    writeFileSync(raw, Buffer.from(readFileSync(PRODUCTION, "utf8"), "base64"));
    const { code, stdout } = await verify(raw, PRODUCTION_AT);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as Output).moduleId).toBe("i-0a22e5c5f24d22174-enc0191cceb4289903f");
  });

  test("a debug-mode document: exit 1 with the reason, unless --allow-debug", async () => {
    const refused = await verify(DEBUG, DEBUG_AT);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(/^strongroom attest verify: the document comes from a debug-mode enclave/);
    const allowed = await verify(DEBUG, DEBUG_AT, "--allow-debug");
    expect(allowed.code).toBe(0);
    expect((JSON.parse(allowed.stdout) as Output).verification.debug).toBe(true);
  });

  test("--at after the certificates expire: exit 1", async () => {
    const { code, stderr } = await verify(PRODUCTION, "--at=2030-01-01T00:00:00Z");
    expect(code).toBe(1);
    expect(stderr).toMatch(/expired at 2024-09-/);
  });

  test("--expect-pcr: matching values pass (repeated, comma-separated or from the environment); a mismatch names the PCR", async () => {
    const pcrs = (JSON.parse((await verify(PRODUCTION, PRODUCTION_AT)).stdout) as Output).pcrs;
    const matching = await verify(PRODUCTION, PRODUCTION_AT, `--expect-pcr=0=${pcrs["0"]}`, "--expect-pcr", `1=${pcrs["1"]},2=0x${pcrs["2"]}`);
    expect(matching.code).toBe(0);
    const mismatch = await verify(PRODUCTION, PRODUCTION_AT, `--expect-pcr=0=${pcrs["0"]}`, `--expect-pcr=2=${"ee".repeat(48)}`);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(new RegExp(`PCR2 is ${pcrs["2"]}, expected (ee){48}`));
    const fromEnvironment = await runCliToEnd(["attest", "verify", PRODUCTION, PRODUCTION_AT], { STRONGROOM_EXPECT_PCR: `8=${"00".repeat(48)},4=${"11".repeat(48)}` });
    expect(fromEnvironment.code).toBe(1);
    expect(fromEnvironment.stderr).toMatch(/PCR4 is 45706d7b[0-9a-f]+, expected (11){48}/);
  });

  test("a simulator's document verifies only with --root naming the simulator's root", async () => {
    const ca = loadOrCreateSimulatedCa(join(dir, "sim"));
    const document = join(dir, "simulated.b64");
    const timestamp = new Date();
    writeFileSync(document, Buffer.from(issueAttestationDocument(ca, { moduleId: "i-00000000000000001-enc0000000000000001", timestamp, pcrs: new Map([[0, new Uint8Array(48).fill(1)]]) })).toString("base64"));
    const withRoot = await verify(document, `--root=${ca.rootCertificatePath}`);
    expect(withRoot.code).toBe(0);
    expect((JSON.parse(withRoot.stdout) as Output).verification.root).toBe(ca.rootCertificatePath);
    const withoutRoot = await verify(document);
    expect(withoutRoot.code).toBe(1);
    expect(withoutRoot.stderr).toMatch(/cabundle\[0\] is not the pinned root certificate/);
  });

  test("a file that is no attestation document: exit 1", async () => {
    const junk = join(dir, "junk.txt");
    writeFileSync(junk, '{ "not": "an attestation document" }\n');
    const notBase64 = await verify(junk);
    expect(notBase64.code).toBe(1);
    expect(notBase64.stderr).toMatch(/neither a CBOR COSE_Sign1 nor base64 of one/);
    writeFileSync(junk, "aGVsbG8gd29ybGQ=\n");
    const notCbor = await verify(junk);
    expect(notCbor.code).toBe(1);
    expect(notCbor.stderr).toMatch(/the attestation document is not valid CBOR/);
  });

  test.each<[string, string[], RegExp]>([
    ["an unknown option", [PRODUCTION, "--bogus"], /unknown option --bogus/],
    ["no file", [], /expected <file>/],
    ["a missing file", ["/nonexistent/document.b64"], /cannot read the document \/nonexistent\/document.b64/],
    ["a bad instant", [PRODUCTION, "--at=yesterday"], /--at: expected an ISO-8601 instant/],
    ["a bad PCR index", [PRODUCTION, `--expect-pcr=32=${"00".repeat(48)}`], /--expect-pcr: expected N=HEX with N from 0 to 31/],
    ["a short PCR value", [PRODUCTION, "--expect-pcr=0=abcd"], /--expect-pcr: expected N=HEX .* 32, 48, 64 bytes/],
    ["the same PCR twice", [PRODUCTION, `--expect-pcr=0=${"00".repeat(48)}`, `--expect-pcr=0=${"11".repeat(48)}`], /PCR0 is given twice/],
    ["a root that is not a certificate", [PRODUCTION, `--root=${PRODUCTION}`], /--root: .*the root certificate is unusable/],
    ["another option given twice", [PRODUCTION, "--allow-debug", "--allow-debug"], /--allow-debug is given more than once/],
  ])("%s: exit 2", async (_name, args, message) => {
    const { code, stderr } = await verify(...args);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
  });

  test("--help lists the options, --expect-pcr as repeatable", async () => {
    const { code, stdout } = await verify("--help");
    expect(code).toBe(0);
    for (const option of ["--at", "--root", "--allow-debug", "--expect-pcr"]) expect(stdout).toContain(option);
    expect(stdout).toMatch(/N=HEX.*\[repeatable\]/);
  });
});
