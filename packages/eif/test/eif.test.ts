import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { EIF_FLAG_ARM64, EIF_HEADER_BYTES, EIF_SECTION_HEADER_BYTES, eifPcrs, readEif, SectionType, signatureSection, writeEif, type EifImage } from "../src/index.ts";
import { assemble, expectRefusal, fixCrc, sampleImage, signingIdentity } from "./fixtures.ts";

const image = sampleImage();
const eif = writeEif(image);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
type Section = { type: number; data: Uint8Array };
/** The image's sections in AWS's order: kernel, cmdline, metadata, bootstrap, application. */
const sectionsOf = (i: EifImage): [Section, Section, Section, Section, Section] => [
  { type: SectionType.Kernel, data: i.kernel },
  { type: SectionType.Cmdline, data: i.cmdline },
  { type: SectionType.Metadata, data: i.metadata },
  { type: SectionType.Ramdisk, data: i.ramdisks[0]! },
  { type: SectionType.Ramdisk, data: i.ramdisks[1]! },
];
/** A copy with one header field changed, the CRC left as it was. */
const patch = (bytes: Uint8Array, change: (b: Buffer) => unknown): Uint8Array => {
  const copy = Buffer.from(bytes);
  change(copy);
  return new Uint8Array(copy);
};

describe("writeEif", () => {
  it("lays out the header and sections as AWS's EifBuilder does", () => {
    const b = Buffer.from(eif);
    expect([...b.subarray(0, 4)]).toEqual([0x2e, 0x65, 0x69, 0x66]);
    expect(b.readUInt16BE(4)).toBe(4);
    expect(b.readUInt16BE(6)).toBe(0);
    expect(b.readBigUInt64BE(8)).toBe(1n << 30n); // default_mem: 1 GiB, in bytes
    expect(b.readBigUInt64BE(16)).toBe(2n); // default_cpus
    expect(b.readUInt16BE(24)).toBe(0);
    expect(b.readUInt16BE(26)).toBe(5);
    const order = [image.kernel, image.cmdline, image.metadata, ...image.ramdisks];
    let offset = EIF_HEADER_BYTES;
    order.forEach((data, index) => {
      expect(b.readBigUInt64BE(28 + 8 * index)).toBe(BigInt(offset));
      expect(b.readBigUInt64BE(284 + 8 * index)).toBe(BigInt(data.length));
      expect(b.readUInt16BE(offset)).toBe([1, 2, 5, 3, 3][index]);
      expect(b.readUInt16BE(offset + 2)).toBe(0);
      expect(b.readBigUInt64BE(offset + 4)).toBe(BigInt(data.length));
      expect(same(b.subarray(offset + 12, offset + 12 + data.length), data)).toBe(true);
      offset += EIF_SECTION_HEADER_BYTES + data.length;
    });
    expect(b.length).toBe(offset);
    expect(b.readUInt32BE(540)).toBe(0);
    // The CRC covers everything but itself.
    expect(b.readUInt32BE(544)).toBe(crc32(Buffer.concat([b.subarray(0, 544), b.subarray(548)])));
  });

  it("writes the same bytes as an independent layout of the same sections, every time", () => {
    expect(same(eif, assemble(sectionsOf(image)))).toBe(true);
    expect(same(writeEif(sampleImage()), eif)).toBe(true);
  });

  it("writes the header fields it is given", () => {
    const parsed = readEif(writeEif({ ...image, defaultMemoryMiB: 512, defaultCpus: 4, flags: EIF_FLAG_ARM64 }));
    expect([parsed.defaultMemoryMiB, parsed.defaultCpus, parsed.flags]).toEqual([512, 4, 1]);
  });

  it("refuses what it could not write faithfully or readEif would refuse", () => {
    expectRefusal(() => writeEif({ ...image, cmdline: new TextEncoder().encode("console=ttyS0\0") }), /NUL byte/);
    expectRefusal(() => writeEif({ ...image, ramdisks: [] }), /one or more ramdisks/);
    expectRefusal(() => writeEif({ ...image, metadata: new TextEncoder().encode("{}") }), /"ImageName" is missing/);
    expectRefusal(() => writeEif({ ...image, ramdisks: Array.from({ length: 30 }, () => new Uint8Array(1)) }), /33 sections; an EIF holds at most 32/);
    expectRefusal(() => writeEif({ ...image, flags: 2 }), /flags 0x2 are not defined/);
    expectRefusal(() => writeEif({ ...image, defaultCpus: -1 }), /CPU count -1/);
    expectRefusal(() => writeEif({ ...image, defaultMemoryMiB: 0.5 }), /memory \(MiB\) 0.5/);
    expectRefusal(() => writeEif({ ...image, signature: new Uint8Array([0x80]) }), /exactly one PCR signature/);
  });
});

describe("readEif", () => {
  it("round-trips every section and header field", () => {
    const parsed = readEif(eif);
    expect([parsed.version, parsed.flags, parsed.defaultMemoryMiB, parsed.defaultCpus]).toEqual([4, 0, 1024, 2]);
    expect(parsed.crc32).toBe(Buffer.from(eif).readUInt32BE(544));
    for (const key of ["kernel", "cmdline", "metadata"] as const) expect(same(parsed[key], image[key])).toBe(true);
    expect(parsed.ramdisks).toHaveLength(2);
    parsed.ramdisks.forEach((r, i) => expect(same(r, image.ramdisks[i]!)).toBe(true));
    expect(parsed.signature).toBeUndefined();
    expect(parsed.sections.map((s) => s.type)).toEqual([1, 2, 5, 3, 3]);
    expect(parsed.sections[0]).toEqual({ type: 1, flags: 0, offset: 548, size: image.kernel.length });
    expect(parsed.pcrs.PCR8).toBeUndefined();
  });

  it("refuses a change to any single byte", () => {
    const sectionData = new Set<number>();
    for (const s of readEif(eif).sections) for (let i = s.offset + 12; i < s.offset + 12 + s.size; i++) sectionData.add(i);
    for (let at = 0; at < eif.length; at++) {
      const error = expectRefusal(() => readEif(patch(eif, (b) => (b[at] = b[at]! ^ 0x01))));
      if (sectionData.has(at) || (at >= 544 && at < 548)) expect(error.message, `byte ${at}`).toMatch(/CRC-32/);
    }
  });

  it("refuses a truncated file", () => {
    const kernelData = 548 + 12 + 10;
    for (const length of [0, 3, 100, 547, 548, 555, kernelData, eif.length - 1]) {
      expectRefusal(() => readEif(eif.subarray(0, length)), /too short|truncated/);
    }
  });

  it("refuses bytes after the last section", () => {
    expectRefusal(() => readEif(fixCrc(Buffer.concat([eif, Buffer.from([0])]))), /1 bytes after its last section/);
  });

  it("refuses a file over maxBytes before looking at it", () => {
    expectRefusal(() => readEif(eif, { maxBytes: eif.length - 1 }), new RegExp(`is ${eif.length} bytes, more than the ${eif.length - 1} allowed`));
    expectRefusal(() => readEif(new Uint8Array(4096), { maxBytes: 1024 }), /more than the 1024 allowed/);
    expect(readEif(eif, { maxBytes: eif.length }).sections).toHaveLength(5);
    expectRefusal(() => readEif(eif, { maxBytes: -1 }), /maxBytes -1/);
  });

  it("checks the header fields", () => {
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.write("EIF.", 0, "latin1")))), /not an EIF: the file starts with 0x4549462e/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(3, 4)))), /version 3; only version 4/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(2, 6)))), /flags 0x2 are not defined/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeBigUInt64BE(1000n, 8)))), /default_mem is 1000 bytes, not a whole number of MiB/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeBigUInt64BE(1n << 60n, 16)))), /default_cpus is 1152921504606846976, beyond/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(1, 24)))), /reserved field is not zero/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt32BE(1, 540)))), /unused field is not zero/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(0, 26)))), /says 0 sections; 1 to 32/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(33, 26)))), /says 33 sections; 1 to 32/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeBigUInt64BE(1n, 284 + 8 * 31)))), /offset or size for section 31, beyond its 5 sections/);
    // The count says 4: the fifth section's offset and size are then stray, and were it not for them its bytes would trail.
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(4, 26)))), /offset or size for section 4/);
  });

  it("refuses offsets and sizes that point outside the file or disagree", () => {
    const parsed = readEif(eif);
    const last = parsed.sections[4]!;
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeBigUInt64BE(1n << 40n, 28 + 8 * 4)))), new RegExp(`section 4 starts at byte ${2 ** 40}, .* must start at ${last.offset}`));
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeBigUInt64BE(BigInt(last.offset + 1), 28 + 8 * 4)))), /section 4 starts at byte/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeBigUInt64BE(1n << 63n, 28 + 8 * 4)))), /section 4 offset is 9223372036854775808, beyond/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeBigUInt64BE(BigInt(last.size + 1), 284 + 8 * 4)))), /section 4's header says \d+ bytes, the EIF header says/);
    // Both sizes agree, but the data runs past the end.
    const longer = patch(eif, (b) => {
      b.writeBigUInt64BE(BigInt(last.size + 4), 284 + 8 * 4);
      b.writeBigUInt64BE(BigInt(last.size + 4), last.offset + 4);
    });
    expectRefusal(() => readEif(fixCrc(longer)), /truncated: section 4 \(a ramdisk, \d+ bytes at byte \d+\) runs past its end/);
  });

  it("checks section types and flags", () => {
    const kernelHeader = 548;
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(0, kernelHeader)))), /section 0 has type 0/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(6, kernelHeader)))), /section 0 has type 6/);
    expectRefusal(() => readEif(fixCrc(patch(eif, (b) => b.writeUInt16BE(1, kernelHeader + 2)))), /section 0 has flags 0x1/);
  });

  it("requires AWS's section order", () => {
    const [kernel, cmdline, metadata, bootstrap, application] = sectionsOf(image);
    const signature = { type: SectionType.Signature, data: new Uint8Array(8) };
    expectRefusal(() => readEif(assemble([cmdline, kernel, metadata, bootstrap, application])), /section 0 is the cmdline where the kernel belongs/);
    expectRefusal(() => readEif(assemble([kernel, cmdline, bootstrap, metadata, application])), /section 2 is a ramdisk where the metadata belongs/);
    expectRefusal(() => readEif(assemble([kernel, cmdline, metadata])), /section 3 is missing where the first ramdisk belongs/);
    expectRefusal(() => readEif(assemble([kernel, cmdline, metadata, signature, bootstrap])), /section 3 is the signature where the first ramdisk belongs/);
    expectRefusal(() => readEif(assemble([kernel, cmdline, metadata, bootstrap, signature, application])), /section 5 is a ramdisk after the signature/);
    expectRefusal(() => readEif(assemble([kernel, cmdline, metadata, bootstrap, metadata])), /section 4 is the metadata after a ramdisk/);
    expectRefusal(() => readEif(assemble([kernel, cmdline, metadata, bootstrap, signature, signature])), /section 5 is the signature after the signature/);
    expectRefusal(() => readEif(assemble([kernel])), /section 1 is missing where the cmdline belongs/);
    // One ramdisk is what AWS's format needs at least; PCR2 then measures nothing.
    expect(readEif(assemble([kernel, cmdline, metadata, bootstrap])).ramdisks).toHaveLength(1);
  });

  it("checks the cmdline and the metadata as nitro-cli's reader would", () => {
    const [kernel, cmdline, metadata, bootstrap] = sectionsOf(image);
    const nul = { type: SectionType.Cmdline, data: new TextEncoder().encode("console=ttyS0\0") };
    expectRefusal(() => readEif(assemble([kernel, nul, metadata, bootstrap])), /NUL byte/);
    const withMetadata = (json: string) => assemble([kernel, cmdline, { type: SectionType.Metadata, data: new TextEncoder().encode(json) }, bootstrap]);
    expectRefusal(() => readEif(withMetadata("not json")), /not UTF-8 JSON/);
    expectRefusal(() => readEif(withMetadata("[]")), /not a JSON object/);
    expectRefusal(() => readEif(withMetadata('{"ImageName":"x","ImageVersion":"1","BuildMetadata":{}}')), /"BuildTime" is missing/);
  });

  it("refuses a version 3 EIF (no metadata section) and a signature that is not CBOR", () => {
    const [kernel, cmdline, , bootstrap] = sectionsOf(image);
    expectRefusal(() => readEif(assemble([kernel, cmdline, bootstrap], { version: 3 })), /version 3/);
    expectRefusal(() => readEif(assemble([...sectionsOf(image), { type: SectionType.Signature, data: Uint8Array.of(0xff) }])), /signature section is not valid CBOR/);
  });

  it("reads a signed image, and refuses one whose signature is for other sections", () => {
    const identity = signingIdentity();
    const signature = signatureSection(Buffer.from(eifPcrs(image).PCR0, "hex"), identity.certificatePem, identity.privateKeyPem);
    const parsed = readEif(writeEif({ ...image, signature }));
    expect(parsed.sections.map((s) => s.type)).toEqual([1, 2, 5, 3, 3, 4]);
    expect(same(parsed.signature!, signature)).toBe(true);
    expect(parsed.pcrs.PCR8).toMatch(/^[0-9a-f]{96}$/);
    const [kernel, cmdline, metadata, bootstrap] = sectionsOf(image);
    const other = { type: SectionType.Ramdisk, data: new Uint8Array(16) };
    expectRefusal(() => writeEif({ ...image, ramdisks: [bootstrap.data, other.data], signature }), /not this image's PCR0/);
    expectRefusal(() => readEif(assemble([kernel, cmdline, metadata, bootstrap, other, { type: SectionType.Signature, data: signature }])), /not this image's PCR0/);
  });
});
