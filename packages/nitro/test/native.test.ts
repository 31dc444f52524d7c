// The native addon's own contract: argument checks, errno errors, the NSM ioctl.
import { closeSync, copyFileSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { nitroAddon, type PollerHandle } from "../src/native.ts";
import { temporaryDirectory } from "./stream-support.ts";

const addon = nitroAddon();

test("an addon that was never built is a clear error saying how to build it", async () => {
  // The loader finds the addon relative to itself: a copy elsewhere has none next to it.
  const directory = temporaryDirectory("strongroom-no-addon-");
  try {
    mkdirSync(join(directory.path, "src"));
    const copy = join(directory.path, "src", "native.ts");
    copyFileSync(new URL("../src/native.ts", import.meta.url), copy);
    copyFileSync(new URL("../src/addon-location.ts", import.meta.url), join(directory.path, "src", "addon-location.ts"));
    const { nitroAddon: load } = (await import(pathToFileURL(copy).href)) as typeof import("../src/native.ts");
    expect(load).toThrow(expect.objectContaining({ code: "ERR_NITRO_ADDON", message: expect.stringMatching(/is not built .*run `npm install`.*C compiler, make, python3/) }));
  } finally {
    directory.remove();
  }
});

test("system call failures are Errors with the errno name as code, the errno and the operation", () => {
  let error: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
  try {
    addon.read(0x7fff_fff0, Buffer.alloc(1));
  } catch (e) {
    error = e as Error;
  }
  expect(error).toBeInstanceOf(Error);
  expect(error).toMatchObject({ code: "EBADF", errno: -9, syscall: "read", message: "read: bad file descriptor (EBADF)" });
});

test("arguments are checked before anything reaches the kernel", () => {
  expect(() => addon.close(-1)).toThrow(expect.objectContaining({ code: "ERR_OUT_OF_RANGE" }));
  expect(() => addon.vsockBind(0, 2 ** 32, 1)).toThrow(RangeError);
  expect(() => addon.read(0, "text" as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }));
  expect(() => addon.read(0, new Uint8Array(0))).toThrow(RangeError);
  expect(() => addon.pollerSet({} as PollerHandle, 1)).toThrow(/not a poller handle/);
  expect(() => (addon.listen as (fd: number) => void)(0)).toThrow(expect.objectContaining({ code: "ERR_MISSING_ARGS" }));
});

describe("NSM", () => {
  const devNull = openSync("/dev/null", "r+");
  afterAll(() => closeSync(devNull));

  test("nsmOpen on a machine without /dev/nsm is a clean ENOENT naming the path", () => {
    expect(() => addon.nsmOpen("/dev/nsm")).toThrow(expect.objectContaining({ code: "ENOENT", message: expect.stringContaining("/dev/nsm") }));
    expect(() => addon.nsmOpen("/dev/n\0sm")).toThrow(TypeError);
  });

  test("a request over 4096 bytes is refused before the ioctl", () => {
    // On a descriptor that is not open: a size refusal rather than EBADF proves no system call was made.
    expect(() => addon.nsmRequest(0x7fff_fff0, new Uint8Array(4097))).toThrow(
      expect.objectContaining({ name: "RangeError", code: "ERR_NSM_REQUEST_TOO_LARGE" }),
    );
    expect(() => addon.nsmRequest(0x7fff_fff0, new Uint8Array(4096))).toThrow(expect.objectContaining({ code: "EBADF" }));
  });

  test("the ioctl on a device that is not the NSM is a clean ENOTTY", () => {
    expect(() => addon.nsmRequest(devNull, new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: "ENOTTY", syscall: "ioctl NSM_IOCTL_RAW" }),
    );
  });

  test("close() releases a descriptor once; a second close is EBADF", () => {
    const fd = addon.nsmOpen("/dev/null");
    addon.close(fd);
    expect(() => addon.close(fd)).toThrow(expect.objectContaining({ code: "EBADF" }));
  });
});
