import { nitroAddon } from "../native.ts";
import { vsockError } from "./errors.ts";

/** Bind to every CID of this machine (the vsock INADDR_ANY). */
export const VMADDR_CID_ANY = 0xffff_ffff;
/** Let the kernel pick a free port when binding. */
export const VMADDR_PORT_ANY = 0xffff_ffff;

function rangeError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: "ERR_OUT_OF_RANGE" });
}

const isUint32 = (value: number) => Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;

export function checkCid(cid: number): void {
  if (!isUint32(cid)) throw rangeError(`vsock CID must be an integer from 0 to 4294967295, not ${String(cid)}`);
}

/** Ports are 32-bit; VMADDR_PORT_ANY is only meaningful where the caller says so (binding). */
export function checkPort(port: number, { allowAny = false } = {}): void {
  if (!isUint32(port) || (port === VMADDR_PORT_ANY && !allowAny)) {
    throw rangeError(`vsock port must be an integer from 0 to ${allowAny ? 4294967295 : 4294967294}, not ${String(port)}`);
  }
}

/** This machine's CID, from /dev/vsock (in an enclave: the enclave's CID; on the parent EC2 instance: 3). */
export function localCid(): number {
  try {
    return nitroAddon().vsockLocalCid();
  } catch (cause) {
    throw vsockError("local CID lookup", cause);
  }
}
