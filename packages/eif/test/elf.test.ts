// Reading what the dynamic loader needs from ELF files, and finding it.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { readElfDependencies } from "../src/elf.ts";
import { sharedLibraries } from "../src/libraries.ts";

const node = { path: process.execPath, bytes: new Uint8Array(readFileSync(process.execPath)) };

describe("readElfDependencies", () => {
  test("Node.js: its machine, the loader it names and the libraries it needs, in order", () => {
    const elf = readElfDependencies(node.bytes, node.path);
    expect(elf.machine).toBe(process.arch === "arm64" ? "aarch64" : "x86_64");
    expect(elf.interpreter).toMatch(/^\/lib(64)?\/ld-linux-(x86-64|aarch64)\.so\.\d$/);
    expect(elf.needed).toContain("libc.so.6");
    expect(elf.needed).toContain("libstdc++.so.6");
  });

  test("refuses what is not a 64-bit little-endian ELF file, and a truncated one, saying which file", () => {
    expect(() => readElfDependencies(new TextEncoder().encode("#!/bin/sh\n"), "script.sh")).toThrow(/^script\.sh is not an ELF file$/);
    const thirtyTwoBit = Uint8Array.from(node.bytes.subarray(0, 64));
    thirtyTwoBit[4] = 1;
    expect(() => readElfDependencies(thirtyTwoBit, "old")).toThrow(/old is not a 64-bit little-endian ELF file/);
    expect(() => readElfDependencies(node.bytes.subarray(0, 4096), "cut")).toThrow(/^cut is truncated/);
    const otherMachine = Uint8Array.from(node.bytes.subarray(0, 64));
    otherMachine[18] = 40; // ARM, 32-bit
    expect(() => readElfDependencies(otherMachine, "arm")).toThrow(/arm is for ELF machine 40/);
  });
});

describe("sharedLibraries", () => {
  test("follows libraries' own needs, and names each at the path the loader searches first", () => {
    const { libraries } = sharedLibraries([node]);
    const names = libraries.map((library) => library.imagePath);
    const interpreter = readElfDependencies(node.bytes, node.path).interpreter!;
    expect(names).toContain(interpreter);
    for (const name of readElfDependencies(node.bytes, node.path).needed) expect(names.some((path) => path.endsWith(`-linux-gnu/${name}`))).toBe(true);
    expect(names).toEqual([...names].sort());
    for (const library of libraries) expect(readElfDependencies(library.bytes, library.hostPath).machine).toBe(readElfDependencies(node.bytes, node.path).machine);
  });

  test("refuses a library that is nowhere in the search path, naming both", () => {
    // Node.js with one library name (of the same length) that no system has.
    const bytes = Buffer.from(node.bytes);
    bytes.write("libnotthere.so", bytes.indexOf("libstdc++.so.6\0"), "latin1");
    expect(() => sharedLibraries([{ path: "patched-node", bytes: new Uint8Array(bytes) }])).toThrow(/^patched-node needs libnotthere\.so, which is in none of/);
  });
});
