// Builds the enclave image (EIF) without Docker or nitro-cli: AWS's kernel,
// command line and bootstrap ramdisk from the blobs directory, the
// application ramdisk from rootfs.ts, metadata from SOURCE_DATE_EPOCH. The
// same checkout, blobs, Node.js binary, shared libraries and arguments give
// the same bytes wherever and whenever they are built (a signature section
// aside: ECDSA signatures are randomised; PCR8 is not).
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { readBlobs } from "./blobs.ts";
import { bundleEnclave, type ProgramFile } from "./bundle.ts";
import { CHECKOUT_ROOT } from "./checkout.ts";
import { EIF_FLAG_ARM64, writeEif, type EifImage } from "./eif.ts";
import { eifPcrs, type EifPcrs } from "./measure.ts";
import { encodeEifMetadata } from "./metadata.ts";
import { applicationRamdisk, bootstrapRamdisk } from "./ramdisk.ts";
import { enclaveRootfs, type Rootfs } from "./rootfs.ts";
import { signatureSection } from "./signature.ts";

export interface BuildEifOptions {
  /** aws-nitro-enclaves-cli's blobs directory. */
  readonly blobsDir: string;
  /** Where to write the EIF. */
  readonly out: string;
  /** Seconds since 1970 (source-date.ts): every file time and the metadata's build time. */
  readonly sourceDateEpoch: number;
  /** `strongroom enclave` options baked into the image's command. */
  readonly enclaveArgs?: readonly string[];
  /** A YAML file of `strongroom enclave` options baked into the image. */
  readonly enclaveConfig?: Uint8Array;
  /** Signs the image (PCR8 then measures the certificate): a P-384 certificate and its key, PEM. */
  readonly signer?: { readonly certificatePem: string; readonly keyPem: string };
  /** The checkout to build from; default: the one this package is part of. */
  readonly checkout?: string;
  /** The Node.js binary of the image; default: the one running this. */
  readonly nodeBinary?: string;
  /** The bundled program; default: bundled now from the checkout. */
  readonly program?: readonly ProgramFile[];
}

export interface BuildEifResult {
  readonly pcrs: EifPcrs;
  /** What init runs in the enclave. */
  readonly cmd: readonly string[];
  /** Bytes. */
  readonly sizes: {
    readonly eif: number;
    readonly kernel: number;
    readonly bootstrapRamdisk: number;
    readonly applicationRamdisk: number;
    readonly applicationRamdiskUncompressed: number;
  };
  /** Milliseconds. */
  readonly timings: { readonly bundle: number; readonly rootfs: number; readonly ramdisks: number; readonly measure: number; readonly write: number; readonly total: number };
}

/** The metadata section: who built the image from what, and when (SOURCE_DATE_EPOCH, not the clock). Not measured. */
function metadata(rootfs: Rootfs, blobs: { operatingSystem: string; kernelVersion: string }, checkout: string, sourceDateEpoch: number): Uint8Array {
  const { version } = JSON.parse(readFileSync(join(checkout, "packages/cli/package.json"), "utf8")) as { version: string };
  return encodeEifMetadata({
    imageName: "strongroom-enclave",
    imageVersion: version,
    buildInfo: {
      buildTime: new Date(sourceDateEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, "+00:00"),
      buildTool: "strongroom eif build",
      buildToolVersion: version,
      operatingSystem: blobs.operatingSystem,
      kernelVersion: blobs.kernelVersion,
    },
    dockerInfo: null,
    customInfo: { cmd: rootfs.cmd, env: rootfs.env },
  });
}

/** Builds the EIF and writes it to `out` (whole or not at all). */
export async function buildEif(options: BuildEifOptions): Promise<BuildEifResult> {
  const checkout = options.checkout ?? CHECKOUT_ROOT;
  const mtime = options.sourceDateEpoch;
  const clock = { start: performance.now(), last: performance.now() };
  const lap = () => {
    const now = performance.now();
    const elapsed = Math.round(now - clock.last);
    clock.last = now;
    return elapsed;
  };

  // The blobs first: a wrong directory fails before the slow steps.
  const blobs = readBlobs(options.blobsDir);
  const program = options.program ?? (await bundleEnclave(checkout));
  const bundle = lap();
  const rootfs = await enclaveRootfs({
    checkout,
    program,
    ...(options.nodeBinary !== undefined && { nodeBinary: options.nodeBinary }),
    ...(options.enclaveArgs !== undefined && { enclaveArgs: options.enclaveArgs }),
    ...(options.enclaveConfig !== undefined && { enclaveConfig: options.enclaveConfig }),
  });
  if (rootfs.machine !== blobs.machine) throw new Error(`the blobs in ${options.blobsDir} are for ${blobs.machine}, but ${options.nodeBinary ?? process.execPath} is built for ${rootfs.machine}`);
  const rootfsMs = lap();
  const application = await applicationRamdisk(rootfs, mtime);
  const bootstrap = bootstrapRamdisk(blobs.init, blobs.nsmDriver, mtime);
  const ramdisks = lap();

  const unsigned: EifImage = {
    kernel: blobs.kernel,
    cmdline: blobs.cmdline,
    metadata: metadata(rootfs, blobs, checkout, mtime),
    ramdisks: [bootstrap, application.ramdisk],
    flags: rootfs.machine === "aarch64" ? EIF_FLAG_ARM64 : 0,
  };
  let image = unsigned;
  if (options.signer !== undefined) {
    const pcr0 = Buffer.from(eifPcrs(unsigned).PCR0, "hex");
    image = { ...unsigned, signature: signatureSection(new Uint8Array(pcr0), options.signer.certificatePem, options.signer.keyPem) };
  }
  const pcrs = eifPcrs(image);
  const measure = lap();

  const eif = writeEif(image);
  const temporary = `${options.out}.${process.pid}.tmp`;
  writeFileSync(temporary, eif);
  renameSync(temporary, options.out);
  const write = lap();

  return {
    pcrs,
    cmd: rootfs.cmd,
    sizes: {
      eif: eif.length,
      kernel: blobs.kernel.length,
      bootstrapRamdisk: bootstrap.length,
      applicationRamdisk: application.ramdisk.length,
      applicationRamdiskUncompressed: application.uncompressedBytes,
    },
    timings: { bundle, rootfs: rootfsMs, ramdisks, measure, write, total: Math.round(performance.now() - clock.start) },
  };
}
