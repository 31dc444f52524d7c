import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCpio, writeCpio, type CpioEntry } from "../src/index.ts";
import { expectRefusal } from "./fixtures.ts";

const text = (s: string) => new TextEncoder().encode(s);
const MTIME = 1_700_000_000;

const ENTRIES: CpioEntry[] = [
  { path: "usr", type: "directory", mode: 0o755 },
  { path: "usr/bin", type: "directory", mode: 0o755 },
  { path: "usr/bin/node", type: "file", mode: 0o755, content: text("ELF? no, a test\n") },
  { path: "etc", type: "directory", mode: 0o755 },
  { path: "etc/empty", type: "file", mode: 0o600, content: new Uint8Array(0) },
  { path: "etc/odd", type: "file", mode: 0o644, content: text("12345") },
  { path: "bin", type: "symlink", target: "usr/bin" },
  { path: "init", type: "file", mode: 0o4755, content: text("#!/bin/sh\n") },
];

/** Every entry's header fields, parsed from the bytes independently of readCpio. */
function headers(archive: Uint8Array): { name: string; fields: number[]; at: number }[] {
  const out: { name: string; fields: number[]; at: number }[] = [];
  const buffer = Buffer.from(archive);
  let at = 0;
  for (;;) {
    const head = buffer.toString("latin1", at, at + 110);
    expect(head.slice(0, 6)).toBe("070701");
    const fields = Array.from({ length: 13 }, (_, i) => Number.parseInt(head.slice(6 + i * 8, 14 + i * 8), 16));
    const namesize = fields[11]!;
    const name = buffer.toString("utf8", at + 110, at + 110 + namesize - 1);
    out.push({ name, fields, at });
    if (name === "TRAILER!!!") return out;
    at = (((at + 110 + namesize + 3) & ~3) + fields[6]! + 3) & ~3;
  }
}

describe("writeCpio", () => {
  it("round-trips through readCpio, in path order", () => {
    const archive = writeCpio(ENTRIES, { mtime: MTIME });
    const read = readCpio(archive);
    const sorted = [...ENTRIES].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
    expect(read.map((e) => e.path)).toEqual(sorted.map((e) => e.path));
    for (const [index, entry] of read.entries()) {
      const original = sorted[index]!;
      expect(entry.type).toBe(original.type);
      if (entry.type === "file" && original.type === "file") {
        expect(Buffer.from(entry.content).equals(Buffer.from(original.content))).toBe(true);
        expect(entry.mode).toBe(original.mode);
      }
      if (entry.type === "directory" && original.type === "directory") expect(entry.mode).toBe(original.mode);
      if (entry.type === "symlink" && original.type === "symlink") expect(entry.target).toBe(original.target);
    }
  });

  it("gives the same bytes for the same entries in any order", () => {
    const a = writeCpio(ENTRIES, { mtime: MTIME });
    const b = writeCpio([...ENTRIES].reverse(), { mtime: MTIME });
    const c = writeCpio([...ENTRIES.slice(3), ...ENTRIES.slice(0, 3)], { mtime: MTIME });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(true);
    expect(Buffer.from(writeCpio(ENTRIES, { mtime: MTIME + 1 })).equals(Buffer.from(a))).toBe(false);
  });

  it("writes fixed owners, times, inode numbers, link counts and modes, and a trailer", () => {
    const archive = writeCpio(ENTRIES, { mtime: MTIME });
    const entries = headers(archive);
    const trailer = entries.pop()!;
    expect(entries.map((e) => e.name)).toEqual(["bin", "etc", "etc/empty", "etc/odd", "init", "usr", "usr/bin", "usr/bin/node"]);
    entries.forEach(({ name, fields, at }, index) => {
      const [ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check] = fields as number[] as [number, number, number, number, number, number, number, number, number, number, number, number, number];
      expect(at % 4).toBe(0);
      expect(ino).toBe(index + 1);
      expect([uid, gid, devmajor, devminor, rdevmajor, rdevminor, check]).toEqual([0, 0, 0, 0, 0, 0, 0]);
      expect(mtime).toBe(MTIME);
      expect(namesize).toBe(Buffer.byteLength(name) + 1);
      const kind = mode & 0o170000;
      if (name === "bin") expect([mode, nlink, filesize]).toEqual([0o120777, 1, "usr/bin".length]);
      else if (kind === 0o040000) expect([mode, nlink, filesize]).toEqual([0o040755, 2, 0]);
      else expect(kind).toBe(0o100000);
    });
    expect(entries.find((e) => e.name === "init")!.fields[1]).toBe(0o104755);
    expect(entries.find((e) => e.name === "etc/empty")!.fields[1]).toBe(0o100600);
    expect(trailer.name).toBe("TRAILER!!!");
    expect(trailer.fields).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0]);
    // The archive ends with the trailer's name, padded to 4.
    expect(archive.length).toBe((trailer.at + 110 + 11 + 3) & ~3);
    // Upper-case hex, as the kernel's gen_init_cpio and GNU cpio write.
    expect(Buffer.from(archive).toString("latin1", 0, 22)).toBe("070701" + "00000001" + "0000A1FF");
  });

  it("pads names and data to 4 bytes with zeros", () => {
    const archive = Buffer.from(writeCpio([{ path: "abc", type: "file", mode: 0o644, content: text("x") }], { mtime: 0 }));
    // 110 + "abc\0" = 114 → 116; one data byte → 120; the trailer follows.
    expect(archive.toString("latin1", 110, 114)).toBe("abc\0");
    expect([...archive.subarray(114, 116)]).toEqual([0, 0]);
    expect(archive[116]).toBe("x".charCodeAt(0));
    expect([...archive.subarray(117, 120)]).toEqual([0, 0, 0]);
    expect(archive.toString("latin1", 120, 126)).toBe("070701");
  });

  it("refuses duplicate, unsafe and orphaned paths", () => {
    const file = (path: string): CpioEntry => ({ path, type: "file", mode: 0o644, content: text("x") });
    expectRefusal(() => writeCpio([file("a"), file("a")], { mtime: 0 }), /"a" is listed twice/);
    expectRefusal(() => writeCpio([{ path: "a", type: "directory", mode: 0o755 }, file("a")], { mtime: 0 }), /listed twice/);
    expectRefusal(() => writeCpio([file("usr/bin/x")], { mtime: 0 }), /directory "usr\/bin", which is not listed/);
    expectRefusal(() => writeCpio([{ path: "usr", type: "directory", mode: 0o755 }, file("usr/bin/x")], { mtime: 0 }), /"usr\/bin", which is not listed/);
    expectRefusal(() => writeCpio([file("a"), file("a/b")], { mtime: 0 }), /inside "a", which is a file/);
    for (const path of ["../x", "a/../b", "./a", ".", "..", "", "/etc/passwd", "a//b", "a/", "a\0b"]) {
      expectRefusal(() => writeCpio([file(path)], { mtime: 0 }), /path|NUL|absolute|component/);
    }
    expectRefusal(() => writeCpio([file("x".repeat(4096))], { mtime: 0 }), /at most 4095/);
    expectRefusal(() => writeCpio([{ path: "l", type: "symlink", target: "" }], { mtime: 0 }), /empty target/);
  });

  it("refuses a file over 4 GiB - 1 without reading it", () => {
    // A view that claims 4 GiB without allocating it: only its length is looked at before the refusal.
    const huge = new Proxy(new Uint8Array(1), { get: (target, key) => (key === "length" ? 2 ** 32 : Reflect.get(target, key)) });
    expectRefusal(() => writeCpio([{ path: "big", type: "file", mode: 0o644, content: huge }], { mtime: 0 }), /4294967295 \(4 GiB - 1\)/);
  });

  it("refuses an mtime outside 0..2^32-1 and modes that are not integers", () => {
    for (const mtime of [-1, 2 ** 32, 1.5, Number.NaN]) expectRefusal(() => writeCpio([], { mtime }), /SOURCE_DATE_EPOCH/);
    expect(readCpio(writeCpio([], { mtime: 2 ** 32 - 1 }))).toEqual([]);
    expectRefusal(() => writeCpio([{ path: "a", type: "directory", mode: -1 }], { mtime: 0 }), /mode -1/);
  });

  it.skipIf(!hasCpio())("is listed by GNU cpio", () => {
    const dir = mkdtempSync(join(tmpdir(), "strongroom-cpio-"));
    try {
      const file = join(dir, "archive.cpio");
      writeFileSync(file, writeCpio(ENTRIES, { mtime: MTIME }));
      const listing = execFileSync("cpio", ["-t", "--quiet", "-F", file], { encoding: "utf8" }).trim().split("\n");
      expect(listing).toEqual(headers(readFileSync(file)).map((e) => e.name).filter((n) => n !== "TRAILER!!!"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function hasCpio(): boolean {
  try {
    execFileSync("cpio", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("readCpio", () => {
  const archive = writeCpio(ENTRIES, { mtime: MTIME });

  it("refuses every truncation", () => {
    for (let length = 0; length < archive.length; length++) {
      expectRefusal(() => readCpio(archive.subarray(0, length)), /truncated/);
    }
  });

  it("refuses a bad magic, bad hex, and non-zero padding", () => {
    const bad = (at: number, value: string) => {
      const copy = Buffer.from(archive);
      copy.write(value, at, "latin1");
      return copy;
    };
    expectRefusal(() => readCpio(bad(0, "070707")), /magic "070701"/);
    expectRefusal(() => readCpio(bad(0, "070702")), /magic/);
    expectRefusal(() => readCpio(bad(6, "0000000G")), /not 8 hex digits/);
    expectRefusal(() => readCpio(bad(6, " 0000001")), /not 8 hex digits/);
    // "bin\0" ends at 114, padded to 116.
    expectRefusal(() => readCpio(bad(114, "\x01")), /name padding at byte 114/);
    expectRefusal(() => readCpio(Buffer.concat([archive, Buffer.from([0, 0, 1])])), /after the trailer/);
  });

  it("accepts zero padding after the trailer (GNU cpio pads to 512 bytes)", () => {
    expect(readCpio(Buffer.concat([archive, Buffer.alloc(512 - (archive.length % 512))]))).toHaveLength(ENTRIES.length);
  });

  it("refuses unsafe names, duplicates and other file types", () => {
    // A one-file archive whose name is replaced by these bytes (latin1: one byte per character) and whose mode by this one.
    const one = (path: string, mode = 0o100644) => {
      const archive = Buffer.from(writeCpio([{ path: "p".repeat(path.length), type: "file", mode: 0o644, content: new Uint8Array(0) }], { mtime: 0 }));
      archive.write(path, 110, "latin1");
      archive.write(mode.toString(16).toUpperCase().padStart(8, "0"), 14, "latin1");
      return archive;
    };
    expect(readCpio(one("pp"))).toEqual([{ path: "pp", type: "file", mode: 0o644, content: new Uint8Array(0) }]);
    expectRefusal(() => readCpio(one("..")), /component/);
    expectRefusal(() => readCpio(one("/etc")), /absolute/);
    expectRefusal(() => readCpio(one("a\0")), /NUL/);
    expectRefusal(() => readCpio(one("\xff\xfe")), /not UTF-8/);
    expectRefusal(() => readCpio(one("dv", 0o020644)), /file type 0o20000/);
    const twice = Buffer.from(writeCpio([{ path: "a", type: "file", mode: 0o644, content: new Uint8Array(0) }, { path: "b", type: "file", mode: 0o644, content: new Uint8Array(0) }], { mtime: 0 }));
    // "a" takes 110 + 2 bytes; the name of "b" starts 110 bytes further.
    twice.write("a", 112 + 110, "latin1");
    expectRefusal(() => readCpio(twice), /"a" appears twice/);
  });
});
