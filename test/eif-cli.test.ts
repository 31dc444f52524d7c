// `strongroom eif build | pcr | policy | rootfs` end to end, as an operator
// runs them, against a stand-in for aws-nitro-enclaves-cli's blobs directory.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parsePcrManifest } from "@strongroom/atls";
import { eifPcrs, readEif } from "@strongroom/eif";
import { writeFakeBlobs } from "../packages/eif/test/fake-blobs.ts";
import { REPO_ROOT, runCliToEnd } from "./support/cli-process.ts";

const dir = mkdtempSync(join(tmpdir(), "strongroom-eif-cli-"));
const blobs = writeFakeBlobs(join(dir, "blobs"));
const EPOCH = { SOURCE_DATE_EPOCH: "1700000000" };
const DB = "--enclave-arg=--slashing-protection-db-url=postgres://signer@db.internal:5432/slashing";
/** A small ELF in place of Node.js for the second image, so that building it is quick. */
const SMALL_ELF = join(REPO_ROOT, "packages/nitro/build/Release/strongroom_nitro.node");
const KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ROLE = "arn:aws:iam::111122223333:role/strongroom-parent";
const eif = (...args: string[]) => runCliToEnd(["eif", ...args], EPOCH);

interface Statement {
  Sid: string;
  Principal: { AWS: string };
  Action: string[];
  Resource: string;
  Condition?: { StringEqualsIgnoreCase: Record<string, string> };
}

const images = { first: join(dir, "first.eif"), second: join(dir, "second.eif") };
let built: { code: number | null; stdout: string; stderr: string };

// The images and the root filesystem take some 250 MB.
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  built = await eif("build", "--blobs", blobs, "--out", images.first, DB, "--enclave-arg", "--canary-keys=0xaa,0xbb");
}, 180_000);

describe("strongroom eif", () => {
  test("build writes the EIF and prints its PCRs as a manifest; sizes go to stderr", () => {
    expect(built.stderr).toMatch(/^strongroom eif build: wrote .*first\.eif \([\d.]+ MiB; application ramdisk [\d.]+ MiB gzipped from [\d.]+ MiB\) in [\d.]+ s\n$/);
    expect(built.code).toBe(0);
    const printed = JSON.parse(built.stdout) as Record<string, string>;
    expect(printed).toEqual(eifPcrs(readEif(readFileSync(images.first))));
    expect(parsePcrManifest(built.stdout, "stdout")).toHaveLength(1);
  });

  test("pcr prints the PCRs the file measures to and its metadata, with the baked command", async () => {
    const { code, stdout } = await eif("pcr", images.first);
    expect(code).toBe(0);
    const output = JSON.parse(stdout) as { PCR0: string; PCR8?: string; metadata: { BuildMetadata: { BuildTime: string }; CustomMetadata: { cmd: string[] } } };
    const { PCR0, PCR1, PCR2 } = eifPcrs(readEif(readFileSync(images.first)));
    expect(output).toMatchObject({ PCR0, PCR1, PCR2 });
    expect(output.PCR8).toBeUndefined();
    expect(output.metadata.BuildMetadata.BuildTime).toBe("2023-11-14T22:13:20+00:00");
    expect(output.metadata.CustomMetadata.cmd).toEqual(["/usr/bin/node", "/app/enclave.js", "--mode=nitro", "--slashing-protection-db-url=postgres://signer@db.internal:5432/slashing", "--canary-keys=0xaa,0xbb"]);
  });

  test(
    "policy: one statement per image pairing its PCRs, an administration statement with --account, and a manifest the clients read",
    async () => {
      // A second image: another configuration, and without SOURCE_DATE_EPOCH the last commit's time.
      const second = await runCliToEnd(["eif", "build", "--blobs", blobs, "--out", images.second, "--node", SMALL_ELF, DB, "--enclave-arg=--network=holesky"]);
      expect(second.code).toBe(0);
      const commitTime = Number(execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: REPO_ROOT, encoding: "utf8" }).trim());
      const metadata = JSON.parse(Buffer.from(readEif(readFileSync(images.second)).metadata).toString("utf8")) as { BuildMetadata: { BuildTime: string } };
      expect(Date.parse(metadata.BuildMetadata.BuildTime)).toBe(commitTime * 1000);

      const outPolicy = join(dir, "policy.json");
      const outManifest = join(dir, "pcrs.json");
      const { code, stdout } = await eif("policy", images.first, images.second, "--kms-key-arn", KEY, "--role-arn", ROLE, "--account", "111122223333", "--out-policy", outPolicy, "--out-manifest", outManifest);
      expect(code).toBe(0);
      const output = JSON.parse(stdout) as { keyPolicyStatements: Statement[]; pcrManifest: unknown[] };
      const pcrs = [images.first, images.second].map((file) => eifPcrs(readEif(readFileSync(file))));
      expect(output.keyPolicyStatements.map((s) => s.Sid)).toEqual(["KeyAdministration", "EnclaveImage1", "EnclaveImage2"]);
      expect(output.keyPolicyStatements[0]).toMatchObject({ Principal: { AWS: "arn:aws:iam::111122223333:root" }, Resource: "*" });
      expect(output.keyPolicyStatements[0]!.Action).not.toContain("kms:Decrypt");
      output.keyPolicyStatements.slice(1).forEach((statement, index) => {
        const image = pcrs[index]!;
        expect(statement).toMatchObject({ Principal: { AWS: ROLE }, Resource: KEY, Action: ["kms:Decrypt", "kms:GenerateDataKey"] });
        expect(statement.Condition!.StringEqualsIgnoreCase).toEqual({
          "kms:RecipientAttestation:ImageSha384": image.PCR0,
          "kms:RecipientAttestation:PCR0": image.PCR0,
          "kms:RecipientAttestation:PCR1": image.PCR1,
          "kms:RecipientAttestation:PCR2": image.PCR2,
        });
      });
      expect(output.pcrManifest).toEqual(pcrs);
      const manifest = parsePcrManifest(readFileSync(outManifest, "utf8"), outManifest);
      expect(manifest.map((set) => Buffer.from(set.get(2)!).toString("hex"))).toEqual(pcrs.map((p) => p.PCR2));
      expect(JSON.parse(readFileSync(outPolicy, "utf8"))).toEqual({ Version: "2012-10-17", Statement: output.keyPolicyStatements });
    },
    120_000,
  );

  test("rootfs writes the root filesystem with a baked configuration file, and prints the command the Dockerfile runs", async () => {
    const config = join(dir, "enclave.yaml");
    writeFileSync(config, "slashing-protection-db-url: postgres://signer@db.internal:5432/slashing\nnetwork: mainnet\n");
    const out = join(dir, "rootfs");
    const { code, stdout } = await eif("rootfs", "--out", out, "--enclave-config", config, "--node", SMALL_ELF);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ cmd: ["/usr/bin/node", "/app/enclave.js", "--mode=nitro", "--config=/app/enclave.yaml"], env: ["HOME=/tmp", "PATH=/usr/bin"] });
    expect(readFileSync(join(out, "app/enclave.yaml"), "utf8")).toBe(readFileSync(config, "utf8"));
    for (const path of ["usr/bin/node", "app/enclave.js", "app/signing-worker.js", "app/decrypt-worker.js", "app/strongroom_nitro.node", "tmp", "proc", "dev"]) expect(existsSync(join(out, path)), path).toBe(true);
    expect(existsSync(join(out, "bin"))).toBe(false);
    const again = await eif("rootfs", "--out", out, "--enclave-config", config);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out: .* is not empty/);
  });

  test("usage errors name the option and exit 2: no --out, a missing blobs directory, an enclave configuration it would refuse, a bad ARN", async () => {
    const noOut = await eif("build", "--blobs", blobs, DB);
    expect([noOut.code, noOut.stderr]).toEqual([2, "strongroom eif build: --out: required; where to write the EIF\n"]);
    const noBlobs = await eif("build", "--blobs", join(dir, "missing"), "--out", join(dir, "x.eif"), DB);
    expect(noBlobs.code).toBe(2);
    expect(noBlobs.stderr).toMatch(/^strongroom eif build: --blobs: the blobs directory .*missing does not exist; install aws-nitro-enclaves-cli/);
    const noDatabase = await eif("build", "--blobs", blobs, "--out", join(dir, "x.eif"));
    expect(noDatabase.code).toBe(2);
    expect(noDatabase.stderr).toMatch(/--enclave-arg\/--enclave-config: the enclave would refuse to start .*--slashing-protection-db-url: required/);
    const simMode = await eif("build", "--blobs", blobs, "--out", join(dir, "x.eif"), DB, "--enclave-arg=--trusted-ca-file=/ca.pem");
    expect(simMode.stderr).toMatch(/--trusted-ca-file: refused in nitro mode/);
    const badArn = await eif("policy", images.first, "--kms-key-arn", "alias/vault", "--role-arn", ROLE);
    expect([badArn.code, badArn.stderr]).toEqual([2, "strongroom eif policy: --kms-key-arn: required, arn:aws:kms:<region>:<account>:key/<key id>\n"]);
    const noFile = await eif("policy", "--kms-key-arn", KEY, "--role-arn", ROLE);
    expect(noFile.code).toBe(2);
    expect(existsSync(join(dir, "x.eif"))).toBe(false);
  });
});
