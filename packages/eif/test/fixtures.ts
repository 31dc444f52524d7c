// Shared material for the EIF tests: a small image whose ramdisks are real cpio archives, signing
// identities made with @strongroom/nitro's certificate builder, and ways to take an EIF apart.
import { createHash, generateKeyPairSync } from "node:crypto";
import { crc32 } from "node:zlib";
import { basicConstraintsExtension, buildCertificate, derToPem, encodeName } from "@strongroom/nitro";
import { expect } from "vitest";
import { encodeEifMetadata, writeCpio, type EifImage } from "../src/index.ts";

const text = (s: string) => new TextEncoder().encode(s);

export const METADATA = encodeEifMetadata({
  imageName: "strongroom-test",
  imageVersion: "0.1.0",
  buildInfo: { buildTime: "2024-01-01T00:00:00+00:00", buildTool: "strongroom", buildToolVersion: "0.1.0", operatingSystem: "Linux", kernelVersion: "6.1.0" },
  dockerInfo: null,
  customInfo: { purpose: "test" },
});

/** A small image: placeholder kernel, a real cmdline, bootstrap and application ramdisks as cpio. */
export function sampleImage(): EifImage {
  const bootstrap = writeCpio(
    [
      { path: "dev", type: "directory", mode: 0o755 },
      { path: "init", type: "file", mode: 0o755, content: text("#!/bin/sh\necho bootstrap\n") },
      { path: "nsm.ko", type: "file", mode: 0o644, content: text("not a kernel module") },
    ],
    { mtime: 0 },
  );
  const application = writeCpio(
    [
      { path: "app", type: "directory", mode: 0o755 },
      { path: "app/main.js", type: "file", mode: 0o644, content: text("console.log('strongroom');\n") },
      { path: "cmd", type: "file", mode: 0o644, content: text("/app/main.js\n") },
      { path: "env", type: "file", mode: 0o644, content: text("NODE_ENV=production\n") },
    ],
    { mtime: 1_700_000_000 },
  );
  return {
    kernel: text("placeholder bzImage bytes ".repeat(20)),
    cmdline: text("reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on"),
    metadata: METADATA,
    ramdisks: [bootstrap, application],
  };
}

export interface SigningIdentity {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly der: Uint8Array;
}

/** A self-signed certificate and its key, on P-384 unless said otherwise. */
export function signingIdentity(options: { curve?: string; notBefore?: Date; notAfter?: Date; name?: string } = {}): SigningIdentity {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: options.curve ?? "secp384r1" });
  const name = encodeName([["CN", options.name ?? "strongroom EIF signing test"]]);
  const der = buildCertificate(
    {
      serialNumber: Uint8Array.of(0x01, 0x23),
      issuer: name,
      subject: name,
      notBefore: options.notBefore ?? new Date(Date.now() - 3_600_000),
      notAfter: options.notAfter ?? new Date(Date.now() + 86_400_000),
      publicKey,
      extensions: [basicConstraintsExtension(false)],
    },
    privateKey,
  );
  return { certificatePem: derToPem(der), privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, der };
}

export const sha384 = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash("sha384");
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** SHA-384(48 zero bytes ‖ SHA-384(parts)), computed here without @strongroom/nitro. */
export const pcrOf = (...parts: Uint8Array[]): string => sha384(new Uint8Array(48), sha384(...parts)).toString("hex");

/** Sets the header CRC to what the bytes now hold, so a test reaches the checks after the CRC. */
export function fixCrc(eif: Uint8Array): Uint8Array {
  const out = Buffer.from(eif);
  out.writeUInt32BE(crc32(out.subarray(548), crc32(out.subarray(0, 544))), 544);
  return new Uint8Array(out);
}

/**
 * An EIF laid out from these sections in the given order with a correct header and CRC, written
 * independently of writeEif (to cross-check it, and to make EIFs it would refuse to write).
 */
export function assemble(sections: readonly { type: number; data: Uint8Array }[], header: { version?: number } = {}): Uint8Array {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(548);
  head.write(".eif", 0, "latin1");
  head.writeUInt16BE(header.version ?? 4, 4);
  head.writeBigUInt64BE(1n << 30n, 8);
  head.writeBigUInt64BE(2n, 16);
  head.writeUInt16BE(sections.length, 26);
  let offset = 548;
  sections.forEach(({ type, data }, index) => {
    head.writeBigUInt64BE(BigInt(offset), 28 + 8 * index);
    head.writeBigUInt64BE(BigInt(data.length), 284 + 8 * index);
    const sectionHeader = Buffer.alloc(12);
    sectionHeader.writeUInt16BE(type, 0);
    sectionHeader.writeBigUInt64BE(BigInt(data.length), 4);
    parts.push(sectionHeader, Buffer.from(data));
    offset += 12 + data.length;
  });
  return fixCrc(Buffer.concat([head, ...parts]));
}

/** Expects `run` to throw a plain, explained Error (not a TypeError or RangeError from a careless read). */
export function expectRefusal(run: () => unknown, message?: RegExp): Error {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught, "it was accepted").toBeInstanceOf(Error);
  expect(caught).not.toBeInstanceOf(TypeError);
  expect(caught).not.toBeInstanceOf(RangeError);
  const error = caught as Error;
  if (message !== undefined) expect(error.message).toMatch(message);
  return error;
}
