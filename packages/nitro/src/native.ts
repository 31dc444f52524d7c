// The native addon (native/nitro.c), loaded on first use so that code which
// never touches AF_VSOCK, the NSM or hardening (the simulated transport, other
// platforms) works without it.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { ADDON_URL } from "./addon-location.ts";

/** A vsock endpoint. */
export interface VsockAddress {
  cid: number;
  port: number;
}

/** A connection taken off a listening socket's queue. */
export interface AcceptedConnection extends VsockAddress {
  /** Non-blocking, close-on-exec. */
  fd: number;
}

/**
 * Called on the event loop when a watched descriptor is ready. `error` is the
 * socket's pending error when the kernel flagged one (libuv then stops
 * watching); `events` is a mask of POLL_READABLE and POLL_WRITABLE.
 */
export type PollCallback = (error: (Error & { code: string }) | null, events: number) => void;

declare const pollerBrand: unique symbol;
/** An opaque libuv poll handle. */
export interface PollerHandle {
  readonly [pollerBrand]: true;
}

/**
 * The addon's exports. Failing system calls throw an Error whose `code` is the
 * errno name ("ECONNRESET", "ENODEV", ...), with `errno` and `syscall` as on
 * Node's own system errors.
 */
export interface NitroAddon {
  readonly POLL_READABLE: number;
  readonly POLL_WRITABLE: number;
  /** What read and write return when the socket is not ready. */
  readonly WOULD_BLOCK: -1;
  readonly NSM_REQUEST_MAX_SIZE: 4096;
  readonly NSM_RESPONSE_MAX_SIZE: 12288;

  /** A new AF_VSOCK stream socket, non-blocking and close-on-exec. */
  vsockSocket(): number;
  vsockBind(fd: number, cid: number, port: number): void;
  listen(fd: number, backlog: number): void;
  /** The next pending connection, or null when there is none. */
  vsockAccept(fd: number): AcceptedConnection | null;
  /** Starts a non-blocking connect: true when it completed at once, false while in progress. */
  vsockConnect(fd: number, cid: number, port: number): boolean;
  /** Once a connecting socket polls writable: throws the connect's error, if it failed. */
  connectResult(fd: number): void;
  vsockLocalAddress(fd: number): VsockAddress;
  vsockRemoteAddress(fd: number): VsockAddress;
  /** This machine's CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock). */
  vsockLocalCid(): number;
  /** A connected AF_UNIX stream pair with the vsock sockets' flags, for exercising the stream code on real sockets. */
  unixSocketPair(): [number, number];

  /** Bytes read into `buffer`; 0 at end of stream; WOULD_BLOCK when nothing is available. */
  read(fd: number, buffer: Uint8Array): number;
  /** Bytes written from `buffer` (maybe fewer); WOULD_BLOCK when the socket buffer is full. Never raises SIGPIPE. */
  write(fd: number, buffer: Uint8Array): number;
  /** shutdown(SHUT_WR). */
  shutdownWrite(fd: number): void;
  close(fd: number): void;

  /** One poll handle per descriptor; it watches nothing until pollerSet. */
  pollerCreate(fd: number, callback: PollCallback): PollerHandle;
  /** Watches for `events`; 0 stops watching. */
  pollerSet(poller: PollerHandle, events: number): void;
  /** Stops and releases the handle (idempotent); close the descriptor after this, never before. */
  pollerClose(poller: PollerHandle): void;

  /** open(path, O_RDWR | O_CLOEXEC). */
  nsmOpen(path: string): number;
  /** One raw NSM request; refuses more than NSM_REQUEST_MAX_SIZE bytes (code ERR_NSM_REQUEST_TOO_LARGE) before the ioctl. */
  nsmRequest(fd: number, request: Uint8Array): Buffer;

  /** prctl(PR_SET_DUMPABLE, 0). */
  setNotDumpable(): void;
  /** prctl(PR_GET_DUMPABLE) != 0. */
  isDumpable(): boolean;
  /** setrlimit(RLIMIT_CORE, {0, 0}). */
  setCoreLimitZero(): void;
  /** The soft RLIMIT_CORE in bytes; Infinity when unlimited. */
  coreLimit(): number;
  /** mlockall(MCL_CURRENT | MCL_FUTURE): "OK" or the errno name. */
  mlockAll(): string;
}

let addon: NitroAddon | undefined;

/** The native addon; throws a clear error (code ERR_NITRO_ADDON) when it is not built or cannot load. */
export function nitroAddon(): NitroAddon {
  addon ??= loadAddon();
  return addon;
}

function loadAddon(): NitroAddon {
  const path = fileURLToPath(ADDON_URL);
  try {
    return createRequire(import.meta.url)(path) as NitroAddon;
  } catch (cause) {
    const missing = (cause as { code?: unknown }).code === "MODULE_NOT_FOUND";
    const what = missing ? `is not built (no ${path})` : `could not be loaded from ${path}: ${(cause as Error).message}`;
    throw Object.assign(
      new Error(
        `the native addon of @strongroom/nitro ${what}; run \`npm install\` at the repository root, which builds it with node-gyp ` +
          "(Linux only; it needs a C compiler, make, python3 and the headers of the running Node.js)",
        { cause },
      ),
      { code: "ERR_NITRO_ADDON" },
    );
  }
}
