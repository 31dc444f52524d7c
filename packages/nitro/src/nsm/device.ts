// An NSM device takes one CBOR-encoded request and returns one CBOR-encoded response; nothing else.
// The real one is /dev/nsm through the NSM_IOCTL_RAW ioctl of the native addon; the simulated one
// (simulator.ts) implements the same interface, so the client cannot tell them apart.

import { stat } from "node:fs/promises";
import { type NitroAddon, nitroAddon } from "../native.ts";
import { encodeResponse, NSM_REQUEST_MAX_SIZE } from "./protocol.ts";

export interface NsmDevice {
  /**
   * Sends one encoded request and resolves with the encoded response, a buffer that then belongs to
   * the caller (the client zeroes it once decoded).
   */
  request(message: Uint8Array): Promise<Uint8Array>;
  /** Releases the device. Idempotent; requests after close reject with code EBADF. */
  close(): void;
}

export const NSM_DEVICE_PATH = "/dev/nsm";

/** What this module needs of the native addon (packages/nitro/src/native.ts). */
type NativeNsm = Pick<NitroAddon, "nsmOpen" | "nsmRequest" | "close">;

/** An Error carrying a Node-style `code` (ENOENT, EBADF, …). */
export class NsmDeviceError extends Error {
  override readonly name = "NsmDeviceError";
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** The addon is loaded only when a real device is opened (nitroAddon() loads it on first call). */
function loadNative(): NativeNsm {
  try {
    return nitroAddon();
  } catch (error) {
    throw new NsmDeviceError(`the native addon is not available: ${(error as Error).message}`, errorCode(error) ?? "ERR_NITRO_ADDON", { cause: error });
  }
}

function openError(path: string, error: unknown): NsmDeviceError {
  const code = errorCode(error) ?? "EIO";
  const message = code === "ENOENT" ? `no NSM device at ${path} (not inside a Nitro Enclave?)` : `cannot open the NSM device ${path}: ${code}`;
  return new NsmDeviceError(message, code, { cause: error });
}

/**
 * /dev/nsm. The ioctl is synchronous and fast (the NSM answers in microseconds to milliseconds), so
 * a request runs on the calling thread.
 */
export class RealNsmDevice implements NsmDevice {
  private fd: number | undefined;
  private readonly native: NativeNsm;
  readonly path: string;

  private constructor(native: NativeNsm, fd: number, path: string) {
    this.native = native;
    this.fd = fd;
    this.path = path;
  }

  /**
   * Opens the device. Without one (any machine outside an enclave) this rejects with an
   * NsmDeviceError whose code is ENOENT, whether or not the native addon is built.
   */
  static async open(path: string = NSM_DEVICE_PATH): Promise<RealNsmDevice> {
    let native: NativeNsm;
    try {
      native = loadNative();
    } catch (addonError) {
      // Without the addon, still say ENOENT when there is no device at all: that is the real cause.
      await stat(path).catch((error: unknown) => {
        throw openError(path, error);
      });
      throw addonError;
    }
    let fd: number;
    try {
      fd = native.nsmOpen(path);
    } catch (error) {
      throw openError(path, error);
    }
    return new RealNsmDevice(native, fd, path);
  }

  async request(message: Uint8Array): Promise<Uint8Array> {
    if (!(message instanceof Uint8Array)) throw new TypeError("an NSM request must be a Uint8Array");
    const fd = this.fd;
    if (fd === undefined) throw new NsmDeviceError("the NSM device is closed", "EBADF");
    // The driver refuses larger requests (EMSGSIZE); answer as nsm-driver does, with InputTooLarge.
    if (message.length > NSM_REQUEST_MAX_SIZE) return encodeResponse({ type: "Error", code: "InputTooLarge" });
    try {
      const response = this.native.nsmRequest(fd, message);
      const copy = Uint8Array.from(response);
      response.fill(0);
      return copy;
    } catch (error) {
      const code = errorCode(error);
      if (code === "EMSGSIZE" || code === "ERR_NSM_REQUEST_TOO_LARGE") return encodeResponse({ type: "Error", code: "InputTooLarge" });
      throw new NsmDeviceError(`NSM ioctl failed: ${errorCode(error) ?? (error as Error).message}`, errorCode(error) ?? "EIO", { cause: error });
    }
  }

  close(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    this.native.close(fd);
  }
}
