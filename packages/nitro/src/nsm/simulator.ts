// The simulated Nitro Security Module: the same CBOR in and out as /dev/nsm, the same PCR rules,
// and attestation documents signed under the simulator's P-384 CA.
//
// Behaviour, and where it comes from (aws-nitro-enclaves-nsm-api: src/api/mod.rs, src/driver/mod.rs,
// nsm-lib/src/lib.rs, nsm-test/src/bin/nsm-check.rs; QEMU's model of the device,
// hw/virtio/virtio-nsm.c and hw/i386/nitro_enclave.c):
// - 32 PCRs of SHA-384; PCR0–15 are locked at boot (nsm-check), 16–31 are free;
// - ExtendPCR sets SHA-384(old ‖ data) and answers the new value; on a locked PCR: ReadOnlyIndex;
// - an index ≥ 32 for DescribePCR/ExtendPCR/LockPCR: InvalidIndex;
// - LockPCR on a PCR already locked: ReadOnlyIndex (nsm-check expects an error for 0–15; the code is
//   QEMU's);
// - LockPCRs{range} locks [0, range), already-locked ones included, and succeeds for range ≤ 32
//   (nsm-check: range = max_pcrs succeeds after every PCR is locked, max_pcrs + 1 fails); beyond 32:
//   InvalidIndex (QEMU's code); range 0 is a successful no-op;
// - GetRandom answers 256 bytes (nsm-lib: "returns up to 256 bytes"; QEMU: NSM_RND_BUF_SIZE 256);
// - DescribeNSM: version 1.0.0 (QEMU's value; the real module's version is not published),
//   module_id "i-<17 hex>-enc<16 hex>", max_pcrs 32, locked_pcrs, digest SHA384;
// - a request over 4096 bytes: InputTooLarge (the driver's EMSGSIZE, as nsm-driver maps it);
//   bytes that are not a known request: InvalidOperation (QEMU); a known request with malformed
//   arguments (wrong type, unknown or duplicate field, integer beyond u16): InvalidArgument — a
//   guess, the real module's choice is not published (QEMU says InvalidOperation here too);
// - Attestation: user_data, nonce and public_key of at most 1024 bytes each (the attestation
//   document specification; nsm-check sends 1024 bytes of each), more: InputTooLarge; an empty
//   public_key: InvalidArgument (the specification says 1..1024; a guess at the code); the document's
//   `pcrs` holds every locked PCR, its timestamp is in milliseconds;
// - a response that would not fit the driver's 12288-byte buffer: InputTooLarge (QEMU);
// - anything unexpected while answering: InternalError.
//
// Boot values: PCR0/1/2 measure the simulated EIF (fixed placeholder kernel, cmdline and bootstrap
// ramdisk, and the enclave program's own files as the application ramdisk, see measure.ts); PCR3 the
// parent's IAM role ARN; PCR4 the parent's instance ID; PCR8 the EIF signing certificate if any,
// else zero. In debug mode PCR0, 1, 2 and 8 are all zero (a debug enclave's documents do not vouch
// for the image; AWS documents all-zero PCRs for debug enclaves) while PCR3 and 4 are kept.

import { randomBytes } from "node:crypto";
import { issueAttestationDocument, loadOrCreateSimulatedCa, type SimulatedCa } from "../attestation/index.ts";
import type { NsmDevice } from "./device.ts";
import { NsmDeviceError } from "./device.ts";
import {
  type ApplicationFile,
  extendPcr,
  type ImageSections,
  measureImage,
  measureInstanceId,
  measureRoleArn,
  measureSigningCertificate,
  readApplicationDir,
  readApplicationFiles,
  simulatedImage,
  zeroPcr,
} from "./measure.ts";
import { decodeRequest, encodeResponse, type NsmErrorCode, NsmProtocolError, type NsmRequest, type NsmResponse, NSM_REQUEST_MAX_SIZE, NSM_RESPONSE_MAX_SIZE } from "./protocol.ts";

export const NSM_MAX_PCRS = 32;
/** PCRs [0, 16) are the hypervisor's, locked before the enclave runs. */
export const NSM_BOOT_LOCKED_PCRS = 16;
export const NSM_RANDOM_BYTES = 256;
/** Largest user_data, nonce or public_key the simulated NSM takes into a document. */
export const NSM_ATTESTATION_FIELD_MAX = 1024;
export const NSM_VERSION = { major: 1, minor: 0, patch: 0 } as const;

/** A clearly fake parent instance (AWS's own documentation example ID). */
export const SIMULATED_INSTANCE_ID = "i-0123456789abcdef0";
/** A clearly fake parent IAM role (account 000000000000). */
export const SIMULATED_ROLE_ARN = "arn:aws:iam::000000000000:role/strongroom-simulated-parent";

const INSTANCE_ID = /^i-[0-9a-f]{17}$/;
const ENCLAVE_ID = /^[0-9a-f]{16}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\-/]{1,512}$/;

export interface SimulatedNsmOptions {
  /** Where the simulated CA keeps its root key and certificate (created on first use). */
  readonly simDir: string;
  /** The enclave program's files, as paths (relative to `applicationRoot`) or as contents. */
  readonly applicationFiles?: readonly string[] | readonly ApplicationFile[];
  /** Base for relative names of `applicationFiles` given as paths; default the current directory. */
  readonly applicationRoot?: string;
  /** A directory holding the enclave program (every file under it is measured). */
  readonly applicationDir?: string;
  /**
   * A whole image (the sections of an EIF) instead of the simulated one
   * around an application: the simulated enclave then measures exactly what
   * `strongroom eif pcr` reports for that EIF.
   */
  readonly image?: ImageSections;
  /** Debug mode: PCR0, 1, 2 and 8 read as zero. */
  readonly debug?: boolean;
  /** The parent's IAM role ARN for PCR3; default SIMULATED_ROLE_ARN; null for no role (PCR3 zero). */
  readonly roleArn?: string | null;
  /** The parent's instance ID for PCR4 and the module ID; default SIMULATED_INSTANCE_ID. */
  readonly instanceId?: string;
  /** The 16 hex digits after "-enc" in the module ID; default random per simulator. */
  readonly enclaveId?: string;
  /** The EIF signing certificate (DER bytes or PEM text) for PCR8; default none (PCR8 zero). */
  readonly signingCertificate?: Uint8Array | string;
  /** Clock for documents and the CA; default the system clock. */
  readonly now?: () => Date;
}

/** The values the simulated enclave's boot measures, whatever the debug flag (for key policies). */
export interface SimulatedMeasurements {
  readonly pcr0: Uint8Array;
  readonly pcr1: Uint8Array;
  readonly pcr2: Uint8Array;
  readonly pcr3: Uint8Array;
  readonly pcr4: Uint8Array;
  readonly pcr8: Uint8Array;
}

/** The image the simulated enclave boots: given whole, or the simulated one around the application. */
async function imageOf(options: SimulatedNsmOptions): Promise<ImageSections> {
  const given = [options.image, options.applicationFiles, options.applicationDir].filter((option) => option !== undefined).length;
  if (given !== 1) throw new Error("SimulatedNsm needs exactly one of image, applicationFiles and applicationDir");
  return options.image ?? simulatedImage(await applicationOf(options));
}

async function applicationOf(options: SimulatedNsmOptions): Promise<ApplicationFile[]> {
  const { applicationFiles, applicationDir } = options;
  if (applicationDir !== undefined) return readApplicationDir(applicationDir);
  const list = applicationFiles as ReadonlyArray<string | ApplicationFile>;
  if (list.every((f) => typeof f === "string")) return readApplicationFiles(list as string[], options.applicationRoot);
  if (list.every((f) => typeof f === "object" && f !== null)) return [...(list as ApplicationFile[])];
  throw new Error("applicationFiles must be all paths or all { path, content } entries");
}

function checkIdentity(options: SimulatedNsmOptions): { instanceId: string; roleArn: string | null } {
  const instanceId = options.instanceId ?? SIMULATED_INSTANCE_ID;
  if (!INSTANCE_ID.test(instanceId)) throw new Error(`instanceId "${instanceId}" is not an EC2 instance ID (i- and 17 hex digits)`);
  const roleArn = options.roleArn === undefined ? SIMULATED_ROLE_ARN : options.roleArn;
  if (roleArn !== null && !ROLE_ARN.test(roleArn)) throw new Error(`roleArn "${roleArn}" is not an IAM role ARN`);
  return { instanceId, roleArn };
}

/**
 * What the simulated enclave measures at boot (PCR0/1/2 of the simulated image over the given
 * application, PCR3, PCR4, PCR8), independent of debug mode: the values a key policy would name.
 */
export async function simulatedMeasurements(options: Omit<SimulatedNsmOptions, "simDir" | "debug" | "now" | "enclaveId">): Promise<SimulatedMeasurements> {
  const { instanceId, roleArn } = checkIdentity(options as SimulatedNsmOptions);
  const image = measureImage(await imageOf(options as SimulatedNsmOptions));
  return {
    ...image,
    pcr3: roleArn === null ? zeroPcr() : measureRoleArn(roleArn),
    pcr4: measureInstanceId(instanceId),
    pcr8: options.signingCertificate === undefined ? zeroPcr() : measureSigningCertificate(options.signingCertificate),
  };
}

interface Pcr {
  value: Uint8Array;
  locked: boolean;
}

export class SimulatedNsm implements NsmDevice {
  readonly moduleId: string;
  readonly debug: boolean;
  /** The boot measurements (the non-debug values, even in debug mode). */
  readonly measurements: SimulatedMeasurements;
  private readonly pcrs: Pcr[];
  private readonly ca: SimulatedCa;
  private readonly now: () => Date;
  private closed = false;

  private constructor(moduleId: string, debug: boolean, boot: SimulatedMeasurements, ca: SimulatedCa, now: () => Date) {
    this.moduleId = moduleId;
    this.debug = debug;
    this.measurements = boot;
    this.ca = ca;
    this.now = now;
    this.pcrs = Array.from({ length: NSM_MAX_PCRS }, (_, i) => ({ value: zeroPcr(), locked: i < NSM_BOOT_LOCKED_PCRS }));
    const set = (i: number, v: Uint8Array) => ((this.pcrs[i] as Pcr).value = Uint8Array.from(v));
    if (!debug) {
      set(0, boot.pcr0);
      set(1, boot.pcr1);
      set(2, boot.pcr2);
      set(8, boot.pcr8);
    }
    set(3, boot.pcr3);
    set(4, boot.pcr4);
  }

  /** Measures the application, loads (or creates) the simulated CA, and boots the module. */
  static async create(options: SimulatedNsmOptions): Promise<SimulatedNsm> {
    if (typeof options?.simDir !== "string" || options.simDir.length === 0) throw new Error("SimulatedNsm needs simDir");
    const now = options.now ?? (() => new Date());
    const enclaveId = options.enclaveId ?? randomBytes(8).toString("hex");
    if (!ENCLAVE_ID.test(enclaveId)) throw new Error(`enclaveId "${enclaveId}" is not 16 hex digits`);
    const measurements = await simulatedMeasurements(options);
    const { instanceId } = checkIdentity(options);
    const ca = loadOrCreateSimulatedCa(options.simDir, { now });
    return new SimulatedNsm(`${instanceId}-enc${enclaveId}`, options.debug === true, measurements, ca, now);
  }

  /** DER of the simulated root CA that this module's documents chain to (a verifier's `root`). */
  get rootCertificate(): Uint8Array {
    return this.ca.rootCertificate;
  }

  async request(message: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new NsmDeviceError("the simulated NSM is closed", "EBADF");
    if (!(message instanceof Uint8Array)) throw new TypeError("an NSM request must be a Uint8Array");
    return this.answer(message);
  }

  close(): void {
    this.closed = true;
  }

  /** Answers one request synchronously; never throws. */
  private answer(message: Uint8Array): Uint8Array {
    let response: NsmResponse;
    try {
      if (message.length > NSM_REQUEST_MAX_SIZE) {
        response = error("InputTooLarge");
      } else {
        let request: NsmRequest | undefined;
        try {
          request = decodeRequest(message);
        } catch (e) {
          if (!(e instanceof NsmProtocolError)) throw e;
          response = error(e.nsmCode);
        }
        response ??= this.handle(request as NsmRequest);
      }
      const encoded = encodeResponse(response);
      if (response.type === "GetRandom") response.random.fill(0);
      return encoded.length > NSM_RESPONSE_MAX_SIZE ? encodeResponse(error("InputTooLarge")) : encoded;
    } catch {
      return encodeResponse(error("InternalError"));
    }
  }

  private pcr(index: number): Pcr | undefined {
    return index < NSM_MAX_PCRS ? this.pcrs[index] : undefined;
  }

  private handle(request: NsmRequest): NsmResponse {
    switch (request.type) {
      case "DescribePCR": {
        const pcr = this.pcr(request.index);
        if (!pcr) return error("InvalidIndex");
        return { type: "DescribePCR", lock: pcr.locked, data: Uint8Array.from(pcr.value) };
      }
      case "ExtendPCR": {
        const pcr = this.pcr(request.index);
        if (!pcr) return error("InvalidIndex");
        if (pcr.locked) return error("ReadOnlyIndex");
        pcr.value = extendPcr(pcr.value, request.data);
        return { type: "ExtendPCR", data: Uint8Array.from(pcr.value) };
      }
      case "LockPCR": {
        const pcr = this.pcr(request.index);
        if (!pcr) return error("InvalidIndex");
        if (pcr.locked) return error("ReadOnlyIndex");
        pcr.locked = true;
        return { type: "LockPCR" };
      }
      case "LockPCRs": {
        if (request.range > NSM_MAX_PCRS) return error("InvalidIndex");
        for (let i = 0; i < request.range; i++) (this.pcrs[i] as Pcr).locked = true;
        return { type: "LockPCRs" };
      }
      case "DescribeNSM":
        return {
          type: "DescribeNSM",
          versionMajor: NSM_VERSION.major,
          versionMinor: NSM_VERSION.minor,
          versionPatch: NSM_VERSION.patch,
          moduleId: this.moduleId,
          maxPcrs: NSM_MAX_PCRS,
          lockedPcrs: this.lockedIndexes(),
          digest: "SHA384",
        };
      case "GetRandom":
        return { type: "GetRandom", random: randomBytes(NSM_RANDOM_BYTES) };
      case "Attestation":
        return this.attest(request);
    }
  }

  private lockedIndexes(): number[] {
    const out: number[] = [];
    this.pcrs.forEach((p, i) => p.locked && out.push(i));
    return out;
  }

  private attest(request: Extract<NsmRequest, { type: "Attestation" }>): NsmResponse {
    const { userData, nonce, publicKey } = request;
    for (const field of [userData, nonce, publicKey]) if (field && field.length > NSM_ATTESTATION_FIELD_MAX) return error("InputTooLarge");
    if (publicKey && publicKey.length === 0) return error("InvalidArgument");
    const pcrs = new Map<number, Uint8Array>();
    for (const i of this.lockedIndexes()) pcrs.set(i, Uint8Array.from((this.pcrs[i] as Pcr).value));
    let document: Uint8Array;
    try {
      document = issueAttestationDocument(this.ca, {
        moduleId: this.moduleId,
        timestamp: this.now(),
        pcrs,
        ...(publicKey ? { publicKey } : {}),
        ...(userData ? { userData } : {}),
        ...(nonce ? { nonce } : {}),
      });
    } catch {
      return error("InternalError");
    }
    return { type: "Attestation", document };
  }
}

function error(code: NsmErrorCode): NsmResponse {
  return { type: "Error", code };
}
