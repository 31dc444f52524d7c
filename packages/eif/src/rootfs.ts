// The enclave's root filesystem, and the command AWS's init runs in it: the
// Node.js binary, exactly the shared libraries it and the native addons need
// (with the dynamic loader), the bundled program under /app, and the empty
// directories init mounts /dev, /proc, /run, /sys and /tmp on. Nothing else:
// no shell, no package manager, no /etc (Node.js needs none of it: the program
// reaches the network only through the parent's vsock proxies, by address).
// One definition for both ways to build an image: the EIF builder packs it
// into a ramdisk (ramdisk.ts); `strongroom eif rootfs` writes it to a
// directory that the Dockerfile copies into an image for nitro-cli.
import { chmodSync, lutimesSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { addonFiles } from "./addons.ts";
import { bundleEnclave, PROGRAM_MAIN, type ProgramFile } from "./bundle.ts";
import type { CpioEntry } from "./cpio.ts";
import type { ElfMachine } from "./elf.ts";
import { sharedLibraries } from "./libraries.ts";

export const NODE_PATH = "/usr/bin/node";
export const PROGRAM_DIRECTORY = "/app";
/** Where a baked configuration file goes; the command names it with --config. */
export const CONFIG_PATH = "/app/enclave.yaml";
/** Mount points of AWS's init (and the ones nitro-cli adds to every image: var). */
const MOUNT_POINTS = ["dev", "proc", "run", "sys", "tmp", "var"] as const;
/**
 * The environment of the enclave's process, part of the measured image.
 * HOME because without it and without /etc/passwd Node.js's os.homedir()
 * throws, and option defaults shared with `strongroom signer` call it.
 */
const ENVIRONMENT = ["HOME=/tmp", "PATH=/usr/bin"] as const;

export interface RootfsOptions {
  /** The checkout whose sources, node_modules and native addon the image is made of. */
  readonly checkout: string;
  /** The Node.js binary to run the program with; default: the one running this. */
  readonly nodeBinary?: string;
  /** The bundled program; default: bundled now from the checkout. */
  readonly program?: readonly ProgramFile[];
  /** `strongroom enclave` options baked into the command, after --mode=nitro. */
  readonly enclaveArgs?: readonly string[];
  /** A YAML file of `strongroom enclave` options baked in at CONFIG_PATH. */
  readonly enclaveConfig?: Uint8Array;
}

export interface Rootfs {
  readonly machine: ElfMachine;
  /** Paths relative to the root ("usr/bin/node"), every parent directory listed. */
  readonly entries: readonly CpioEntry[];
  /** What init runs (argv), one line each in the ramdisk's `cmd`. */
  readonly cmd: readonly string[];
  /** The process's environment, KEY=VALUE, one line each in the ramdisk's `env`. */
  readonly env: readonly string[];
}

const relativePath = (absolute: string) => absolute.replace(/^\/+/, "");

/** The command init runs: node, the program, nitro mode, then the baked configuration. */
export function enclaveCommand(enclaveArgs: readonly string[], withConfig: boolean): string[] {
  for (const arg of enclaveArgs) {
    // init reads `cmd` a line at a time and hands each line to execve, which ends a string at NUL.
    if (/[\n\0]/.test(arg)) throw new Error(`the enclave argument ${JSON.stringify(arg).slice(0, 60)} contains a newline or NUL, which AWS's init cannot pass on`);
  }
  return [NODE_PATH, posix.join(PROGRAM_DIRECTORY, PROGRAM_MAIN), "--mode=nitro", ...(withConfig ? [`--config=${CONFIG_PATH}`] : []), ...enclaveArgs];
}

/** Builds the root filesystem in memory. */
export async function enclaveRootfs(options: RootfsOptions): Promise<Rootfs> {
  const cmd = enclaveCommand(options.enclaveArgs ?? [], options.enclaveConfig !== undefined);
  const nodeBinary = options.nodeBinary ?? process.execPath;
  const node = new Uint8Array(readFileSync(nodeBinary));
  const program = options.program ?? (await bundleEnclave(options.checkout));
  const addons = addonFiles(options.checkout);
  const { machine, libraries } = sharedLibraries([{ path: nodeBinary, bytes: node }, ...addons.filter((a) => a.native).map((a) => ({ path: a.source, bytes: a.content }))]);

  const files: CpioEntry[] = [{ path: relativePath(NODE_PATH), type: "file", mode: 0o755, content: node }];
  // A library reached under two names (the loader: PT_INTERP's /lib64 path and libc's DT_NEEDED) is stored once; the other name links to it.
  const stored = new Map<string, string>();
  for (const library of libraries) {
    const first = stored.get(library.hostPath);
    if (first === undefined) {
      stored.set(library.hostPath, library.imagePath);
      files.push({ path: relativePath(library.imagePath), type: "file", mode: 0o755, content: library.bytes });
    } else {
      files.push({ path: relativePath(library.imagePath), type: "symlink", target: first });
    }
  }
  const inProgram = (path: string) => relativePath(posix.join(PROGRAM_DIRECTORY, path));
  for (const file of program) files.push({ path: inProgram(file.path), type: "file", mode: 0o644, content: file.content });
  for (const addon of addons) files.push({ path: inProgram(addon.path), type: "file", mode: addon.native ? 0o755 : 0o644, content: addon.content });
  if (options.enclaveConfig !== undefined) files.push({ path: relativePath(CONFIG_PATH), type: "file", mode: 0o644, content: options.enclaveConfig });

  const directories = new Set<string>(MOUNT_POINTS);
  for (const file of files) for (let dir = posix.dirname(file.path); dir !== "."; dir = posix.dirname(dir)) directories.add(dir);
  const entries: CpioEntry[] = [...[...directories].map((path): CpioEntry => ({ path, type: "directory", mode: path === "tmp" ? 0o1777 : 0o755 })), ...files].sort((a, b) => (a.path < b.path ? -1 : 1));
  return { machine, entries, cmd, env: [...ENVIRONMENT] };
}

/**
 * Writes the root filesystem into the empty or absent directory `dir`, every
 * time set to `mtime` (seconds), for `COPY --from=… /rootfs/ /` in the Dockerfile.
 */
export function writeRootfs(rootfs: Rootfs, dir: string, mtime: number): void {
  mkdirSync(dir, { recursive: true });
  const sorted = [...rootfs.entries].sort((a, b) => (a.path < b.path ? -1 : 1));
  for (const entry of sorted) {
    const path = join(dir, entry.path);
    if (entry.type === "directory") mkdirSync(path, { recursive: true });
    else if (entry.type === "symlink") symlinkSync(entry.target, path);
    else writeFileSync(path, entry.content, { flag: "wx" });
    if (entry.type !== "symlink") chmodSync(path, entry.mode);
  }
  // Deepest first, so that setting a directory's time is not undone by writing into it.
  for (const entry of sorted.reverse()) lutimesSync(join(dir, entry.path), mtime, mtime);
  lutimesSync(dir, mtime, mtime);
}
