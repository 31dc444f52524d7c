import { nitroAddon } from "../native.ts";
import { checkCid, checkPort } from "./address.ts";
import { vsockError } from "./errors.ts";
import { FdWatcher } from "./fd-watcher.ts";
import { VsockSocket } from "./socket.ts";

export interface ConnectVsockOptions {
  /**
   * Give up after this long (default 10 s). The kernel has its own connect
   * timeout as well (2 s by default for AF_VSOCK), whichever comes first.
   */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Connects to `cid`:`port` without blocking the event loop. Rejects with a
 * VsockError whose code is the errno name: ENODEV, ETIMEDOUT or EHOSTUNREACH
 * when no endpoint has that CID, ECONNRESET or ECONNREFUSED when nothing
 * listens on the port.
 */
export function connectVsock(cid: number, port: number, options: ConnectVsockOptions = {}): Promise<VsockSocket> {
  return new Promise((resolve, reject) => {
    checkCid(cid);
    checkPort(port);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) throw new RangeError(`timeoutMs must be a positive number of milliseconds, not ${timeoutMs}`);
    const operation = `connect to CID ${cid} port ${port}`;
    const addon = nitroAddon();

    let fd: number;
    let watcher: FdWatcher;
    try {
      fd = addon.vsockSocket();
    } catch (cause) {
      reject(vsockError(operation, cause));
      return;
    }
    try {
      watcher = new FdWatcher(fd);
    } catch (cause) {
      addon.close(fd);
      reject(vsockError(operation, cause));
      return;
    }

    let timer: NodeJS.Timeout | undefined;
    const fail = (cause: unknown, code?: string) => {
      clearTimeout(timer);
      watcher.close();
      addon.close(fd);
      reject(vsockError(operation, cause, code));
    };
    const succeed = () => {
      clearTimeout(timer);
      let endpoints;
      try {
        const local = addon.vsockLocalAddress(fd);
        const remote = addon.vsockRemoteAddress(fd);
        endpoints = { localCid: local.cid, localPort: local.port, remoteCid: remote.cid, remotePort: remote.port };
      } catch (cause) {
        fail(cause);
        return;
      }
      resolve(new VsockSocket(fd, endpoints, watcher));
    };

    try {
      if (addon.vsockConnect(fd, cid, port)) {
        succeed();
        return;
      }
      // In progress: the socket polls writable once the connect has succeeded or failed.
      watcher.onEvents = (error) => {
        if (error) {
          fail(error);
          return;
        }
        try {
          addon.connectResult(fd);
        } catch (cause) {
          fail(cause);
          return;
        }
        succeed();
      };
      watcher.watch(addon.POLL_WRITABLE);
    } catch (cause) {
      fail(cause);
      return;
    }
    timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`), "ETIMEDOUT"), timeoutMs);
  });
}
