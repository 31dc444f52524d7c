// A stand-in for aws-nitro-enclaves-cli's blobs directory: the same file
// names, a kernel config whose third line reads as AWS's does, a command line
// with the trailing newline nitro-cli trims, and placeholder bytes for the
// kernel, init and the NSM driver (nothing here boots; the builder only
// copies and measures them).
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const FAKE_CMDLINE = "reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on root=/dev/ram0";

/** `length` bytes that depend only on `label`. */
export function placeholderBytes(label: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let block = createHash("sha256").update(label).digest();
  for (let at = 0; at < length; at += block.length) {
    out.set(block.subarray(0, Math.min(block.length, length - at)), at);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** Writes the blobs into `dir` (created) and returns it; `kernelBytes` sizes the placeholder kernel (a real bzImage is some 7 MiB). */
export function writeFakeBlobs(dir: string, kernelBytes = 64 * 1024): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "bzImage"), placeholderBytes("bzImage", kernelBytes));
  writeFileSync(join(dir, "bzImage.config"), "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.6.38 Kernel Configuration\n#\nCONFIG_RD_GZIP=y\n");
  writeFileSync(join(dir, "cmdline"), `${FAKE_CMDLINE}\n`);
  writeFileSync(join(dir, "init"), placeholderBytes("init", 8 * 1024));
  writeFileSync(join(dir, "nsm.ko"), placeholderBytes("nsm.ko", 16 * 1024));
  return dir;
}
