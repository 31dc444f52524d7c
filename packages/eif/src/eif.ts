// The Enclave Image Format, version 4, as aws-nitro-enclaves-image-format defines it
// (src/defs/mod.rs) and its EifBuilder writes it (src/utils/mod.rs); all integers big-endian.
//
//   header (548 bytes): magic ".eif", version u16 = 4, flags u16 (bit 0: aarch64),
//     default_mem u64 (bytes; AWS writes 1 GiB), default_cpus u64 (AWS writes 2), reserved u16,
//     section count u16, section offsets [u64; 32], section sizes [u64; 32], unused u32,
//     crc32 u32
//   then each section: type u16, flags u16, size u64 (12 bytes), then its data
//
// The header's offsets point at section headers, its sizes are of the data alone. Sections come in
// the order EifBuilder writes: kernel, cmdline, metadata, the ramdisks (bootstrap first), then the
// signature if the image is signed. The CRC-32 (ISO-HDLC, zlib's) covers every byte of the file
// except the crc32 field itself: the header's first 544 bytes, then each section header and data
// in file order.
import { crc32 } from "node:zlib";
import { measure } from "@strongroom/nitro";
import { eifPcrs, type EifPcrs } from "./measure.ts";
import { decodeEifMetadata } from "./metadata.ts";
import { verifySignatureSection } from "./signature.ts";

export const EIF_HEADER_BYTES = 548;
export const EIF_SECTION_HEADER_BYTES = 12;
export const EIF_VERSION = 4;
export const EIF_MAX_SECTIONS = 32;
/** Header flag: the image is for aarch64 (Graviton); clear for x86_64. The only flag defined. */
export const EIF_FLAG_ARM64 = 1;
/** readEif's default size limit; a caller reading a file should check its size against it first. */
export const EIF_MAX_BYTES = 2 * 1024 * 1024 * 1024;

export const SectionType = { Kernel: 1, Cmdline: 2, Ramdisk: 3, Signature: 4, Metadata: 5 } as const;

const SECTION_NAMES: Readonly<Record<number, string>> = { 0: "an invalid (type 0) section", 1: "the kernel", 2: "the cmdline", 3: "a ramdisk", 4: "the signature", 5: "the metadata" };
const MAGIC = Uint8Array.of(0x2e, 0x65, 0x69, 0x66);
const MIB = 1024 * 1024;
/** What AWS's EifBuilder writes; nothing reads them to launch an enclave (nitro-cli takes memory and CPUs from its own arguments). */
const DEFAULT_MEMORY_MIB = 1024;
const DEFAULT_CPUS = 2;
/** Byte offsets of the header fields. */
const AT = { magic: 0, version: 4, flags: 6, defaultMem: 8, defaultCpus: 16, reserved: 24, sectionCount: 26, offsets: 28, sizes: 28 + 8 * EIF_MAX_SECTIONS, unused: 540, crc: 544 } as const;

export interface EifImage {
  readonly kernel: Uint8Array;
  /** The kernel command line's bytes, without a terminating NUL (AWS writes a CString's bytes). */
  readonly cmdline: Uint8Array;
  /** The metadata section: EifIdentityInfo JSON, as encodeEifMetadata makes it. */
  readonly metadata: Uint8Array;
  /** The bootstrap ramdisk (init, the NSM driver) first, then the application ramdisk(s). */
  readonly ramdisks: readonly Uint8Array[];
  /** The signature section, as signatureSection makes it for this image's PCR0. */
  readonly signature?: Uint8Array;
  /** Header default_mem, in MiB (the header holds bytes). Default 1024, as AWS writes. */
  readonly defaultMemoryMiB?: number;
  /** Header default_cpus. Default 2, as AWS writes. */
  readonly defaultCpus?: number;
  /** Header flags: 0 for x86_64 (the default), EIF_FLAG_ARM64 for aarch64. */
  readonly flags?: number;
}

export interface EifSection {
  readonly type: number;
  readonly flags: number;
  /** Where the section's 12-byte header starts. */
  readonly offset: number;
  /** The size of its data. */
  readonly size: number;
}

export interface ParsedEif extends EifImage {
  readonly version: number;
  readonly flags: number;
  readonly defaultMemoryMiB: number;
  readonly defaultCpus: number;
  readonly crc32: number;
  readonly sections: readonly EifSection[];
  /** The PCRs the image boots with (PCR8 when signed, after its signature verified). */
  readonly pcrs: EifPcrs;
}

function sectionsOf(image: EifImage): { type: number; data: Uint8Array }[] {
  return [
    { type: SectionType.Kernel, data: image.kernel },
    { type: SectionType.Cmdline, data: image.cmdline },
    { type: SectionType.Metadata, data: image.metadata },
    ...image.ramdisks.map((data) => ({ type: SectionType.Ramdisk, data })),
    ...(image.signature === undefined ? [] : [{ type: SectionType.Signature, data: image.signature }]),
  ];
}

function checkCmdline(cmdline: Uint8Array): void {
  if (cmdline.includes(0)) throw new Error("the EIF kernel command line contains a NUL byte; AWS's tools write it as a C string, which cannot");
}

function checkCount(value: number, max: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new Error(`${what} ${String(value)} is not a whole number from 0 to ${max}`);
}

function checkFlags(flags: number): void {
  if (flags !== 0 && flags !== EIF_FLAG_ARM64) throw new Error(`EIF header flags 0x${flags.toString(16)} are not defined; only 0 (x86_64) and ${EIF_FLAG_ARM64} (aarch64) are`);
}

/** The image as a version 4 EIF. The same image always gives the same bytes. */
export function writeEif(image: EifImage): Uint8Array {
  for (const [name, value] of [["kernel", image?.kernel], ["cmdline", image?.cmdline], ["metadata", image?.metadata]] as const) {
    if (!(value instanceof Uint8Array)) throw new Error(`the EIF ${name} must be bytes`);
  }
  if (!Array.isArray(image.ramdisks) || image.ramdisks.length === 0 || !image.ramdisks.every((r) => r instanceof Uint8Array)) {
    throw new Error("an EIF needs one or more ramdisks (bytes), the bootstrap ramdisk first");
  }
  if (image.signature !== undefined && !(image.signature instanceof Uint8Array)) throw new Error("the EIF signature section must be bytes");
  checkCmdline(image.cmdline);
  decodeEifMetadata(image.metadata);
  const memoryMiB = image.defaultMemoryMiB ?? DEFAULT_MEMORY_MIB;
  const cpus = image.defaultCpus ?? DEFAULT_CPUS;
  const flags = image.flags ?? 0;
  checkCount(memoryMiB, Math.floor(Number.MAX_SAFE_INTEGER / MIB), "EIF default memory (MiB)");
  checkCount(cpus, Number.MAX_SAFE_INTEGER, "EIF default CPU count");
  checkFlags(flags);
  const sections = sectionsOf(image);
  if (sections.length > EIF_MAX_SECTIONS) throw new Error(`the image has ${sections.length} sections; an EIF holds at most ${EIF_MAX_SECTIONS} (so at most ${EIF_MAX_SECTIONS - 4} ramdisks when signed)`);
  // readEif refuses a signature that does not verify against the image's PCR0: so does the writer.
  if (image.signature !== undefined) verifySignatureSection(image.signature, measure([image.kernel, image.cmdline, ...image.ramdisks]));

  const size = sections.reduce((total, s) => total + EIF_SECTION_HEADER_BYTES + s.data.length, EIF_HEADER_BYTES);
  const out = Buffer.alloc(size);
  out.set(MAGIC, AT.magic);
  out.writeUInt16BE(EIF_VERSION, AT.version);
  out.writeUInt16BE(flags, AT.flags);
  out.writeBigUInt64BE(BigInt(memoryMiB * MIB), AT.defaultMem);
  out.writeBigUInt64BE(BigInt(cpus), AT.defaultCpus);
  out.writeUInt16BE(sections.length, AT.sectionCount);
  let at = EIF_HEADER_BYTES;
  sections.forEach(({ type, data }, index) => {
    out.writeBigUInt64BE(BigInt(at), AT.offsets + 8 * index);
    out.writeBigUInt64BE(BigInt(data.length), AT.sizes + 8 * index);
    out.writeUInt16BE(type, at);
    out.writeBigUInt64BE(BigInt(data.length), at + 4);
    out.set(data, at + EIF_SECTION_HEADER_BYTES);
    at += EIF_SECTION_HEADER_BYTES + data.length;
  });
  out.writeUInt32BE(fileCrc(out), AT.crc);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function fileCrc(bytes: Uint8Array): number {
  return crc32(bytes.subarray(EIF_HEADER_BYTES), crc32(bytes.subarray(0, AT.crc)));
}

function u64(view: Buffer, at: number, what: string): number {
  const value = view.readBigUInt64BE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`EIF ${what} is ${value}, beyond any file this reader accepts`);
  return Number(value);
}

const describe = (type: number | undefined): string => (type === undefined ? "missing" : (SECTION_NAMES[type] ?? `of unknown type ${type}`));

/**
 * Kernel, cmdline, metadata, one or more ramdisks, an optional signature: what EifBuilder writes.
 * nitro-cli would measure other orders too, but PCR1 and PCR2 would then depend on which ramdisk
 * came first, and nothing AWS builds looks like that.
 */
function checkOrder(types: readonly number[]): void {
  const fixed = [SectionType.Kernel, SectionType.Cmdline, SectionType.Metadata];
  fixed.forEach((type, index) => {
    if (types[index] !== type) throw new Error(`EIF section ${index} is ${describe(types[index])} where ${describe(type)} belongs (sections go kernel, cmdline, metadata, ramdisks, signature)`);
  });
  let index = fixed.length;
  while (types[index] === SectionType.Ramdisk) index++;
  if (index === fixed.length) throw new Error(`EIF section ${index} is ${describe(types[index])} where the first ramdisk belongs`);
  if (types[index] === SectionType.Signature) index++;
  if (index !== types.length) throw new Error(`EIF section ${index} is ${describe(types[index])} after ${describe(types[index - 1])}; only ramdisks and then one signature may follow the metadata`);
}

/**
 * Reads and checks an EIF: the header's fields, that sections follow one another from the end of
 * the header without gap, overlap or trailing bytes and agree with the header, their order, the
 * CRC, the cmdline and metadata, and the signature against the image's PCR0. Throws an Error
 * naming the first problem. Section contents are views of `bytes`.
 */
export function readEif(bytes: Uint8Array, limits: { readonly maxBytes?: number } = {}): ParsedEif {
  const maxBytes = limits.maxBytes ?? EIF_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < EIF_HEADER_BYTES) throw new Error(`maxBytes ${String(maxBytes)} is not a whole number of bytes of at least ${EIF_HEADER_BYTES}`);
  if (!(bytes instanceof Uint8Array)) throw new Error("an EIF must be bytes");
  if (bytes.length > maxBytes) throw new Error(`the EIF is ${bytes.length} bytes, more than the ${maxBytes} allowed`);
  if (bytes.length < EIF_HEADER_BYTES) throw new Error(`the file is ${bytes.length} bytes, too short for the ${EIF_HEADER_BYTES}-byte EIF header`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  if (Buffer.compare(view.subarray(0, MAGIC.length), MAGIC) !== 0) throw new Error(`not an EIF: the file starts with 0x${view.subarray(0, 4).toString("hex")}, not the magic ".eif"`);
  const version = view.readUInt16BE(AT.version);
  if (version !== EIF_VERSION) throw new Error(`the EIF is version ${version}; only version ${EIF_VERSION} (with a metadata section) is read: rebuild it with a current nitro-cli or strongroom`);
  const flags = view.readUInt16BE(AT.flags);
  checkFlags(flags);
  const defaultMemory = u64(view, AT.defaultMem, "default_mem");
  if (defaultMemory % MIB !== 0) throw new Error(`the EIF's default_mem is ${defaultMemory} bytes, not a whole number of MiB`);
  const defaultCpus = u64(view, AT.defaultCpus, "default_cpus");
  if (view.readUInt16BE(AT.reserved) !== 0) throw new Error("the EIF header's reserved field is not zero");
  if (view.readUInt32BE(AT.unused) !== 0) throw new Error("the EIF header's unused field is not zero");
  const count = view.readUInt16BE(AT.sectionCount);
  if (count < 1 || count > EIF_MAX_SECTIONS) throw new Error(`the EIF header says ${count} sections; 1 to ${EIF_MAX_SECTIONS} are possible`);
  for (let index = count; index < EIF_MAX_SECTIONS; index++) {
    if (view.readBigUInt64BE(AT.offsets + 8 * index) !== 0n || view.readBigUInt64BE(AT.sizes + 8 * index) !== 0n) {
      throw new Error(`the EIF header has an offset or size for section ${index}, beyond its ${count} sections`);
    }
  }

  const sections: EifSection[] = [];
  let expected = EIF_HEADER_BYTES;
  for (let index = 0; index < count; index++) {
    const offset = u64(view, AT.offsets + 8 * index, `section ${index} offset`);
    const size = u64(view, AT.sizes + 8 * index, `section ${index} size`);
    if (offset !== expected) throw new Error(`EIF section ${index} starts at byte ${offset}, but sections follow one another without gap or overlap, so it must start at ${expected}`);
    if (offset + EIF_SECTION_HEADER_BYTES > bytes.length) throw new Error(`the EIF is truncated: section ${index}'s header at byte ${offset} runs past its end (${bytes.length} bytes)`);
    const type = view.readUInt16BE(offset);
    const sectionFlags = view.readUInt16BE(offset + 2);
    const sectionSize = u64(view, offset + 4, `section ${index} header size`);
    if (SECTION_NAMES[type] === undefined || type === 0) throw new Error(`EIF section ${index} has type ${type}, which is not a section type (1 to 5)`);
    if (sectionFlags !== 0) throw new Error(`EIF section ${index} has flags 0x${sectionFlags.toString(16)}; none are defined`);
    if (sectionSize !== size) throw new Error(`EIF section ${index}'s header says ${sectionSize} bytes, the EIF header says ${size}`);
    if (offset + EIF_SECTION_HEADER_BYTES + size > bytes.length) throw new Error(`the EIF is truncated: section ${index} (${describe(type)}, ${size} bytes at byte ${offset + EIF_SECTION_HEADER_BYTES}) runs past its end (${bytes.length} bytes)`);
    sections.push({ type, flags: sectionFlags, offset, size });
    expected = offset + EIF_SECTION_HEADER_BYTES + size;
  }
  if (expected !== bytes.length) throw new Error(`the EIF has ${bytes.length - expected} bytes after its last section`);
  checkOrder(sections.map((s) => s.type));

  const crc = view.readUInt32BE(AT.crc);
  const computed = fileCrc(bytes);
  if (computed !== crc) throw new Error(`the EIF's CRC-32 is 0x${computed.toString(16).padStart(8, "0")} but its header says 0x${crc.toString(16).padStart(8, "0")}: the file is damaged or was changed`);

  const data = sections.map((s) => new Uint8Array(bytes.buffer, bytes.byteOffset + s.offset + EIF_SECTION_HEADER_BYTES, s.size));
  const ofType = (type: number) => data.filter((_, index) => sections[index]!.type === type);
  const [kernel, cmdline, metadata] = data as [Uint8Array, Uint8Array, Uint8Array];
  const [signature] = ofType(SectionType.Signature);
  checkCmdline(cmdline);
  decodeEifMetadata(metadata);
  const image: EifImage = { kernel, cmdline, metadata, ramdisks: ofType(SectionType.Ramdisk), ...(signature === undefined ? {} : { signature }) };
  return { ...image, version, flags, defaultMemoryMiB: defaultMemory / MIB, defaultCpus, crc32: crc, sections, pcrs: eifPcrs(image) };
}
