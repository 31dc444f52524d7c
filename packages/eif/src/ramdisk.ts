// The two ramdisks of an enclave image, laid out as AWS's tools lay them out
// (aws-nitro-enclaves-cli enclave_build/src/yaml_generator.rs) and as AWS's
// init (aws-nitro-enclaves-sdk-bootstrap init/init.c) reads them:
// - bootstrap: `init`, `nsm.ko` (init loads it and deletes it) and `dev/`;
// - application: `cmd` and `env` (argv and environment, one per line, which
//   init reads and deletes) and `rootfs/`, which init chroots into.
// The kernel unpacks each as a newc cpio archive, gzip-compressed or not
// (the enclave kernel is built with CONFIG_RD_GZIP): the application ramdisk
// is compressed, since Node.js alone is some 127 MB.
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { writeCpio, type CpioEntry } from "./cpio.ts";
import type { Rootfs } from "./rootfs.ts";

const gzipAsync = promisify(gzip);
/** RFC 1952 header: ID1 ID2 CM FLG MTIME(4) XFL OS. */
const GZIP_OS = 9;
const GZIP_OS_UNIX = 3;

const lines = (items: readonly string[]) => new TextEncoder().encode(items.map((item) => `${item}\n`).join(""));

/** The bootstrap ramdisk from the blobs' `init` and `nsm.ko`. */
export function bootstrapRamdisk(init: Uint8Array, nsmDriver: Uint8Array, mtime: number): Uint8Array {
  return writeCpio(
    [
      { path: "dev", type: "directory", mode: 0o755 },
      { path: "init", type: "file", mode: 0o755, content: init },
      { path: "nsm.ko", type: "file", mode: 0o755, content: nsmDriver },
    ],
    { mtime },
  );
}

/** The application ramdisk's entries: the root filesystem under rootfs/, and its command and environment. */
export function applicationEntries(rootfs: Rootfs): CpioEntry[] {
  return [
    { path: "rootfs", type: "directory", mode: 0o755 },
    ...rootfs.entries.map((entry) => ({ ...entry, path: `rootfs/${entry.path}` })),
    { path: "cmd", type: "file", mode: 0o644, content: lines(rootfs.cmd) },
    { path: "env", type: "file", mode: 0o644, content: lines(rootfs.env) },
  ];
}

/**
 * gzip at level 9 with nothing of the building machine in it: zlib writes no
 * name and a zero time; the operating-system byte is set to Unix whatever zlib
 * was built for. The bytes still depend on the zlib that compresses, which is
 * the pinned Node.js's.
 */
export async function gzipDeterministic(data: Uint8Array): Promise<Uint8Array> {
  const compressed = await gzipAsync(data, { level: 9 });
  if (compressed.readUInt32LE(4) !== 0) throw new Error("zlib wrote a modification time into the gzip header; the ramdisk would not be reproducible");
  compressed[GZIP_OS] = GZIP_OS_UNIX;
  return new Uint8Array(compressed.buffer, compressed.byteOffset, compressed.byteLength);
}

/** The application ramdisk, compressed, and its size before compression. */
export async function applicationRamdisk(rootfs: Rootfs, mtime: number): Promise<{ ramdisk: Uint8Array; uncompressedBytes: number }> {
  const archive = writeCpio(applicationEntries(rootfs), { mtime });
  return { ramdisk: await gzipDeterministic(archive), uncompressedBytes: archive.length };
}
