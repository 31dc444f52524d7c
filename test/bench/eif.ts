// eif: building the enclave image from this checkout as `make eif` does (the
// bundle, the root filesystem with the running Node.js and its libraries,
// both ramdisks, gzip at level 9, the PCRs), against a stand-in blobs
// directory whose kernel is the size of AWS's (some 7 MiB; its bytes are
// placeholders, so the EIF's size is right and nothing boots). Goals: under
// 60 s, and an application ramdisk under 100 MiB as the enclave receives it.
//
// Run: node --conditions=strongroom-source test/bench/eif.ts, or
// `make bench BENCH=eif` — prints one JSON object on stdout.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { buildEif } from "@strongroom/eif";
import { writeFakeBlobs } from "../../packages/eif/test/fake-blobs.ts";

const KERNEL_BYTES = 7 * 1024 * 1024;
const MIB = 1024 * 1024;
const GOAL_MS = 60_000;
const GOAL_RAMDISK_BYTES = 100 * MIB;

const dir = mkdtempSync(join(tmpdir(), "strongroom-bench-eif-"));
try {
  const result = await buildEif({
    blobsDir: writeFakeBlobs(join(dir, "blobs"), KERNEL_BYTES),
    out: join(dir, "strongroom.eif"),
    sourceDateEpoch: 1_700_000_000,
    enclaveArgs: ["--slashing-protection-db-url=postgres://signer@db.internal:5432/slashing"],
  });
  const { sizes, timings } = result;
  const mib = (bytes: number) => Number((bytes / MIB).toFixed(1));
  console.log(
    JSON.stringify({
      name: "eif",
      cores: availableParallelism(),
      node: process.version,
      buildMs: timings.total,
      stepsMs: timings,
      eifMiB: mib(sizes.eif),
      applicationRamdiskMiB: mib(sizes.applicationRamdisk),
      applicationRamdiskUncompressedMiB: mib(sizes.applicationRamdiskUncompressed),
      bootstrapRamdiskKiB: Number((sizes.bootstrapRamdisk / 1024).toFixed(1)),
      placeholderKernelMiB: mib(sizes.kernel),
      underGoalTime: timings.total < GOAL_MS,
      underGoalRamdisk: sizes.applicationRamdisk < GOAL_RAMDISK_BYTES,
      pcrs: result.pcrs,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
