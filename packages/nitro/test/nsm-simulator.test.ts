// The simulated NSM spoken to in raw CBOR, as /dev/nsm would be: PCR extend and lock rules, the
// error codes it answers, debug mode, malformed input, and the measurement of the enclave's files.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applicationRamdisk,
  decodeResponse,
  encodeRequest,
  extendPcr,
  measure,
  measureImage,
  NSM_REQUEST_MAX_SIZE,
  type NsmErrorCode,
  type NsmRequest,
  type NsmResponse,
  readApplicationFiles,
  SIMULATED_INSTANCE_ID,
  SIMULATED_ROLE_ARN,
  SimulatedNsm,
  type SimulatedNsmOptions,
  simulatedImage,
  simulatedMeasurements,
} from "../src/nsm/index.ts";

const sha384 = (...parts: Uint8Array[]) => {
  const h = createHash("sha384");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const utf8 = (s: string) => new TextEncoder().encode(s);
const ZERO = new Uint8Array(48);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

let work: string;
let appDir: string;
let simDir: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "nsm-sim-"));
  appDir = join(work, "app");
  simDir = join(work, "sim");
  await mkdir(join(appDir, "lib"), { recursive: true });
  await writeFile(join(appDir, "main.js"), "console.log('enclave');\n");
  await writeFile(join(appDir, "lib", "sign.js"), "export const sign = () => 1;\n");
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const boot = (extra: Partial<SimulatedNsmOptions> = {}) => SimulatedNsm.create({ simDir, applicationDir: appDir, ...extra });

async function send(nsm: SimulatedNsm, request: NsmRequest | Uint8Array): Promise<NsmResponse> {
  const bytes = request instanceof Uint8Array ? request : encodeRequest(request);
  return decodeResponse(await nsm.request(bytes));
}

async function pcrOf(nsm: SimulatedNsm, index: number): Promise<{ lock: boolean; data: Uint8Array }> {
  const r = await send(nsm, { type: "DescribePCR", index });
  if (r.type !== "DescribePCR") throw new Error(`DescribePCR ${index} answered ${JSON.stringify(r)}`);
  return { lock: r.lock, data: r.data };
}

const err = (code: NsmErrorCode): NsmResponse => ({ type: "Error", code });

describe("boot state", () => {
  it("DescribeNSM: version, module ID format, 32 PCRs, 0–15 locked, SHA384", async () => {
    const nsm = await boot();
    const r = await send(nsm, { type: "DescribeNSM" });
    expect(r).toEqual({
      type: "DescribeNSM",
      versionMajor: 1,
      versionMinor: 0,
      versionPatch: 0,
      moduleId: nsm.moduleId,
      maxPcrs: 32,
      lockedPcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
      digest: "SHA384",
    });
    expect(nsm.moduleId).toMatch(/^i-[0-9a-f]{17}-enc[0-9a-f]{16}$/);
    expect(nsm.moduleId.startsWith(`${SIMULATED_INSTANCE_ID}-enc`)).toBe(true);
    const other = await boot();
    expect(other.moduleId).not.toBe(nsm.moduleId); // a new enclave ID per boot
    expect((await boot({ instanceId: "i-00000000000000abc", enclaveId: "00112233445566ff" })).moduleId).toBe("i-00000000000000abc-enc00112233445566ff");
  });

  it("PCR0/1/2 measure the simulated image, PCR3 the role, PCR4 the instance; 5–31 are zero", async () => {
    const nsm = await boot();
    const files = [
      { path: "lib/sign.js", content: utf8("export const sign = () => 1;\n") },
      { path: "main.js", content: utf8("console.log('enclave');\n") },
    ];
    const image = measureImage(simulatedImage(files));
    expect(hex((await pcrOf(nsm, 0)).data)).toBe(hex(image.pcr0));
    expect(hex((await pcrOf(nsm, 1)).data)).toBe(hex(image.pcr1));
    expect(hex((await pcrOf(nsm, 2)).data)).toBe(hex(image.pcr2));
    // PCR3/PCR4 as AWS documents them: sha384(48 zero bytes ‖ text), no inner hash.
    expect(hex((await pcrOf(nsm, 3)).data)).toBe(hex(sha384(ZERO, utf8(SIMULATED_ROLE_ARN))));
    expect(hex((await pcrOf(nsm, 4)).data)).toBe(hex(sha384(ZERO, utf8(SIMULATED_INSTANCE_ID))));
    for (let i = 5; i < 32; i++) {
      const pcr = await pcrOf(nsm, i);
      expect(hex(pcr.data)).toBe(hex(ZERO));
      expect(pcr.lock).toBe(i < 16);
    }
    for (const i of [0, 1, 2, 3, 4]) expect((await pcrOf(nsm, i)).lock).toBe(true);
  });

  it("PCR8 measures the signing certificate (DER or PEM, same value); no role → PCR3 zero", async () => {
    const der = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05]); // any DER; PCR8 hashes the bytes
    const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64")}\n-----END CERTIFICATE-----\n`;
    const a = await boot({ signingCertificate: der, roleArn: null });
    const b = await boot({ signingCertificate: pem });
    expect(hex((await pcrOf(a, 8)).data)).toBe(hex(sha384(ZERO, sha384(der))));
    expect(hex((await pcrOf(b, 8)).data)).toBe(hex((await pcrOf(a, 8)).data));
    expect(hex((await pcrOf(a, 3)).data)).toBe(hex(ZERO));
  });

  it("refuses bad identities and options", async () => {
    await expect(boot({ instanceId: "i-123" })).rejects.toThrow(/instance ID/);
    await expect(boot({ roleArn: "arn:aws:iam::12:user/x" })).rejects.toThrow(/IAM role ARN/);
    await expect(boot({ enclaveId: "xyz" })).rejects.toThrow(/16 hex/);
    await expect(SimulatedNsm.create({ simDir })).rejects.toThrow(/exactly one of image, applicationFiles and applicationDir/);
    await expect(SimulatedNsm.create({ simDir, applicationDir: appDir, applicationFiles: [] })).rejects.toThrow(/exactly one/);
    await expect(SimulatedNsm.create({ simDir, applicationDir: appDir, image: { kernel: utf8("k"), cmdline: utf8(""), ramdisks: [utf8("r")] } })).rejects.toThrow(/exactly one/);
  });

  it("boots a given image (an EIF's sections): PCR0, 1 and 2 are that image's measurements", async () => {
    const image = { kernel: utf8("a kernel"), cmdline: utf8("console=ttyS0"), ramdisks: [utf8("bootstrap"), utf8("application")] };
    const nsm = await SimulatedNsm.create({ simDir, image });
    const inner = (...parts: string[]) => sha384(ZERO, sha384(utf8(parts.join(""))));
    expect(hex((await pcrOf(nsm, 0)).data)).toBe(hex(inner("a kernel", "console=ttyS0", "bootstrap", "application")));
    expect(hex((await pcrOf(nsm, 1)).data)).toBe(hex(inner("a kernel", "console=ttyS0", "bootstrap")));
    expect(hex((await pcrOf(nsm, 2)).data)).toBe(hex(inner("application")));
  });
});

describe("PCR semantics", () => {
  it("ExtendPCR sets SHA-384(old ‖ data) and answers the new value; DescribePCR agrees", async () => {
    const nsm = await boot();
    const d1 = utf8("first");
    const d2 = new Uint8Array(0);
    const r1 = await send(nsm, { type: "ExtendPCR", index: 16, data: d1 });
    const v1 = sha384(ZERO, d1);
    expect(r1).toEqual({ type: "ExtendPCR", data: v1 });
    const r2 = await send(nsm, { type: "ExtendPCR", index: 16, data: d2 });
    const v2 = sha384(v1, d2);
    expect(r2).toEqual({ type: "ExtendPCR", data: v2 });
    expect(hex(extendPcr(v1, d2))).toBe(hex(v2));
    expect(await pcrOf(nsm, 16)).toEqual({ lock: false, data: v2 });
    expect(hex((await pcrOf(nsm, 17)).data)).toBe(hex(ZERO)); // others untouched
  });

  it("locked PCRs refuse extends with ReadOnlyIndex, and keep their value", async () => {
    const nsm = await boot();
    for (const i of [0, 4, 15]) {
      const before = await pcrOf(nsm, i);
      expect(await send(nsm, { type: "ExtendPCR", index: i, data: utf8("x") })).toEqual(err("ReadOnlyIndex"));
      expect(await pcrOf(nsm, i)).toEqual(before);
    }
  });

  it("LockPCR locks one PCR; locking it again is ReadOnlyIndex; boot-locked ones too", async () => {
    const nsm = await boot();
    await send(nsm, { type: "ExtendPCR", index: 20, data: utf8("app") });
    const value = (await pcrOf(nsm, 20)).data;
    expect(await send(nsm, { type: "LockPCR", index: 20 })).toEqual({ type: "LockPCR" });
    expect(await pcrOf(nsm, 20)).toEqual({ lock: true, data: value });
    expect(await send(nsm, { type: "ExtendPCR", index: 20, data: utf8("more") })).toEqual(err("ReadOnlyIndex"));
    expect(await send(nsm, { type: "LockPCR", index: 20 })).toEqual(err("ReadOnlyIndex"));
    expect(await send(nsm, { type: "LockPCR", index: 3 })).toEqual(err("ReadOnlyIndex"));
    expect((await pcrOf(nsm, 21)).lock).toBe(false);
    const d = await send(nsm, { type: "DescribeNSM" });
    expect(d.type === "DescribeNSM" && d.lockedPcrs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20]);
  });

  it("LockPCRs{range} locks [0, range), is idempotent, and refuses range > 32 with InvalidIndex", async () => {
    const nsm = await boot();
    expect(await send(nsm, { type: "LockPCRs", range: 0 })).toEqual({ type: "LockPCRs" });
    expect(await send(nsm, { type: "LockPCRs", range: 20 })).toEqual({ type: "LockPCRs" });
    for (let i = 0; i < 32; i++) expect((await pcrOf(nsm, i)).lock).toBe(i < 20);
    expect(await send(nsm, { type: "ExtendPCR", index: 19, data: utf8("x") })).toEqual(err("ReadOnlyIndex"));
    expect((await send(nsm, { type: "ExtendPCR", index: 20, data: utf8("x") })).type).toBe("ExtendPCR");
    expect(await send(nsm, { type: "LockPCRs", range: 33 })).toEqual(err("InvalidIndex"));
    expect(await send(nsm, { type: "LockPCRs", range: 65535 })).toEqual(err("InvalidIndex"));
    expect((await pcrOf(nsm, 25)).lock).toBe(false); // a refused range locks nothing
    expect(await send(nsm, { type: "LockPCRs", range: 32 })).toEqual({ type: "LockPCRs" });
    expect(await send(nsm, { type: "LockPCRs", range: 32 })).toEqual({ type: "LockPCRs" });
    const d = await send(nsm, { type: "DescribeNSM" });
    expect(d.type === "DescribeNSM" && d.lockedPcrs).toEqual(Array.from({ length: 32 }, (_, i) => i));
    for (let i = 0; i < 32; i++) expect(await send(nsm, { type: "ExtendPCR", index: i, data: utf8("x") })).toEqual(err("ReadOnlyIndex"));
  });

  it("an index ≥ 32 is InvalidIndex for DescribePCR, ExtendPCR and LockPCR", async () => {
    const nsm = await boot();
    for (const index of [32, 33, 1000, 65535]) {
      expect(await send(nsm, { type: "DescribePCR", index })).toEqual(err("InvalidIndex"));
      expect(await send(nsm, { type: "ExtendPCR", index, data: utf8("x") })).toEqual(err("InvalidIndex"));
      expect(await send(nsm, { type: "LockPCR", index })).toEqual(err("InvalidIndex"));
    }
  });

  it("GetRandom answers 256 fresh bytes", async () => {
    const nsm = await boot();
    const a = await send(nsm, { type: "GetRandom" });
    const b = await send(nsm, { type: "GetRandom" });
    expect(a.type === "GetRandom" && a.random.length).toBe(256);
    expect(a.type === "GetRandom" && b.type === "GetRandom" && hex(a.random) !== hex(b.random)).toBe(true);
  });
});

describe("debug mode", () => {
  it("PCR0, 1, 2 and 8 read zero; PCR3 and 4 are kept; measurements still report the image", async () => {
    const cert = new Uint8Array([0x30, 0x00]);
    const normal = await boot({ signingCertificate: cert });
    const debug = await boot({ signingCertificate: cert, debug: true });
    expect(debug.debug).toBe(true);
    for (const i of [0, 1, 2, 8]) {
      expect(hex((await pcrOf(debug, i)).data)).toBe(hex(ZERO));
      expect(hex((await pcrOf(normal, i)).data)).not.toBe(hex(ZERO));
      expect((await pcrOf(debug, i)).lock).toBe(true);
    }
    for (const i of [3, 4]) expect(hex((await pcrOf(debug, i)).data)).toBe(hex((await pcrOf(normal, i)).data));
    expect(hex(debug.measurements.pcr0)).toBe(hex((await pcrOf(normal, 0)).data));
    // The application's PCRs still work in debug mode.
    expect((await send(debug, { type: "ExtendPCR", index: 16, data: utf8("x") })).type).toBe("ExtendPCR");
  });
});

describe("malformed requests get an Error response, never a crash", () => {
  const t = (s: string) => (0x60 + s.length).toString(16) + Buffer.from(s).toString("hex");
  const b = (...parts: string[]) => new Uint8Array(Buffer.from(parts.join(""), "hex"));
  const cases: Array<[string, Uint8Array, NsmErrorCode]> = [
    ["empty", b(""), "InvalidOperation"],
    ["truncated", encodeRequest({ type: "ExtendPCR", index: 16, data: utf8("abc") }).subarray(0, 20), "InvalidOperation"],
    ["not CBOR at all", utf8("GET / HTTP/1.1\r\n"), "InvalidOperation"],
    ["unknown variant", b(t("Reboot")), "InvalidOperation"],
    ["unknown struct variant", b("a1", t("SetPCR"), "a1", t("index"), "01"), "InvalidOperation"],
    ["index of the wrong type", b("a1", t("DescribePCR"), "a1", t("index"), "f5"), "InvalidArgument"],
    ["data as an array", b("a1", t("ExtendPCR"), "a2", t("index"), "10", t("data"), "820102"), "InvalidArgument"],
    ["unknown field", b("a1", t("LockPCRs"), "a2", t("range"), "01", t("force"), "f5"), "InvalidArgument"],
    ["index beyond u16", b("a1", t("DescribePCR"), "a1", t("index"), "1a00010000"), "InvalidArgument"],
    ["tagged bytes", b("a1", t("ExtendPCR"), "a2", t("index"), "10", t("data"), "d84041ff"), "InvalidOperation"],
    ["nested 4000 deep", b("81".repeat(4000), "00"), "InvalidOperation"],
    ["oversized", new Uint8Array(NSM_REQUEST_MAX_SIZE + 1), "InputTooLarge"],
    ["oversized but valid", encodeRequest({ type: "ExtendPCR", index: 16, data: new Uint8Array(5000) }), "InputTooLarge"],
  ];
  it.each(cases)("%s → %s", async (_, bytes, code) => {
    const nsm = await boot();
    expect(await send(nsm, bytes)).toEqual(err(code));
    // …and the module carries on.
    expect((await send(nsm, { type: "DescribePCR", index: 16 })).type).toBe("DescribePCR");
  });

  it("survives thousands of random and mutated requests, every answer a valid response", async () => {
    const nsm = await boot();
    let seed = 99;
    const next = () => (seed = (seed * 1664525 + 1013904223) >>> 0) >>> 24;
    const valid = [
      encodeRequest({ type: "ExtendPCR", index: 16, data: utf8("hello") }),
      encodeRequest({ type: "Attestation", userData: null, nonce: utf8("n"), publicKey: null }),
      encodeRequest({ type: "LockPCRs", range: 20 }),
      encodeRequest({ type: "DescribeNSM" }),
    ];
    for (let n = 0; n < 2000; n++) {
      let message: Uint8Array;
      if (n % 2 === 0) {
        message = new Uint8Array(1 + (next() % 64)).map(() => next());
      } else {
        message = Uint8Array.from(valid[n % valid.length] as Uint8Array);
        for (let k = 0; k < 1 + (next() % 3); k++) message[next() % message.length] = next();
      }
      const response = await nsm.request(message);
      expect(() => decodeResponse(response)).not.toThrow();
    }
  });

  it("a closed module rejects with EBADF; a non-byte request is a TypeError", async () => {
    const nsm = await boot();
    await expect(nsm.request("DescribeNSM" as unknown as Uint8Array)).rejects.toThrow(TypeError);
    nsm.close();
    nsm.close();
    await expect(nsm.request(encodeRequest({ type: "DescribeNSM" }))).rejects.toMatchObject({ code: "EBADF" });
  });
});

describe("measurement of the enclave's files", () => {
  it("measure() is SHA-384(48 zero bytes ‖ SHA-384(sections))", () => {
    const a = utf8("kernel");
    const c = utf8("cmdline");
    expect(hex(measure([a, c]))).toBe(hex(sha384(ZERO, sha384(a, c))));
    expect(hex(measure([]))).toBe(hex(sha384(ZERO, sha384())));
    const image = measureImage({ kernel: a, cmdline: c, ramdisks: [utf8("boot"), utf8("app1"), utf8("app2")] });
    expect(hex(image.pcr0)).toBe(hex(sha384(ZERO, sha384(a, c, utf8("boot"), utf8("app1"), utf8("app2")))));
    expect(hex(image.pcr1)).toBe(hex(sha384(ZERO, sha384(a, c, utf8("boot")))));
    expect(hex(image.pcr2)).toBe(hex(sha384(ZERO, sha384(utf8("app1"), utf8("app2")))));
  });

  it("changing one application file changes PCR0 and PCR2, not PCR1", async () => {
    const dir = join(work, "changing");
    await mkdir(join(dir, "lib"), { recursive: true });
    await writeFile(join(dir, "main.js"), "main v1\n");
    await writeFile(join(dir, "lib", "util.js"), "util\n");
    const before = await simulatedMeasurements({ applicationDir: dir });
    await writeFile(join(dir, "lib", "util.js"), "util, patched\n");
    const after = await simulatedMeasurements({ applicationDir: dir });
    expect(hex(after.pcr0)).not.toBe(hex(before.pcr0));
    expect(hex(after.pcr2)).not.toBe(hex(before.pcr2));
    expect(hex(after.pcr1)).toBe(hex(before.pcr1));
    expect(hex(after.pcr3)).toBe(hex(before.pcr3));
    expect(hex(after.pcr4)).toBe(hex(before.pcr4));
    // The same through a booted module.
    const nsm = await SimulatedNsm.create({ simDir, applicationDir: dir });
    expect(hex((await pcrOf(nsm, 0)).data)).toBe(hex(after.pcr0));
    expect(hex((await pcrOf(nsm, 2)).data)).toBe(hex(after.pcr2));
  });

  it("renaming or adding a file changes PCR2; listing order does not; paths are relative", async () => {
    const base = [
      { path: "a.js", content: utf8("A") },
      { path: "b/c.js", content: utf8("C") },
    ];
    const pcr2 = (files: typeof base) => hex(measureImage(simulatedImage(files)).pcr2);
    expect(pcr2([...base].reverse())).toBe(pcr2(base));
    expect(pcr2([{ path: "a2.js", content: utf8("A") }, base[1] as (typeof base)[number]])).not.toBe(pcr2(base));
    expect(pcr2([...base, { path: "d.js", content: new Uint8Array(0) }])).not.toBe(pcr2(base));
    // Moving bytes between a path and its content changes the ramdisk (lengths are framed).
    expect(hex(applicationRamdisk([{ path: "ab", content: utf8("c") }]))).not.toBe(hex(applicationRamdisk([{ path: "a", content: utf8("bc") }])));
    expect(() => applicationRamdisk([{ path: "../x", content: utf8("") }])).toThrow(/segment/);
    expect(() => applicationRamdisk([{ path: "/etc/passwd", content: utf8("") }])).toThrow(/relative/);
    expect(() => applicationRamdisk([base[0] as (typeof base)[number], base[0] as (typeof base)[number]])).toThrow(/twice/);
  });

  it("applicationFiles (paths under a root) measures the same as applicationDir", async () => {
    const fromDir = await simulatedMeasurements({ applicationDir: appDir });
    const fromList = await simulatedMeasurements({ applicationFiles: ["main.js", "lib/sign.js"], applicationRoot: appDir });
    expect(hex(fromList.pcr0)).toBe(hex(fromDir.pcr0));
    await expect(readApplicationFiles(["../sim"], appDir)).rejects.toThrow(/not inside/);
  });

  it("symbolic links are recorded (their target), not followed", async () => {
    const dir = join(work, "links");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "real.js"), "x\n");
    await symlink("real.js", join(dir, "alias.js"));
    const one = await simulatedMeasurements({ applicationDir: dir });
    await rm(join(dir, "alias.js"));
    await symlink("other.js", join(dir, "alias.js"));
    const two = await simulatedMeasurements({ applicationDir: dir });
    expect(hex(one.pcr2)).not.toBe(hex(two.pcr2));
  });
});
