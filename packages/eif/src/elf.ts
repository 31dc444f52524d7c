// What the dynamic loader needs to run an ELF file: its interpreter (PT_INTERP,
// the loader itself) and the shared libraries it names (DT_NEEDED), read from
// the program headers and the dynamic section as ld.so reads them. Only 64-bit
// little-endian files (x86_64, aarch64), the only ones a Nitro Enclave runs.

export type ElfMachine = "x86_64" | "aarch64";

export interface ElfDependencies {
  readonly machine: ElfMachine;
  /** The absolute path of the dynamic loader; undefined for a static executable or a shared object. */
  readonly interpreter: string | undefined;
  /** Library names (sonames) in the order the file lists them. */
  readonly needed: readonly string[];
}

const MACHINES: Readonly<Record<number, ElfMachine>> = { 62: "x86_64", 183: "aarch64" };
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const PROGRAM_HEADER_BYTES = 56;
const DYNAMIC_ENTRY_BYTES = 16;

interface Segment {
  readonly type: number;
  readonly offset: number;
  readonly vaddr: bigint;
  readonly fileSize: number;
}

/** Reads `what` (a path, for messages) as an ELF file; throws naming what is wrong. */
export function readElfDependencies(bytes: Uint8Array, what: string): ElfDependencies {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (reason: string): never => {
    throw new Error(`${what} ${reason}`);
  };
  if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46) fail("is not an ELF file");
  if (data[4] !== 2 || data[5] !== 1) fail("is not a 64-bit little-endian ELF file; an enclave image holds x86_64 or aarch64 Linux binaries only");
  const machine = MACHINES[data.readUInt16LE(18)] ?? fail(`is for ELF machine ${data.readUInt16LE(18)}, not x86_64 (62) or aarch64 (183)`);

  const offset = (value: bigint, field: string): number => {
    if (value > BigInt(data.length)) fail(`is truncated or corrupt: its ${field} points past the end of the file`);
    return Number(value);
  };
  const tableAt = offset(data.readBigUInt64LE(32), "program header table");
  const count = data.readUInt16LE(56);
  if (data.readUInt16LE(54) !== PROGRAM_HEADER_BYTES || tableAt + count * PROGRAM_HEADER_BYTES > data.length) fail("has a corrupt program header table");
  const segments: Segment[] = [];
  for (let i = 0; i < count; i++) {
    const at = tableAt + i * PROGRAM_HEADER_BYTES;
    const segment = { type: data.readUInt32LE(at), offset: offset(data.readBigUInt64LE(at + 8), "segment"), vaddr: data.readBigUInt64LE(at + 16), fileSize: offset(data.readBigUInt64LE(at + 32), "segment size") };
    if (segment.offset + segment.fileSize > data.length) fail("is truncated: a segment ends past the end of the file");
    segments.push(segment);
  }

  const cString = (at: number, field: string): string => {
    const end = data.indexOf(0, at);
    if (end === -1) fail(`has an unterminated ${field}`);
    return data.toString("utf8", at, end);
  };
  const interpSegment = segments.find((s) => s.type === PT_INTERP);
  const interpreter = interpSegment === undefined ? undefined : cString(interpSegment.offset, "interpreter path");

  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  if (dynamic === undefined) return { machine, interpreter, needed: [] };
  const neededOffsets: bigint[] = [];
  let stringTable: bigint | undefined;
  for (let at = dynamic.offset; at + DYNAMIC_ENTRY_BYTES <= dynamic.offset + dynamic.fileSize; at += DYNAMIC_ENTRY_BYTES) {
    const tag = data.readBigInt64LE(at);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(data.readBigUInt64LE(at + 8));
    if (tag === DT_STRTAB) stringTable = data.readBigUInt64LE(at + 8);
  }
  if (neededOffsets.length === 0) return { machine, interpreter, needed: [] };
  if (stringTable === undefined) return fail("names shared libraries but has no string table (DT_STRTAB)");
  // DT_STRTAB is a virtual address: the loadable segment that maps it gives its place in the file.
  const load = segments.find((s) => s.type === PT_LOAD && s.vaddr <= stringTable && stringTable < s.vaddr + BigInt(s.fileSize));
  if (load === undefined) return fail("has a string table (DT_STRTAB) outside its loadable segments");
  const tableOffset = load.offset + Number(stringTable - load.vaddr);
  const needed = neededOffsets.map((name) => cString(offset(BigInt(tableOffset) + name, "library name"), "library name"));
  return { machine, interpreter, needed };
}
