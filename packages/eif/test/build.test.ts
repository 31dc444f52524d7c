// The EIF builder end to end, with the real bundle and the real Node.js
// binary and libraries, and a stand-in blobs directory: reproducibility, what
// each PCR covers, and what the ramdisks hold.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildEif, type BuildEifResult } from "../src/build.ts";
import { bundleEnclave } from "../src/bundle.ts";
import { CHECKOUT_ROOT } from "../src/checkout.ts";
import { readCpio, type CpioEntry } from "../src/cpio.ts";
import { readEif } from "../src/eif.ts";
import { readElfDependencies } from "../src/elf.ts";
import { enclaveCommand } from "../src/rootfs.ts";
import { FAKE_CMDLINE, writeFakeBlobs } from "./fake-blobs.ts";
import { signingIdentity } from "./fixtures.ts";

const ENCLAVE_ARGS = ["--slashing-protection-db-url=postgres://signer@db.internal:5432/slashing", "--canary-keys=0xaa,0xbb"];
const EPOCH = 1_700_000_000;
/** A small ELF file in place of Node.js, where a test is about something else and a 120 MB binary would only slow it. */
const SMALL_ELF = join(CHECKOUT_ROOT, "packages/nitro/build/Release/strongroom_nitro.node");
const SLOW = 180_000;

const files = (entries: readonly CpioEntry[]) => new Map(entries.map((entry) => [entry.path, entry]));
const text = (entry: CpioEntry | undefined) => (entry?.type === "file" ? Buffer.from(entry.content).toString("utf8") : undefined);

let first: { dir: string; eif: Buffer; result: BuildEifResult };
/** Each build leaves some 50 MB behind. */
const made: string[] = [];
const temporary = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  const dir = temporary("strongroom-eif-a-");
  const result = await buildEif({ blobsDir: writeFakeBlobs(join(dir, "blobs")), out: join(dir, "strongroom.eif"), sourceDateEpoch: EPOCH, enclaveArgs: ENCLAVE_ARGS });
  first = { dir, eif: readFileSync(join(dir, "strongroom.eif")), result };
}, SLOW);

describe("buildEif", () => {
  test(
    "the same inputs give the same bytes, built elsewhere and later",
    async () => {
      await sleep(1100);
      const dir = temporary("strongroom-eif-b-");
      const blobs = join(dir, "elsewhere", "blobs");
      cpSync(join(first.dir, "blobs"), blobs, { recursive: true });
      mkdirSync(join(dir, "out"));
      const result = await buildEif({ blobsDir: blobs, out: join(dir, "out", "other-name.eif"), sourceDateEpoch: EPOCH, enclaveArgs: ENCLAVE_ARGS });
      const second = readFileSync(join(dir, "out", "other-name.eif"));
      expect(second.equals(first.eif)).toBe(true);
      expect(result.pcrs).toEqual(first.result.pcrs);
      // The PCRs reported are the file's.
      expect(readEif(second).pcrs).toEqual(result.pcrs);
      expect(result.pcrs.PCR8).toBeUndefined();
    },
    SLOW,
  );

  test(
    "a one-byte change to a bundled file changes PCR0 and PCR2, and not PCR1 (kernel, cmdline, bootstrap)",
    async () => {
      const program = await bundleEnclave(CHECKOUT_ROOT);
      const changed = program.map((file) => {
        if (file.path !== "enclave.js") return file;
        const content = Buffer.from(file.content);
        const at = content.indexOf("strongroom enclave running");
        expect(at).toBeGreaterThan(0);
        content[at] = "S".charCodeAt(0);
        return { path: file.path, content: new Uint8Array(content) };
      });
      const dir = temporary("strongroom-eif-c-");
      const { pcrs } = await buildEif({ blobsDir: join(first.dir, "blobs"), out: join(dir, "changed.eif"), sourceDateEpoch: EPOCH, enclaveArgs: ENCLAVE_ARGS, program: changed });
      expect(pcrs.PCR0).not.toBe(first.result.pcrs.PCR0);
      expect(pcrs.PCR2).not.toBe(first.result.pcrs.PCR2);
      expect(pcrs.PCR1).toBe(first.result.pcrs.PCR1);
    },
    SLOW,
  );

  test("the application ramdisk holds Node.js, exactly its libraries and the loader, the program, cmd and env: no shell, no /etc", () => {
    const eif = readEif(first.eif);
    expect(eif.ramdisks).toHaveLength(2);
    const entries = readCpio(new Uint8Array(gunzipSync(eif.ramdisks[1]!)));
    const byPath = files(entries);
    expect(entries.filter((e) => !e.path.includes("/")).map((e) => e.path)).toEqual(["cmd", "env", "rootfs"]);
    expect(entries.filter((e) => /^rootfs\/[^/]+$/.test(e.path)).map((e) => e.path.slice("rootfs/".length))).toEqual(["app", "dev", "lib", "lib64", "proc", "run", "sys", "tmp", "usr", "var"]);

    const node = byPath.get("rootfs/usr/bin/node");
    expect(node?.type === "file" && Buffer.from(node.content).equals(readFileSync(process.execPath))).toBe(true);
    const needed = readElfDependencies(readFileSync(process.execPath), process.execPath);
    const libraries = entries.filter((e) => /^rootfs\/lib\/[^/]+-linux-gnu\/./.test(e.path)).map((e) => e.path.slice(e.path.lastIndexOf("/") + 1));
    for (const name of needed.needed) expect(libraries).toContain(name);
    // librt is blst's; nothing is there that neither Node.js nor an addon needs.
    expect(libraries.filter((name) => !needed.needed.includes(name))).toEqual(["librt.so.1"]);
    expect(byPath.get(`rootfs${needed.interpreter}`)).toBeDefined();

    for (const path of ["enclave.js", "signing-worker.js", "decrypt-worker.js", "package.json", "strongroom_nitro.node", "node_modules/@chainsafe/blst/index.js"]) {
      expect(byPath.get(`rootfs/app/${path}`)?.type, path).toBe("file");
    }
    expect(entries.some((e) => /blst\.linux-[^/]+\.node$/.test(e.path))).toBe(true);
    expect([...byPath.keys()].filter((path) => /(^|\/)(bin\/sh|etc|sbin)(\/|$)/.test(path))).toEqual([]);

    expect(text(byPath.get("cmd"))).toBe(`${enclaveCommand(ENCLAVE_ARGS, false).join("\n")}\n`);
    expect(text(byPath.get("cmd"))).toBe("/usr/bin/node\n/app/enclave.js\n--mode=nitro\n--slashing-protection-db-url=postgres://signer@db.internal:5432/slashing\n--canary-keys=0xaa,0xbb\n");
    expect(text(byPath.get("env"))).toBe("HOME=/tmp\nPATH=/usr/bin\n");
  });

  test("the bootstrap ramdisk is AWS's layout: dev/, init and nsm.ko from the blobs; the kernel and its trimmed command line are the blobs'", () => {
    const eif = readEif(first.eif);
    const bootstrap = readCpio(eif.ramdisks[0]!);
    expect(bootstrap.map((e) => [e.path, e.type])).toEqual([
      ["dev", "directory"],
      ["init", "file"],
      ["nsm.ko", "file"],
    ]);
    const init = bootstrap[1]!;
    expect(init.type === "file" && Buffer.from(init.content).equals(readFileSync(join(first.dir, "blobs", "init")))).toBe(true);
    expect(Buffer.from(eif.kernel).equals(readFileSync(join(first.dir, "blobs", "bzImage")))).toBe(true);
    expect(Buffer.from(eif.cmdline).toString("utf8")).toBe(FAKE_CMDLINE);
  });

  test("the metadata carries SOURCE_DATE_EPOCH, the kernel version from bzImage.config, and the command", () => {
    const metadata = JSON.parse(Buffer.from(readEif(first.eif).metadata).toString("utf8")) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      ImageName: "strongroom-enclave",
      BuildMetadata: { BuildTime: "2023-11-14T22:13:20+00:00", BuildTool: "strongroom eif build", OperatingSystem: "Linux", KernelVersion: "6.6.38" },
      DockerInfo: null,
      CustomMetadata: { cmd: enclaveCommand(ENCLAVE_ARGS, false), env: ["HOME=/tmp", "PATH=/usr/bin"] },
    });
  });

  test("a signed image adds PCR8 and keeps PCR0, PCR1 and PCR2", async () => {
    const program = await bundleEnclave(CHECKOUT_ROOT);
    const dir = temporary("strongroom-eif-signed-");
    const options = { blobsDir: join(first.dir, "blobs"), sourceDateEpoch: EPOCH, nodeBinary: SMALL_ELF, program };
    const unsigned = await buildEif({ ...options, out: join(dir, "unsigned.eif") });
    const identity = signingIdentity();
    const signed = await buildEif({ ...options, out: join(dir, "signed.eif"), signer: { certificatePem: identity.certificatePem, keyPem: identity.privateKeyPem } });
    expect(signed.pcrs).toMatchObject({ PCR0: unsigned.pcrs.PCR0, PCR1: unsigned.pcrs.PCR1, PCR2: unsigned.pcrs.PCR2 });
    expect(signed.pcrs.PCR8).toMatch(/^[0-9a-f]{96}$/);
    expect(readEif(readFileSync(join(dir, "signed.eif"))).pcrs).toEqual(signed.pcrs);
  });

  test("refuses a missing blobs directory, saying where the blobs come from, before bundling anything", async () => {
    await expect(buildEif({ blobsDir: join(first.dir, "no-such-blobs"), out: join(first.dir, "never.eif"), sourceDateEpoch: EPOCH })).rejects.toThrow(
      /blobs directory .*no-such-blobs does not exist; install aws-nitro-enclaves-cli/,
    );
  });

  test("refuses an enclave argument that AWS's init could not pass on", () => {
    expect(() => enclaveCommand(["--network=mainnet\n--other"], false)).toThrow(/newline or NUL/);
  });
});
