import { EventEmitter } from "node:events";
import { nitroAddon, type VsockAddress } from "../native.ts";
import { checkCid, checkPort, VMADDR_CID_ANY, VMADDR_PORT_ANY } from "./address.ts";
import { errorCode, vsockError } from "./errors.ts";
import { FdWatcher } from "./fd-watcher.ts";
import { VsockSocket } from "./socket.ts";

interface VsockServerEvents {
  listening: [];
  connection: [socket: VsockSocket];
  /** Accepting failed for this process (EMFILE, ...); the server pauses briefly and retries by itself. */
  error: [error: Error];
  close: [];
}

const DEFAULT_BACKLOG = 511;
/** Accepts per readiness event, so that a flood of connections cannot starve the rest of the event loop. */
const ACCEPTS_PER_EVENT = 64;
/**
 * Accept failures that concern only the connection being accepted (accept(2):
 * "treat them like EAGAIN by retrying"). Any other failure (EMFILE, ENOMEM,
 * ...) concerns this process: accepting pauses briefly instead of spinning.
 */
const PER_CONNECTION_ERRORS = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "EPROTO",
  "EPERM",
  "ETIMEDOUT",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENONET",
  "ENOPROTOOPT",
  "EOPNOTSUPP",
]);
const ACCEPT_PAUSE_MS = 100;

const orAny = (value: number, any: number) => (value === any ? "any" : String(value));

/**
 * An AF_VSOCK listener shaped like net.Server: 'listening', 'connection'
 * (with a VsockSocket), 'close'; `address()` is {cid, port}.
 *
 * Differences from net.Server: `listen` returns a promise and reports its
 * failure only by rejecting it; `close` stops listening without waiting for
 * accepted sockets (they belong to whoever took them); 'error' is emitted
 * only when someone listens for it, since the server recovers from accept
 * failures by itself and must never take the process down.
 */
export class VsockServer extends EventEmitter<VsockServerEvents> {
  #fd = -1;
  #watcher: FdWatcher | null = null;
  #address: VsockAddress | null = null;
  #resumeTimer: NodeJS.Timeout | undefined;

  constructor(onConnection?: (socket: VsockSocket) => void) {
    super();
    if (onConnection) this.on("connection", onConnection);
  }

  get listening(): boolean {
    return this.#fd >= 0;
  }

  /** {cid, port} while listening (the kernel's choice for VMADDR_PORT_ANY), else null. */
  address(): VsockAddress | null {
    return this.#address === null ? null : { ...this.#address };
  }

  /**
   * Listens on `cid`:`port` (default: any CID of this machine, a free port).
   * Rejects with a VsockError (EADDRINUSE, EADDRNOTAVAIL, EACCES for ports
   * below 1024 without CAP_NET_BIND_SERVICE, ...).
   */
  listen(port: number = VMADDR_PORT_ANY, cid: number = VMADDR_CID_ANY, backlog: number = DEFAULT_BACKLOG): Promise<this> {
    return new Promise((resolve) => {
      if (this.listening) throw Object.assign(new Error("the server is already listening; close it first"), { code: "ERR_SERVER_ALREADY_LISTEN" });
      checkCid(cid);
      checkPort(port, { allowAny: true });
      const operation = `listen on CID ${orAny(cid, VMADDR_CID_ANY)} port ${orAny(port, VMADDR_PORT_ANY)}`;
      const addon = nitroAddon();
      let fd: number;
      try {
        fd = addon.vsockSocket();
      } catch (cause) {
        throw vsockError(operation, cause);
      }
      let watcher: FdWatcher | undefined;
      try {
        addon.vsockBind(fd, cid, port);
        addon.listen(fd, backlog);
        this.#address = addon.vsockLocalAddress(fd);
        watcher = new FdWatcher(fd);
        watcher.onEvents = (error) => this.#acceptPending(error);
        watcher.watch(addon.POLL_READABLE);
      } catch (cause) {
        watcher?.close();
        addon.close(fd);
        this.#address = null;
        throw vsockError(operation, cause);
      }
      this.#fd = fd;
      this.#watcher = watcher;
      process.nextTick(() => this.emit("listening"));
      resolve(this);
    });
  }

  /** Stops listening; 'close' follows and `callback` runs (with ERR_SERVER_NOT_RUNNING if it was not listening). */
  close(callback?: (error?: Error) => void): this {
    if (this.#fd < 0) {
      if (callback) process.nextTick(callback, Object.assign(new Error("the server is not listening"), { code: "ERR_SERVER_NOT_RUNNING" }));
      return this;
    }
    clearTimeout(this.#resumeTimer);
    this.#watcher?.close();
    this.#watcher = null;
    nitroAddon().close(this.#fd);
    this.#fd = -1;
    this.#address = null;
    process.nextTick(() => {
      this.emit("close");
      callback?.();
    });
    return this;
  }

  #acceptPending(pollError: Error | null): void {
    if (pollError) {
      this.#pause(pollError);
      return;
    }
    const addon = nitroAddon();
    for (let i = 0; i < ACCEPTS_PER_EVENT && this.#fd >= 0; i++) {
      let accepted;
      try {
        accepted = addon.vsockAccept(this.#fd);
      } catch (error) {
        if (PER_CONNECTION_ERRORS.has(errorCode(error) ?? "")) continue;
        this.#pause(error as Error);
        return;
      }
      if (accepted === null) return;
      let local: VsockAddress;
      let socket: VsockSocket;
      try {
        local = addon.vsockLocalAddress(accepted.fd);
      } catch {
        addon.close(accepted.fd);
        continue;
      }
      try {
        socket = new VsockSocket(accepted.fd, { localCid: local.cid, localPort: local.port, remoteCid: accepted.cid, remotePort: accepted.port });
      } catch {
        continue; // the socket has closed the descriptor it could not watch
      }
      this.emit("connection", socket);
    }
  }

  #pause(cause: Error): void {
    this.#watcher?.watch(0);
    this.#resumeTimer = setTimeout(() => {
      const addon = nitroAddon();
      try {
        this.#watcher?.watch(addon.POLL_READABLE);
      } catch (error) {
        this.#pause(error as Error);
      }
    }, ACCEPT_PAUSE_MS);
    if (this.listenerCount("error") > 0) this.emit("error", vsockError("accept", cause));
  }
}
