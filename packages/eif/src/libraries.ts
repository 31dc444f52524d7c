// The shared libraries a set of ELF files needs, transitively, found where
// glibc's loader looks when there is no /etc/ld.so.cache (the image has none):
// the "system search path" that `ld.so --help` lists for Debian's multiarch
// layout. Each library goes into the image at the path it was found under, so
// the loader in the enclave finds it in the same place.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { posix } from "node:path";
import { readElfDependencies, type ElfMachine } from "./elf.ts";

const SEARCH_DIRECTORIES: Readonly<Record<ElfMachine, readonly string[]>> = {
  x86_64: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"],
  aarch64: ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/lib"],
};

export interface ElfFile {
  /** Where it is on this machine (for messages). */
  readonly path: string;
  readonly bytes: Uint8Array;
}

export interface SharedLibrary {
  /** Absolute path in the image: the interpreter's PT_INTERP path, or a search directory and the library's name. */
  readonly imagePath: string;
  /** The file on this machine, symbolic links resolved. */
  readonly hostPath: string;
  readonly bytes: Uint8Array;
}

/**
 * The dynamic loader and every library that `files` need, directly or through
 * each other, sorted by image path; and the machine they are all built for.
 * Throws naming the file and the library when one is missing.
 */
export function sharedLibraries(files: readonly ElfFile[]): { machine: ElfMachine; libraries: SharedLibrary[] } {
  const found = new Map<string, SharedLibrary>();
  const queue = [...files];
  let machine: ElfMachine | undefined;
  const add = (imagePath: string, hostPath: string) => {
    if (found.has(imagePath)) return;
    const real = realpathSync(hostPath);
    const library = { imagePath, hostPath: real, bytes: new Uint8Array(readFileSync(real)) };
    found.set(imagePath, library);
    queue.push({ path: hostPath, bytes: library.bytes });
  };
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const elf = readElfDependencies(file.bytes, file.path);
    machine ??= elf.machine;
    if (elf.machine !== machine) throw new Error(`${file.path} is built for ${elf.machine}, the others for ${machine}; an enclave image is for one machine`);
    if (elf.interpreter !== undefined) {
      if (!posix.isAbsolute(elf.interpreter) || !existsSync(elf.interpreter)) throw new Error(`${file.path} needs the dynamic loader ${elf.interpreter}, which this machine does not have`);
      add(elf.interpreter, elf.interpreter);
    }
    for (const name of elf.needed) {
      if (name.includes("/")) throw new Error(`${file.path} names the library ${name} by path; only names searched for in the system directories are supported`);
      const directory = SEARCH_DIRECTORIES[machine].find((dir) => existsSync(posix.join(dir, name)));
      if (directory === undefined) throw new Error(`${file.path} needs ${name}, which is in none of ${SEARCH_DIRECTORIES[machine].join(", ")}; install it, or build on a Debian-like system that has it`);
      add(posix.join(directory, name), posix.join(directory, name));
    }
  }
  if (machine === undefined) throw new Error("no ELF files were given");
  return { machine, libraries: [...found.values()].sort((a, b) => (a.imagePath < b.imagePath ? -1 : a.imagePath > b.imagePath ? 1 : 0)) };
}
