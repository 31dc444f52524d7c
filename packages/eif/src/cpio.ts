// SVR4 "newc" cpio (magic 070701), the archive format the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst), written so that the same entries
// always give the same bytes: nothing of the building machine (owners, times, inode numbers, the
// order a directory listing happened to return) reaches the archive, so it reaches no PCR either.
//
// Each entry is a 110-byte ASCII header ("070701" and 13 fields of 8 hex digits: ino, mode, uid,
// gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check), the
// NUL-terminated name, zero padding to a multiple of 4, the data, zero padding to a multiple of 4.
// The archive ends with an entry named "TRAILER!!!".

export type CpioEntry =
  | { readonly path: string; readonly type: "directory"; readonly mode: number }
  | { readonly path: string; readonly type: "file"; readonly mode: number; readonly content: Uint8Array }
  | { readonly path: string; readonly type: "symlink"; readonly target: string };

const MAGIC = "070701";
const HEADER_BYTES = 110;
const FIELD_COUNT = 13;
const TRAILER = "TRAILER!!!";
/** The kernel's PATH_MAX: it refuses longer names and symlink targets (the NUL included). */
const PATH_MAX = 4096;
/** filesize is 8 hex digits. */
const MAX_FILE_BYTES = 0xffff_ffff;
const MAX_MTIME = 0xffff_ffff;
const TYPE_MASK = 0o170000;
const TYPE_BITS = { directory: 0o040000, file: 0o100000, symlink: 0o120000 } as const;
const PERMISSION_MASK = 0o7777;

const FIELD = { ino: 0, mode: 1, uid: 2, gid: 3, nlink: 4, mtime: 5, filesize: 6, devmajor: 7, devminor: 8, rdevmajor: 9, rdevminor: 10, namesize: 11, check: 12 } as const;

const align4 = (n: number): number => (n + 3) & ~3;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A relative path of "/"-separated names, none empty, "." or "..", without NUL: what the kernel
 * creates below the root of the ramdisk and nothing else.
 */
function checkPath(path: string, what: string): Buffer {
  if (typeof path !== "string" || path.length === 0) throw new Error(`${what}: a cpio path must be a non-empty string`);
  if (path.includes("\0")) throw new Error(`${what} "${path}" contains a NUL character`);
  if (path.startsWith("/")) throw new Error(`${what} "${path}" is absolute; cpio paths are relative to the ramdisk root, without a leading "/"`);
  for (const name of path.split("/")) {
    if (name === "" || name === "." || name === "..") throw new Error(`${what} "${path}" has an empty, "." or ".." component`);
  }
  const bytes = Buffer.from(path, "utf8");
  if (bytes.length + 1 > PATH_MAX) throw new Error(`${what} "${path.slice(0, 80)}…" is ${bytes.length} bytes; the kernel accepts at most ${PATH_MAX - 1}`);
  return bytes;
}

function checkTarget(target: string, path: string): Buffer {
  if (typeof target !== "string" || target.length === 0) throw new Error(`symlink "${path}" has an empty target`);
  if (target.includes("\0")) throw new Error(`symlink "${path}" has a target containing a NUL character`);
  const bytes = Buffer.from(target, "utf8");
  if (bytes.length + 1 > PATH_MAX) throw new Error(`symlink "${path}" has a ${bytes.length}-byte target; the kernel accepts at most ${PATH_MAX - 1}`);
  return bytes;
}

function checkMode(mode: number, path: string): number {
  if (!Number.isSafeInteger(mode) || mode < 0) throw new Error(`entry "${path}" has mode ${String(mode)}; give a non-negative integer such as 0o755`);
  return mode & PERMISSION_MASK;
}

interface Prepared {
  readonly entry: CpioEntry;
  readonly name: Buffer;
  readonly mode: number;
  readonly nlink: number;
  readonly data: Uint8Array;
}

function prepare(entry: CpioEntry): Prepared {
  const name = checkPath(entry?.path, "cpio entry");
  switch (entry.type) {
    case "directory":
      return { entry, name, mode: TYPE_BITS.directory | checkMode(entry.mode, entry.path), nlink: 2, data: new Uint8Array(0) };
    case "file":
      if (!(entry.content instanceof Uint8Array)) throw new Error(`file "${entry.path}" has no content bytes`);
      if (entry.content.length > MAX_FILE_BYTES) throw new Error(`file "${entry.path}" is ${entry.content.length} bytes; a newc cpio entry holds at most ${MAX_FILE_BYTES} (4 GiB - 1)`);
      return { entry, name, mode: TYPE_BITS.file | checkMode(entry.mode, entry.path), nlink: 1, data: entry.content };
    case "symlink":
      return { entry, name, mode: TYPE_BITS.symlink | 0o777, nlink: 1, data: checkTarget(entry.target, entry.path) };
    default:
      throw new Error(`cpio entry "${(entry as CpioEntry).path}" has type ${JSON.stringify((entry as { type: unknown }).type)}; only "directory", "file" and "symlink" are written`);
  }
}

/** The parent directory of every entry must be listed too, so that nothing the kernel creates depends on its defaults. */
function checkParents(sorted: readonly Prepared[]): void {
  const types = new Map(sorted.map((p) => [p.entry.path, p.entry.type]));
  for (const { entry } of sorted) {
    const slash = entry.path.lastIndexOf("/");
    if (slash < 0) continue;
    const parent = entry.path.slice(0, slash);
    const type = types.get(parent);
    if (type === undefined) throw new Error(`"${entry.path}" is in directory "${parent}", which is not listed; add a directory entry for it`);
    if (type !== "directory") throw new Error(`"${entry.path}" is inside "${parent}", which is a ${type}, not a directory`);
  }
}

function writeHeader(out: Buffer, at: number, fields: readonly number[]): number {
  return at + out.write(MAGIC + fields.map((f) => f.toString(16).toUpperCase().padStart(8, "0")).join(""), at, "latin1");
}

function header(ino: number, mode: number, nlink: number, mtime: number, filesize: number, namesize: number): number[] {
  // uid, gid, the device numbers and check are all zero: root owns everything, and "newc" has no checksum.
  return [ino, mode, 0, 0, nlink, mtime, filesize, 0, 0, 0, 0, namesize, 0];
}

/**
 * The archive of these entries, sorted by the UTF-8 bytes of their paths (so a directory precedes
 * its contents), with inode numbers 1..N in that order, owner and group 0, every time `mtime`
 * (SOURCE_DATE_EPOCH seconds) and symlinks mode 0777. Every parent directory must be an entry.
 */
export function writeCpio(entries: readonly CpioEntry[], options: { readonly mtime: number }): Uint8Array {
  const mtime = options?.mtime;
  if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) throw new Error(`cpio mtime ${String(mtime)} is not a whole number of seconds from 0 to ${MAX_MTIME} (set SOURCE_DATE_EPOCH to a Unix time)`);
  const sorted = entries.map(prepare).sort((a, b) => Buffer.compare(a.name, b.name));
  for (let i = 1; i < sorted.length; i++) {
    if (Buffer.compare(sorted[i - 1]!.name, sorted[i]!.name) === 0) throw new Error(`cpio path "${sorted[i]!.entry.path}" is listed twice`);
  }
  checkParents(sorted);

  const trailer = Buffer.from(TRAILER, "latin1");
  let size = align4(HEADER_BYTES + trailer.length + 1);
  for (const p of sorted) size += align4(HEADER_BYTES + p.name.length + 1) + align4(p.data.length);
  // Zero-filled, so every pad byte and name terminator is already in place.
  const out = Buffer.alloc(size);
  let at = 0;
  sorted.forEach((p, index) => {
    at = writeHeader(out, at, header(index + 1, p.mode, p.nlink, mtime, p.data.length, p.name.length + 1));
    out.set(p.name, at);
    at = align4(at + p.name.length + 1);
    out.set(p.data, at);
    at = align4(at + p.data.length);
  });
  at = writeHeader(out, at, header(0, 0, 1, 0, 0, trailer.length + 1));
  out.set(trailer, at);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function readFields(bytes: Uint8Array, at: number): number[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + at, HEADER_BYTES).toString("latin1");
  if (!text.startsWith(MAGIC)) throw new Error(`cpio entry at byte ${at} does not start with the newc magic "${MAGIC}" (an old-format, CRC or compressed archive is not read)`);
  const fields: number[] = [];
  for (let i = 0; i < FIELD_COUNT; i++) {
    const digits = text.slice(MAGIC.length + i * 8, MAGIC.length + (i + 1) * 8);
    if (!/^[0-9A-Fa-f]{8}$/.test(digits)) throw new Error(`cpio entry at byte ${at} has a header field that is not 8 hex digits: ${JSON.stringify(digits)}`);
    fields.push(Number.parseInt(digits, 16));
  }
  return fields;
}

function checkZeros(bytes: Uint8Array, from: number, to: number, what: string): void {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) throw new Error(`cpio ${what} at byte ${i} is not zero`);
}

/**
 * The entries of a newc archive, in archive order, up to its trailer (after which only zero
 * padding may follow). Strict: refuses anything writeCpio would not write — other entry types,
 * unsafe or duplicate paths, names that are not UTF-8, non-zero padding, truncation. File
 * contents are views of `bytes`.
 */
export function readCpio(bytes: Uint8Array): CpioEntry[] {
  if (!(bytes instanceof Uint8Array)) throw new Error("a cpio archive must be bytes");
  const entries: CpioEntry[] = [];
  const seen = new Set<string>();
  let at = 0;
  for (;;) {
    if (bytes.length - at < HEADER_BYTES) throw new Error(`cpio archive is truncated: ${bytes.length - at} bytes left at byte ${at}, a header needs ${HEADER_BYTES} (is the trailer missing?)`);
    const fields = readFields(bytes, at);
    const namesize = fields[FIELD.namesize]!;
    const filesize = fields[FIELD.filesize]!;
    if (namesize < 2 || namesize > PATH_MAX) throw new Error(`cpio entry at byte ${at} has namesize ${namesize}; 2 to ${PATH_MAX} are accepted`);
    const nameStart = at + HEADER_BYTES;
    const dataStart = align4(nameStart + namesize);
    const dataEnd = dataStart + filesize;
    if (align4(dataEnd) > bytes.length) throw new Error(`cpio entry at byte ${at} is truncated: it needs ${align4(dataEnd) - at} bytes, ${bytes.length - at} are left`);
    if (bytes[nameStart + namesize - 1] !== 0) throw new Error(`cpio entry at byte ${at} has a name that is not NUL-terminated`);
    let path: string;
    try {
      path = utf8.decode(bytes.subarray(nameStart, nameStart + namesize - 1));
    } catch {
      throw new Error(`cpio entry at byte ${at} has a name that is not UTF-8`);
    }
    checkZeros(bytes, nameStart + namesize, dataStart, "name padding");
    checkZeros(bytes, dataEnd, align4(dataEnd), "data padding");
    if (path === TRAILER) {
      if (filesize !== 0) throw new Error(`cpio trailer at byte ${at} has ${filesize} bytes of data`);
      checkZeros(bytes, align4(dataEnd), bytes.length, "data after the trailer");
      return entries;
    }
    checkPath(path, `cpio entry at byte ${at}`);
    if (seen.has(path)) throw new Error(`cpio path "${path}" appears twice`);
    seen.add(path);
    entries.push(toEntry(path, fields[FIELD.mode]!, new Uint8Array(bytes.buffer, bytes.byteOffset + dataStart, filesize)));
    at = align4(dataEnd);
  }
}

function toEntry(path: string, mode: number, data: Uint8Array): CpioEntry {
  switch (mode & TYPE_MASK) {
    case TYPE_BITS.directory:
      if (data.length !== 0) throw new Error(`cpio directory "${path}" has ${data.length} bytes of data`);
      return { path, type: "directory", mode: mode & PERMISSION_MASK };
    case TYPE_BITS.file:
      return { path, type: "file", mode: mode & PERMISSION_MASK, content: data };
    case TYPE_BITS.symlink: {
      let target: string;
      try {
        target = utf8.decode(data);
      } catch {
        throw new Error(`cpio symlink "${path}" has a target that is not UTF-8`);
      }
      checkTarget(target, path);
      return { path, type: "symlink", target };
    }
    default:
      throw new Error(`cpio entry "${path}" has file type 0o${(mode & TYPE_MASK).toString(8)}; only directories, regular files and symlinks are read`);
  }
}
