// The parts of an enclave image that AWS provides: the blobs directory of
// aws-nitro-enclaves-cli (/usr/share/nitro_enclaves/blobs/ when the package is
// installed, blobs/<arch>/ in its repository), read as nitro-cli reads it
// (src/lib.rs build_from_docker): the kernel (bzImage, or Image on aarch64)
// and its .config, the kernel command line (`cmdline`, trimmed), and `init` and
// `nsm.ko` for the bootstrap ramdisk.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ElfMachine } from "./elf.ts";

export const DEFAULT_BLOBS_DIR = "/usr/share/nitro_enclaves/blobs";
const KERNEL_FILE: Readonly<Record<ElfMachine, string>> = { x86_64: "bzImage", aarch64: "Image" };
/** What AWS writes for an operating system or kernel version its kernel config does not give. */
const UNKNOWN = "Unknown";
/** Far more than any of the blobs (the kernel is some 7 MB); larger files are refused unread. */
const MAX_BLOB_BYTES = 256 * 1024 * 1024;

/** The blobs directory is missing or incomplete: the fix is to point at the right one. */
export class BlobsError extends Error {
  override readonly name = "BlobsError";
}

export interface Blobs {
  /** What the kernel is for: bzImage is x86_64's, Image aarch64's. */
  readonly machine: ElfMachine;
  readonly kernel: Uint8Array;
  /** Trimmed as nitro-cli trims it (Rust's str::trim: Unicode white space at both ends). */
  readonly cmdline: Uint8Array;
  readonly init: Uint8Array;
  readonly nsmDriver: Uint8Array;
  /** From the third line of the kernel's .config ("# Linux/x86 6.6.38 Kernel Configuration"), as AWS's generate_build_info reads it. */
  readonly operatingSystem: string;
  readonly kernelVersion: string;
}

/** Reads the blobs in `dir`; throws naming the missing file and where to get it. */
export function readBlobs(dir: string): Blobs {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new BlobsError(`the blobs directory ${dir} does not exist; install aws-nitro-enclaves-cli (Amazon Linux: \`dnf install aws-nitro-enclaves-cli\`, which puts them in ${DEFAULT_BLOBS_DIR}) or use the blobs/x86_64/ directory of github.com/aws/aws-nitro-enclaves-cli`);
  }
  const read = (name: string): Uint8Array => {
    const path = join(dir, name);
    if (!existsSync(path)) throw new BlobsError(`the blobs directory ${dir} has no ${name}; it should hold bzImage (Image on aarch64), bzImage.config, cmdline, init and nsm.ko from aws-nitro-enclaves-cli`);
    const size = statSync(path).size;
    if (size > MAX_BLOB_BYTES) throw new BlobsError(`${path} is ${size} bytes; no enclave blob is larger than ${MAX_BLOB_BYTES}`);
    return new Uint8Array(readFileSync(path));
  };
  const machines = (Object.keys(KERNEL_FILE) as ElfMachine[]).filter((m) => existsSync(join(dir, KERNEL_FILE[m])));
  if (machines.length !== 1) {
    throw new BlobsError(`the blobs directory ${dir} holds ${machines.length === 0 ? "no kernel" : "kernels for several machines"}; it should hold one of ${Object.values(KERNEL_FILE).join(" (x86_64) or ")} (aarch64), with bzImage.config, cmdline, init and nsm.ko`);
  }
  const machine = machines[0]!;
  const kernelFile = KERNEL_FILE[machine];
  const cmdline = Buffer.from(read("cmdline")).toString("utf8").replace(/^\p{White_Space}+|\p{White_Space}+$/gu, "");
  const configPath = join(dir, `${kernelFile}.config`);
  const words = existsSync(configPath) ? (readFileSync(configPath, "utf8").split("\n")[2] ?? "").split(/[ /-]/) : [];
  return {
    machine,
    kernel: read(kernelFile),
    cmdline: new TextEncoder().encode(cmdline),
    init: read("init"),
    nsmDriver: read("nsm.ko"),
    operatingSystem: words[1] || UNKNOWN,
    kernelVersion: words[3] || UNKNOWN,
  };
}
