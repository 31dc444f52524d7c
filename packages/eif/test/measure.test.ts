import { describe, expect, it } from "vitest";
import { eifPcrs, readEif, signatureSection, writeEif, type EifImage } from "../src/index.ts";
import { pcrOf, sampleImage, sha384, signingIdentity } from "./fixtures.ts";

const image = sampleImage();
const [bootstrap, application] = image.ramdisks as [Uint8Array, Uint8Array];

/** A copy of the bytes with one of them changed. */
function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[at]! ^= 0x80;
  return copy;
}

function signed(of: EifImage, identity = signingIdentity()): EifImage {
  const pcr0 = Buffer.from(eifPcrs(of).PCR0, "hex");
  return { ...of, signature: signatureSection(pcr0, identity.certificatePem, identity.privateKeyPem) };
}

describe("eifPcrs", () => {
  it("measures the sections as nitro-cli does, computed here with node:crypto alone", () => {
    const expected = {
      PCR0: pcrOf(image.kernel, image.cmdline, bootstrap, application),
      PCR1: pcrOf(image.kernel, image.cmdline, bootstrap),
      PCR2: pcrOf(application),
    };
    expect(eifPcrs(image)).toEqual(expected);
    expect(readEif(writeEif(image)).pcrs).toEqual(expected);
    for (const value of Object.values(expected)) expect(value).toMatch(/^[0-9a-f]{96}$/);
  });

  it("leaves the metadata out", () => {
    const other = sampleImage();
    const metadata = new TextEncoder().encode(new TextDecoder().decode(other.metadata).replace("strongroom-test", "another-name"));
    expect(eifPcrs({ ...other, metadata })).toEqual(eifPcrs(image));
  });

  it("changes PCR0 and PCR2, not PCR1, when one byte of the application ramdisk changes", () => {
    const changed = eifPcrs({ ...image, ramdisks: [bootstrap, flipped(application, application.length - 130)] });
    const original = eifPcrs(image);
    expect(changed.PCR0).not.toBe(original.PCR0);
    expect(changed.PCR2).not.toBe(original.PCR2);
    expect(changed.PCR1).toBe(original.PCR1);
  });

  it("changes PCR0 and PCR1, not PCR2, when the bootstrap ramdisk, the kernel or the cmdline changes", () => {
    const original = eifPcrs(image);
    for (const changed of [
      { ...image, ramdisks: [flipped(bootstrap, 200), application] },
      { ...image, kernel: flipped(image.kernel, 0) },
      { ...image, cmdline: new TextEncoder().encode("console=ttyS0") },
    ]) {
      const pcrs = eifPcrs(changed);
      expect(pcrs.PCR0).not.toBe(original.PCR0);
      expect(pcrs.PCR1).not.toBe(original.PCR1);
      expect(pcrs.PCR2).toBe(original.PCR2);
    }
  });

  it("does not let bytes move between sections unnoticed in PCR1 and PCR2", () => {
    // Moving the last byte of the bootstrap ramdisk to the front of the application ramdisk keeps PCR0, which hashes one stream, but not PCR1 or PCR2.
    const moved = { ...image, ramdisks: [bootstrap.subarray(0, bootstrap.length - 1), Buffer.concat([bootstrap.subarray(bootstrap.length - 1), application])] };
    const pcrs = eifPcrs(moved);
    expect(pcrs.PCR0).toBe(eifPcrs(image).PCR0);
    expect(pcrs.PCR1).not.toBe(eifPcrs(image).PCR1);
    expect(pcrs.PCR2).not.toBe(eifPcrs(image).PCR2);
  });

  it("adds PCR8 = SHA-384(0^48 ‖ SHA-384(certificate DER)) for a signed image, and keeps PCR0 to PCR2", () => {
    const identity = signingIdentity();
    const signedImage = signed(image, identity);
    const pcrs = eifPcrs(signedImage);
    expect(pcrs.PCR8).toBe(sha384(new Uint8Array(48), sha384(identity.der)).toString("hex"));
    expect({ ...pcrs, PCR8: undefined }).toEqual({ ...eifPcrs(image), PCR8: undefined });
    expect(readEif(writeEif(signedImage)).pcrs).toEqual(pcrs);
    expect(eifPcrs(image).PCR8).toBeUndefined();
  });

  it("refuses to give PCRs for an image whose signature is for other sections", () => {
    const signedImage = signed(image);
    expect(() => eifPcrs({ ...signedImage, ramdisks: [bootstrap, flipped(application, 0)] })).toThrow(/not this image's PCR0/);
  });
});
