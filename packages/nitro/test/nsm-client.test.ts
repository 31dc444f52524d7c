// NsmClient over the simulator (every message round-trips through real CBOR), NsmError for every
// refusal, InvalidResponse for answers that do not fit the question, and the real /dev/nsm wrapper
// failing cleanly on a machine without one.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeResponse,
  NSM_DEVICE_PATH,
  NsmClient,
  type NsmDevice,
  NsmDeviceError,
  NsmError,
  type NsmResponse,
  RealNsmDevice,
  SimulatedNsm,
} from "../src/nsm/index.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sha384 = (...parts: Uint8Array[]) => {
  const h = createHash("sha384");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

let work: string;
let client: NsmClient;
let nsm: SimulatedNsm;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "nsm-client-"));
  await mkdir(join(work, "app"));
  await writeFile(join(work, "app", "main.js"), "main\n");
  nsm = await SimulatedNsm.create({ simDir: join(work, "sim"), applicationDir: join(work, "app") });
  client = new NsmClient(nsm);
});

afterAll(async () => {
  client.close();
  await rm(work, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<NsmError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NsmError);
    return error as NsmError;
  }
  throw new Error("expected an NsmError");
}

describe("NsmClient over the simulator", () => {
  it("describeNsm", async () => {
    const d = await client.describeNsm();
    expect(d).toEqual({
      versionMajor: 1,
      versionMinor: 0,
      versionPatch: 0,
      moduleId: nsm.moduleId,
      maxPcrs: 32,
      lockedPcrs: Array.from({ length: 16 }, (_, i) => i),
      digest: "SHA384",
    });
  });

  it("describePcr, extendPcr, lockPcr, lockPcrs", async () => {
    expect(await client.describePcr(0)).toEqual({ locked: true, value: nsm.measurements.pcr0 });
    const v = await client.extendPcr(30, utf8("measure me"));
    expect(hex(v)).toBe(hex(sha384(new Uint8Array(48), utf8("measure me"))));
    expect(await client.describePcr(30)).toEqual({ locked: false, value: v });
    await client.lockPcr(30);
    expect((await client.describePcr(30)).locked).toBe(true);
    await client.lockPcrs(18);
    expect((await client.describePcr(17)).locked).toBe(true);
    expect((await client.describePcr(18)).locked).toBe(false);
    expect((await client.describeNsm()).lockedPcrs).toEqual([...Array.from({ length: 18 }, (_, i) => i), 30]);
  });

  it("getRandom", async () => {
    const r = await client.getRandom();
    expect(r.length).toBe(256);
  });

  it("refusals become NsmError with the NSM's code and a clear message", async () => {
    const ro = await refusal(client.extendPcr(0, utf8("x")));
    expect(ro.code).toBe("ReadOnlyIndex");
    expect(ro.operation).toBe("ExtendPCR");
    expect(ro.message).toBe("NSM ExtendPCR failed: ReadOnlyIndex (the PCR is locked (read-only) and cannot be modified)");
    expect((await refusal(client.lockPcr(30))).code).toBe("ReadOnlyIndex");
    expect((await refusal(client.describePcr(32))).code).toBe("InvalidIndex");
    expect((await refusal(client.lockPcrs(33))).code).toBe("InvalidIndex");
    expect((await refusal(client.attestation({ userData: new Uint8Array(1025) }))).code).toBe("InputTooLarge");
    expect((await refusal(client.attestation({ publicKey: new Uint8Array(0) }))).code).toBe("InvalidArgument");
  });

  it("a request over 4096 bytes is refused with InputTooLarge without reaching the device", async () => {
    let sent = 0;
    const counting: NsmDevice = {
      request: (m) => {
        sent++;
        return nsm.request(m);
      },
      close: () => {},
    };
    const e = await refusal(new NsmClient(counting).extendPcr(16, new Uint8Array(4096)));
    expect(e.code).toBe("InputTooLarge");
    expect(e.message).toMatch(/exceeds 4096/);
    expect(sent).toBe(0);
  });

  it("arguments that are not u16 are a RangeError before anything is sent", async () => {
    await expect(client.describePcr(-1)).rejects.toThrow(RangeError);
    await expect(client.lockPcrs(70000)).rejects.toThrow(RangeError);
  });
});

/** A device that answers every request with the same bytes: the client's view of a confused NSM. */
class ScriptedDevice implements NsmDevice {
  readonly reply: Uint8Array;
  constructor(reply: Uint8Array) {
    this.reply = reply;
  }
  async request(): Promise<Uint8Array> {
    return Uint8Array.from(this.reply);
  }
  close(): void {}
}

describe("responses that do not answer the request", () => {
  const answering = (r: NsmResponse | Uint8Array) => new NsmClient(new ScriptedDevice(r instanceof Uint8Array ? r : encodeResponse(r)));

  it("a well-formed response of the wrong kind → InvalidResponse", async () => {
    const e = await refusal(answering({ type: "LockPCR" }).describePcr(16));
    expect(e.code).toBe("InvalidResponse");
    expect(e.message).toMatch(/expected a DescribePCR response, got LockPCR/);
    expect((await refusal(answering({ type: "GetRandom", random: new Uint8Array(4) }).attestation())).code).toBe("InvalidResponse");
  });

  it("undecodable bytes → InvalidResponse, with the decoder's reason", async () => {
    const e = await refusal(answering(utf8("garbage")).getRandom());
    expect(e.code).toBe("InvalidResponse");
    expect(e.message).toMatch(/not valid CBOR|unknown response|expected a text string/);
    expect((await refusal(answering(new Uint8Array(12289)).getRandom())).message).toMatch(/12288-byte limit/);
  });

  it("codes only a real driver or library produces still surface as NsmError (BufferTooSmall, Success, InternalError)", async () => {
    for (const code of ["BufferTooSmall", "Success", "InternalError", "InvalidOperation"] as const) {
      const e = await refusal(answering({ type: "Error", code }).getRandom());
      expect(e.code).toBe(code);
      expect(e.message).toContain(`NSM GetRandom failed: ${code}`);
    }
  });
});

describe("the real /dev/nsm wrapper", () => {
  it("opening /dev/nsm fails cleanly with ENOENT on a machine without one", async () => {
    const open = RealNsmDevice.open();
    await expect(open).rejects.toBeInstanceOf(NsmDeviceError);
    await expect(open).rejects.toMatchObject({ code: "ENOENT", message: `no NSM device at ${NSM_DEVICE_PATH} (not inside a Nitro Enclave?)` });
    await expect(RealNsmDevice.open(join(work, "no-such-nsm"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
