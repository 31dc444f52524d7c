import { lstat, chmod, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { VsockError } from "../vsock/errors.ts";

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * `<simDir>/vsock`, where CID:port is the Unix socket `<cid>_<port>.sock`
 * (DESIGN.md §5). Only this user may enter it: mode 0700.
 */
export class SimulatedVsockDirectory {
  readonly path: string;

  constructor(simDir: string) {
    this.path = join(simDir, "vsock");
  }

  socketPath(cid: number, port: number): string {
    const path = join(this.path, `${cid}_${port}.sock`);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw new VsockError(
        `simulated vsock socket path ${path} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket allows; use a shorter simDir`,
        "ENAMETOOLONG",
      );
    }
    return path;
  }

  /** Creates the directory (and simDir) if needed and makes sure it is this user's and private. */
  async prepare(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o700 });
    const stats = await lstat(this.path);
    if (!stats.isDirectory()) throw new VsockError(`${this.path} is not a directory; remove it or use another simDir`, "ENOTDIR");
    if (stats.uid !== process.getuid?.()) {
      throw new VsockError(`${this.path} belongs to uid ${stats.uid}, not to this user; remove it or use another simDir`, "EACCES");
    }
    if ((stats.mode & 0o777) !== 0o700) await chmod(this.path, 0o700);
  }

  /** Whether any socket file for `cid` is here: a listener, live or stale, so the CID "exists". */
  async knowsCid(cid: number): Promise<boolean> {
    const names = await readdir(this.path).catch(() => []);
    return names.some((name) => name.startsWith(`${cid}_`) && name.endsWith(".sock"));
  }
}
