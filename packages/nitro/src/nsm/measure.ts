// PCR arithmetic and enclave-image measurement, one implementation for the NSM simulator and the
// EIF builder.
//
// - A PCR is 48 bytes (SHA-384); extending it with data sets it to SHA-384(old ‖ data).
// - EIF measurement (aws-nitro-enclaves-image-format: EifHasher::new_without_cache(Sha384) then
//   tpm_extend_finalize_reset, as nitro-cli's eif_reader and `nitro-cli pcr` do): a register's boot
//   value is SHA-384(48 zero bytes ‖ SHA-384(measured bytes)), i.e. a fresh zero PCR extended once
//   with the digest of the measured sections:
//     PCR0 = kernel ‖ cmdline ‖ every ramdisk, in section order;
//     PCR1 = kernel ‖ cmdline ‖ the first (bootstrap) ramdisk;
//     PCR2 = the remaining (application) ramdisks;
//     PCR8 = the DER of the image's signing certificate.
// - PCR3 and PCR4 are not image measurements: the hypervisor extends a zero PCR once with the UTF-8
//   bytes of the parent's IAM role ARN (PCR3) and of the parent's instance ID (PCR4), i.e.
//   SHA-384(48 zero bytes ‖ text) with no inner hash (AWS Nitro Enclaves user guide, "Where to get
//   an enclave's measurements"; QEMU's nitro-enclave machine does the same).

import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";

/** Length of a PCR of the NSM's SHA-384 bank. */
export const PCR_LENGTH = 48;

/** A fresh, all-zero PCR. Returns a new array each call. */
export function zeroPcr(): Uint8Array {
  return new Uint8Array(PCR_LENGTH);
}

export function sha384(...parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash("sha384");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** The NSM's ExtendPCR: SHA-384(current ‖ data). */
export function extendPcr(current: Uint8Array, data: Uint8Array): Uint8Array {
  if (current.length !== PCR_LENGTH) throw new RangeError(`a PCR is ${PCR_LENGTH} bytes, got ${current.length}`);
  return sha384(current, data);
}

/**
 * The EIF measurement of a list of sections: SHA-384(48 zero bytes ‖ SHA-384(s0 ‖ s1 ‖ …)).
 * An empty list measures the empty string (as an EIF with no application ramdisk would for PCR2).
 */
export function measure(sections: readonly Uint8Array[]): Uint8Array {
  return extendPcr(zeroPcr(), sha384(...sections));
}

/** PCR3/PCR4 style: a zero PCR extended once with the UTF-8 bytes of `text`. */
export function measureText(text: string): Uint8Array {
  return extendPcr(zeroPcr(), new TextEncoder().encode(text));
}

/** PCR3: the parent instance's IAM role ARN. */
export function measureRoleArn(roleArn: string): Uint8Array {
  return measureText(roleArn);
}

/** PCR4: the parent instance's ID. */
export function measureInstanceId(instanceId: string): Uint8Array {
  return measureText(instanceId);
}

/** PCR8: the EIF signing certificate, DER or PEM. */
export function measureSigningCertificate(certificate: Uint8Array | string): Uint8Array {
  return measure([certificateDer(certificate)]);
}

/** Accepts a DER certificate or the text of a PEM one (the first CERTIFICATE block). */
export function certificateDer(certificate: Uint8Array | string): Uint8Array {
  if (certificate instanceof Uint8Array) {
    if (certificate.length === 0) throw new Error("the signing certificate is empty");
    return certificate;
  }
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(certificate);
  if (!match) throw new Error("the signing certificate is not a PEM CERTIFICATE block");
  const der = new Uint8Array(Buffer.from((match[1] as string).replace(/\s+/g, ""), "base64"));
  if (der.length === 0) throw new Error("the signing certificate's PEM block is empty");
  return der;
}

export interface ImageSections {
  readonly kernel: Uint8Array;
  readonly cmdline: Uint8Array;
  /** The bootstrap ramdisk first, then the application ramdisk(s). */
  readonly ramdisks: readonly Uint8Array[];
}

export interface ImageMeasurements {
  readonly pcr0: Uint8Array;
  readonly pcr1: Uint8Array;
  readonly pcr2: Uint8Array;
}

/** PCR0, PCR1 and PCR2 of an enclave image, as nitro-cli computes them from the EIF sections. */
export function measureImage(image: ImageSections): ImageMeasurements {
  if (image.ramdisks.length === 0) throw new Error("an enclave image needs at least the bootstrap ramdisk");
  const [bootstrap, ...application] = image.ramdisks as [Uint8Array, ...Uint8Array[]];
  return {
    pcr0: measure([image.kernel, image.cmdline, ...image.ramdisks]),
    pcr1: measure([image.kernel, image.cmdline, bootstrap]),
    pcr2: measure(application),
  };
}

// ---------------------------------------------------------------------------------------------
// The simulated enclave image.
//
// The simulator has no real kernel or init ramdisk, so those sections are fixed placeholder bytes
// (clearly not a kernel): what matters is that they are constant, so PCR1 is constant across code
// changes, and that the application ramdisk is the enclave program's own files, so a change to any
// of them changes PCR0 and PCR2.

const text = (s: string) => new TextEncoder().encode(s);

/** Placeholder kernel section of the simulated EIF. Not a kernel. */
export const SIMULATED_KERNEL: Uint8Array = text("strongroom simulated enclave kernel v1 - placeholder bytes, not a Linux kernel\n");
/** Placeholder kernel command line of the simulated EIF (modelled on nitro-cli's default). */
export const SIMULATED_CMDLINE: Uint8Array = text("reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on strongroom.simulated=1");
/** Placeholder bootstrap ramdisk (init and NSM driver, in a real EIF) of the simulated EIF. */
export const SIMULATED_BOOTSTRAP_RAMDISK: Uint8Array = text("strongroom simulated bootstrap ramdisk v1 - placeholder bytes, no init, no nsm.ko\n");

/** One file of the application ramdisk: a relative path with "/" separators, and its content. */
export interface ApplicationFile {
  readonly path: string;
  readonly content: Uint8Array;
  /** A symbolic link contributes its target text as content, marked so it differs from a file. */
  readonly symlink?: boolean;
}

const RAMDISK_MAGIC = text("strongroom-sim-ramdisk v1\n");

function checkRelativePath(path: string): void {
  if (path.length === 0 || path.startsWith("/") || path.includes("\\") || path.includes("\0")) throw new Error(`application file path "${path}" is not a relative "/"-separated path`);
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..") throw new Error(`application file path "${path}" has an empty, "." or ".." segment`);
  }
}

/**
 * The simulated application ramdisk: a deterministic serialisation of the files, sorted by the
 * UTF-8 bytes of their relative paths; each entry is u32 path length ‖ path ‖ u8 kind (0 file,
 * 1 symlink) ‖ u64 content length ‖ content (big-endian lengths), after a fixed magic line. Lengths
 * make it unambiguous: moving bytes between a path and a content, or between two files, changes it.
 * (A real EIF's application ramdisk is a cpio archive built from the Docker image; this is the
 * simulator's stand-in.)
 */
export function applicationRamdisk(files: readonly ApplicationFile[]): Uint8Array {
  const entries = files.map((f) => {
    if (typeof f?.path !== "string" || !(f.content instanceof Uint8Array)) throw new TypeError("an application file is { path: string, content: Uint8Array }");
    checkRelativePath(f.path);
    return { path: Buffer.from(f.path, "utf8"), file: f };
  });
  entries.sort((a, b) => Buffer.compare(a.path, b.path));
  for (let i = 1; i < entries.length; i++) {
    if (Buffer.compare((entries[i - 1] as (typeof entries)[number]).path, (entries[i] as (typeof entries)[number]).path) === 0) {
      throw new Error(`application file "${(entries[i] as (typeof entries)[number]).file.path}" is listed twice`);
    }
  }
  let size = RAMDISK_MAGIC.length;
  for (const e of entries) size += 4 + e.path.length + 1 + 8 + e.file.content.length;
  const out = Buffer.alloc(size);
  out.set(RAMDISK_MAGIC, 0);
  let at = RAMDISK_MAGIC.length;
  for (const e of entries) {
    at = out.writeUInt32BE(e.path.length, at);
    out.set(e.path, at);
    at += e.path.length;
    at = out.writeUInt8(e.file.symlink ? 1 : 0, at);
    at = out.writeBigUInt64BE(BigInt(e.file.content.length), at);
    out.set(e.file.content, at);
    at += e.file.content.length;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The simulated enclave image's sections around a given application ramdisk. */
export function simulatedImage(applicationFiles: readonly ApplicationFile[]): ImageSections {
  return { kernel: SIMULATED_KERNEL, cmdline: SIMULATED_CMDLINE, ramdisks: [SIMULATED_BOOTSTRAP_RAMDISK, applicationRamdisk(applicationFiles)] };
}

/** The most files and bytes an application may have (a guard against measuring the wrong directory). */
export const APPLICATION_LIMITS = { maxFiles: 100_000, maxBytes: 1024 * 1024 * 1024 } as const;

async function readEntry(absolute: string, relativePath: string): Promise<ApplicationFile> {
  const stat = await lstat(absolute);
  if (stat.isSymbolicLink()) return { path: relativePath, content: text(await readlink(absolute)), symlink: true };
  if (stat.isFile()) return { path: relativePath, content: new Uint8Array(await readFile(absolute)) };
  throw new Error(`application file "${absolute}" is neither a regular file nor a symbolic link`);
}

function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}

function budget(files: readonly ApplicationFile[]): void {
  if (files.length > APPLICATION_LIMITS.maxFiles) throw new Error(`the application has more than ${APPLICATION_LIMITS.maxFiles} files`);
  let bytes = 0;
  for (const f of files) bytes += f.content.length;
  if (bytes > APPLICATION_LIMITS.maxBytes) throw new Error(`the application is larger than ${APPLICATION_LIMITS.maxBytes} bytes`);
}

/**
 * Reads every regular file and symbolic link under `dir` (recursively; symbolic links are recorded,
 * not followed), with paths relative to `dir`.
 */
export async function readApplicationDir(dir: string): Promise<ApplicationFile[]> {
  const root = resolve(dir);
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory()) throw new Error(`application directory "${dir}" is not a directory`);
  const out: ApplicationFile[] = [];
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    for (const entry of entries) {
      const absolute = join(current, entry.name);
      if (entry.isDirectory()) await walk(absolute);
      else out.push(await readEntry(absolute, toPosix(relative(root, absolute))));
      if (out.length > APPLICATION_LIMITS.maxFiles) budget(out);
    }
  };
  await walk(root);
  budget(out);
  return out;
}

/**
 * Reads the listed files; each is named in the ramdisk by its path relative to `root` (default: the
 * current directory), which must not leave `root`.
 */
export async function readApplicationFiles(paths: readonly string[], root: string = process.cwd()): Promise<ApplicationFile[]> {
  const base = resolve(root);
  const out: ApplicationFile[] = [];
  for (const p of paths) {
    const absolute = resolve(base, p);
    const rel = relative(base, absolute);
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new Error(`application file "${p}" is not inside "${base}"`);
    out.push(await readEntry(absolute, toPosix(rel)));
  }
  budget(out);
  return out;
}
