// PCR manifests (the formats, and errors that name the entry) and the
// trust-on-first-use pin file (recorded once, 0600, atomically; checked after;
// reset on purpose).
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AtlsVerificationError, parsePcrManifest, readPcrManifest, resetPins } from "../src/index.ts";
import { createFileOnce } from "../src/files.ts";
import { checkPins } from "../src/pins.ts";
import { createWorld, type World } from "./support.ts";

let world: World;
beforeAll(() => void (world = createWorld()));
afterAll(() => world.cleanup());

const a = "aa".repeat(48);
const b = "bb".repeat(48);
const c = "cc".repeat(48);
const hexOf = (set: ReadonlyMap<number, Uint8Array>) => Object.fromEntries([...set].map(([index, value]) => [index, Buffer.from(value).toString("hex")]));

describe("readPcrManifest", () => {
  it("reads one set by PCR name or by index, a list of sets, and nitro-cli's Measurements", () => {
    const file = join(world.dir, "manifest.json");
    writeFileSync(file, JSON.stringify({ PCR0: a, PCR1: `0x${b}`, PCR8: c }));
    expect(readPcrManifest(file).map(hexOf)).toEqual([{ 0: a, 1: b, 8: c }]);
    writeFileSync(file, JSON.stringify([{ "0": a, "2": b }, { PCR0: c }]));
    expect(readPcrManifest(file).map(hexOf)).toEqual([{ 0: a, 2: b }, { 0: c }]);
    writeFileSync(file, JSON.stringify({ Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: a, PCR1: b, PCR2: c } }));
    expect(readPcrManifest(file).map(hexOf)).toEqual([{ 0: a, 1: b, 2: c }]);
    writeFileSync(file, JSON.stringify({ EifVersion: 4, Measurements: { HashAlgorithm: "Sha384 { ... }", PCR0: a, PCR1: b, PCR2: c, PCR8: a }, IsSigned: true }));
    expect(readPcrManifest(file).map(hexOf)).toEqual([{ 0: a, 1: b, 2: c, 8: a }]);
  });

  it.each([
    ["not JSON", "{PCR0:", /manifest\.json is not JSON/],
    ["an empty list", "[]", /empty list, which no enclave can match/],
    ["an empty set", "{}", /names no PCR, so every enclave would match it/],
    ["a set that is not an object", `[{"PCR0":"${a}"}, 7]`, /entry 1: expected an object/],
    ["a PCR past 31", `{"PCR32":"${a}"}`, /"PCR32" is not a PCR \(PCR0 to PCR31/],
    ["a name that is no PCR", `[{"PCR0":"${a}"},{"pcr1":"${a}"}]`, /entry 1: "pcr1" is not a PCR/],
    ["a PCR given twice", `{"PCR0":"${a}","0":"${b}"}`, /PCR0 is given twice/],
    ["a value that is not hex", `{"PCR0":"xyz"}`, /PCR0 must be 32, 48, 64 bytes of hex/],
    ["a value of the wrong length", `[{"PCR0":"${a}"},{"PCR1":"abcd"}]`, /entry 1: PCR1 must be 32, 48, 64 bytes of hex .*"abcd"/],
  ])("refuses %s, naming the entry", (_, text, message) => {
    const file = join(world.dir, "manifest.json");
    writeFileSync(file, text);
    expect(() => readPcrManifest(file)).toThrow(message);
  });

  it("refuses a missing file and a huge one unread", () => {
    expect(() => readPcrManifest(join(world.dir, "absent.json"))).toThrow(/absent\.json does not exist/);
    const huge = join(world.dir, "huge.json");
    writeFileSync(huge, Buffer.alloc(1024 * 1024 + 1, 0x20));
    expect(() => readPcrManifest(huge)).toThrow(/is 1048577 bytes; at most 1048576/);
    expect(() => readPcrManifest(world.dir)).toThrow(/not a regular file/);
  });

  it("parses text the same way", () => {
    expect(parsePcrManifest(`{"PCR2":"${c}"}`, "--pcr flag").map(hexOf)).toEqual([{ 2: c }]);
    expect(() => parsePcrManifest("[1]", "--pcr flag")).toThrow(/^--pcr flag, entry 0: expected an object/);
  });
});

describe("the pin file", () => {
  const pcrs = (pcr0: string, pcr2: string) => new Map([0, 1, 2, 3, 8].map((index) => [index, Buffer.from(index === 0 ? pcr0 : index === 2 ? pcr2 : a, "hex")]));

  it("records PCR0, 1, 2 and 8 on first use, mode 0600, as a manifest; then matches; names the changed PCRs and the way to re-pin", () => {
    const dir = join(world.dir, "pins-1");
    const pinFile = join(dir, "nested", "pins.json");
    expect(checkPins(pinFile, pcrs(b, b))).toBe("recorded");
    expect(statSync(pinFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "nested")).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(pinFile, "utf8"))).toEqual({ PCR0: b, PCR1: a, PCR2: b, PCR8: a });
    expect(readPcrManifest(pinFile).map(hexOf)).toEqual([{ 0: b, 1: a, 2: b, 8: a }]);
    expect(readdirSync(join(dir, "nested"))).toEqual(["pins.json"]);

    expect(checkPins(pinFile, pcrs(b, b))).toBe("matched");
    let error: unknown;
    try {
      checkPins(pinFile, pcrs(c, c));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AtlsVerificationError);
    expect((error as AtlsVerificationError).reason).toBe("pin-mismatch");
    expect((error as AtlsVerificationError).message).toMatch(/the enclave's PCR0, PCR2 differ from the values pinned in .*pins\.json/);
    expect((error as AtlsVerificationError).message).toMatch(/PCR0 is c+, pinned b+/);
    expect((error as AtlsVerificationError).message).toMatch(/`strongroom gateway pin --reset`/);
    expect((error as AtlsVerificationError).message).not.toMatch(/PCR1 is/);

    resetPins(pinFile);
    resetPins(pinFile);
    expect(checkPins(pinFile, pcrs(c, c))).toBe("recorded");
  });

  it("refuses a pin file others can write, or one that is not a manifest of one set", () => {
    const pinFile = join(world.dir, "pins-2.json");
    expect(checkPins(pinFile, pcrs(b, b))).toBe("recorded");
    chmodSync(pinFile, 0o666);
    expect(() => checkPins(pinFile, pcrs(b, b))).toThrow(/writable by others \(mode 666\); run chmod 600/);
    writeFileSync(pinFile, "garbage", { mode: 0o600 });
    chmodSync(pinFile, 0o600);
    expect(() => checkPins(pinFile, pcrs(b, b))).toThrow(/is not JSON.*run `strongroom gateway pin --reset`/);
    writeFileSync(pinFile, JSON.stringify([{ PCR0: a }, { PCR0: b }]));
    expect(() => checkPins(pinFile, pcrs(b, b))).toThrow(/holds 2 sets of PCRs, not one/);
  });

  it("is created once: a writer that finds it there leaves it alone", () => {
    const file = join(world.dir, "once.json");
    expect(createFileOnce(file, Buffer.from("first"))).toBe(true);
    expect(createFileOnce(file, Buffer.from("second"))).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("first");
    expect(readdirSync(world.dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });
});
