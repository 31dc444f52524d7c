import { Duplex } from "node:stream";
import { nitroAddon } from "../native.ts";
import { errorCode } from "./errors.ts";
import { FdWatcher } from "./fd-watcher.ts";

/** Both ends of a connection. */
export interface VsockEndpoints {
  localCid: number;
  localPort: number;
  remoteCid: number;
  remotePort: number;
}

const READ_SIZE = 64 * 1024;
/** Reads this small are copied out, so that a few bytes never pin a whole 64 KiB read buffer. */
const COPY_AT_MOST = 8 * 1024;

interface PendingWrite {
  rest: Buffer;
  callback: (error?: Error | null) => void;
}

/**
 * A connected AF_VSOCK stream socket as a Node.js Duplex, driven by readiness
 * events from the event loop: reading stops while the consumer is full and
 * resumes on demand, writes complete when the kernel has taken every byte.
 *
 * Half-open like the underlying socket: `end()` sends the peer an EOF
 * (shutdown SHUT_WR) while reading goes on; the peer's EOF ends the readable
 * side while writing goes on. Once both are done, or on `destroy()`, the
 * descriptor is closed, exactly once. Failures are emitted as 'error' (code =
 * errno name), then 'close'.
 *
 * Sockets come from `connectVsock` and `VsockServer`; the constructor takes
 * ownership of `fd` (a connected, non-blocking stream socket) and closes it
 * even if construction fails.
 */
export class VsockSocket extends Duplex {
  readonly localCid: number;
  readonly localPort: number;
  readonly remoteCid: number;
  readonly remotePort: number;
  #fd: number;
  #watcher: FdWatcher;
  #wantRead = false;
  #pendingWrite: PendingWrite | null = null;
  #readBuffer = Buffer.allocUnsafe(READ_SIZE);

  constructor(fd: number, endpoints: VsockEndpoints, watcher?: FdWatcher) {
    super({ allowHalfOpen: true });
    try {
      this.#watcher = watcher ?? new FdWatcher(fd);
    } catch (error) {
      nitroAddon().close(fd);
      throw error;
    }
    this.#fd = fd;
    this.localCid = endpoints.localCid;
    this.localPort = endpoints.localPort;
    this.remoteCid = endpoints.remoteCid;
    this.remotePort = endpoints.remotePort;
    this.#watcher.onEvents = (error, events) => this.#onEvents(error, events);
    this.#updateWatch(); // a watcher handed over by connect may still watch for writability
    // As net.Socket: read ahead up to the high-water mark from the start, so
    // that the peer's EOF or reset is noticed even before anyone consumes.
    this.read(0);
  }

  override _read(): void {
    this.#wantRead = true;
    this.#updateWatch();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = { rest: chunk, callback };
    this.#continueWrite();
  }

  /** Runs once every write has completed: tell the peer there is no more. */
  override _final(callback: (error?: Error | null) => void): void {
    try {
      nitroAddon().shutdownWrite(this.#fd);
      callback();
    } catch (error) {
      // As net.Socket: a peer that is already gone has nothing left to be told.
      callback(errorCode(error) === "ENOTCONN" ? null : (error as Error));
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      this.#watcher.close();
      try {
        nitroAddon().close(fd);
      } catch (closeError) {
        error ??= closeError as Error;
      }
    }
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    pending?.callback(error ?? Object.assign(new Error("write cancelled: the socket was destroyed"), { code: "ERR_STREAM_DESTROYED" }));
    callback(error);
  }

  #onEvents(error: Error | null, events: number): void {
    if (error) {
      this.destroy(error);
      return;
    }
    const { POLL_READABLE, POLL_WRITABLE } = nitroAddon();
    if (events & POLL_READABLE) this.#readAvailable();
    if (events & POLL_WRITABLE) this.#continueWrite();
  }

  #updateWatch(): void {
    const { POLL_READABLE, POLL_WRITABLE } = nitroAddon();
    try {
      this.#watcher.watch((this.#wantRead ? POLL_READABLE : 0) | (this.#pendingWrite ? POLL_WRITABLE : 0));
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  /** Reads until the consumer is full, the socket is drained or the peer has ended. */
  #readAvailable(): void {
    const addon = nitroAddon();
    while (this.#wantRead && this.#fd >= 0) {
      let count: number;
      try {
        count = addon.read(this.#fd, this.#readBuffer);
      } catch (error) {
        this.destroy(error as Error);
        return;
      }
      if (count === addon.WOULD_BLOCK) break;
      if (count === 0) {
        this.#wantRead = false;
        this.push(null);
        break;
      }
      this.#wantRead = this.push(this.#takeChunk(count));
      // A short read almost always means the socket is drained; polling is
      // level-triggered, so anything left is reported again without the extra read.
      if (count < READ_SIZE) break;
    }
    this.#updateWatch();
  }

  #takeChunk(count: number): Buffer {
    if (count <= COPY_AT_MOST) return Buffer.copyBytesFrom(this.#readBuffer, 0, count);
    const chunk = this.#readBuffer.subarray(0, count);
    this.#readBuffer = Buffer.allocUnsafe(READ_SIZE);
    return chunk;
  }

  /** Writes as much of the pending chunk as the socket takes; completes it when all is written. */
  #continueWrite(): void {
    const pending = this.#pendingWrite;
    if (pending === null || this.#fd < 0) return;
    const addon = nitroAddon();
    while (pending.rest.length > 0) {
      let count: number;
      try {
        count = addon.write(this.#fd, pending.rest);
      } catch (error) {
        this.#pendingWrite = null;
        this.#updateWatch();
        pending.callback(error as Error);
        return;
      }
      if (count === addon.WOULD_BLOCK) {
        this.#updateWatch();
        return;
      }
      pending.rest = pending.rest.subarray(count);
    }
    this.#pendingWrite = null;
    this.#updateWatch();
    pending.callback();
  }
}
