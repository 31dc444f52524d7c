// The simulated enclave's image, built and measured as a real one is
// (packages/eif): the same root filesystem (Node.js, its libraries, the
// esbuild bundle of this checkout, the native addons) in the same
// application ramdisk, around the simulator's placeholder kernel, command
// line and bootstrap files instead of AWS's blobs. `strongroom sim` writes it
// to <dir>/enclave.eif, the simulated NSM boots with its PCRs, and so
// `strongroom eif pcr` and `strongroom eif policy` on that file describe and
// pin the simulated enclave exactly as they would a real one. (The simulated
// enclave process itself runs this checkout's code, which the bundle is made
// from: a change to it changes PCR0 and PCR2.)
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildEif, bundleEnclave, CHECKOUT_ROOT, EIF_MAX_BYTES, readEif, type EifPcrs, type ParsedEif, type ProgramFile } from "@strongroom/eif";
import { loadOrCreateSimulatedCa, NsmClient, SIMULATED_BOOTSTRAP_RAMDISK, SIMULATED_CMDLINE, SIMULATED_KERNEL, SimulatedNsm } from "@strongroom/nitro";

/** Where `strongroom sim` puts the simulated enclave's image, and the blobs it is built from (in the same directory). */
export const SIMULATED_IMAGE_FILE = "enclave.eif";
export const SIMULATED_BLOBS_DIR = "blobs";
/** A fixed build time: the simulated image depends on the code, not on when it was built or committed. */
export const SIMULATED_IMAGE_EPOCH = 1_700_000_000;
/** Built images, by what they are made of: the gzip of the ramdisk is the slow step, and most simulations run the same code. */
const CACHE_DIR = join(CHECKOUT_ROOT, "node_modules", ".cache", "strongroom", "simulated-eif");

/** The simulator's stand-in for aws-nitro-enclaves-cli's blobs directory (placeholder bytes: nothing here boots). */
function writeSimulatedBlobs(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "bzImage"), SIMULATED_KERNEL);
  writeFileSync(join(dir, "bzImage.config"), "#\n# strongroom simulated enclave kernel: placeholder bytes, not a Linux kernel\n# Linux/x86 0.0.0-simulated Kernel Configuration\n");
  writeFileSync(join(dir, "cmdline"), SIMULATED_CMDLINE);
  writeFileSync(join(dir, "init"), SIMULATED_BOOTSTRAP_RAMDISK);
  writeFileSync(join(dir, "nsm.ko"), new TextEncoder().encode("strongroom simulated nsm.ko - placeholder bytes\n"));
  return dir;
}

/** What the image is made of, as a cache key: the bundle, and the Node.js binary that the root filesystem copies. */
function imageKey(program: readonly ProgramFile[]): string {
  const hash = createHash("sha256").update("strongroom simulated image v1\0");
  for (const file of program) hash.update(`${file.path}\0${file.content.length}\0`).update(file.content);
  const node = statSync(process.execPath);
  return hash.update(`${process.execPath}\0${node.size}\0${node.mtimeMs}`).digest("hex");
}

/**
 * Builds (or takes from the cache) the simulated enclave's image for this
 * checkout and writes it to `<simDir>/enclave.eif`, beside the blobs it is
 * made of (`<simDir>/blobs`, to rebuild it with `strongroom eif build`);
 * returns it, read back (its sections and PCRs).
 */
export async function buildSimulatedImage(simDir: string): Promise<ParsedEif> {
  const blobsDir = writeSimulatedBlobs(join(simDir, SIMULATED_BLOBS_DIR));
  const program = await bundleEnclave(CHECKOUT_ROOT);
  const cached = join(CACHE_DIR, `${imageKey(program)}.eif`);
  if (!existsSync(cached)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    // Another simulation may build the same image at the same time: each writes its own file, the rename is atomic.
    const building = `${cached}.${process.pid}.building`;
    await buildEif({ blobsDir, out: building, sourceDateEpoch: SIMULATED_IMAGE_EPOCH, program });
    renameSync(building, cached);
  }
  const target = join(simDir, SIMULATED_IMAGE_FILE);
  copyFileSync(cached, `${target}.tmp`);
  renameSync(`${target}.tmp`, target);
  return readEif(readFileSync(target));
}

/** The image `strongroom sim` wrote to `simDir`. */
export function readSimulatedImage(simDir: string): ParsedEif {
  const path = join(simDir, SIMULATED_IMAGE_FILE);
  if (!existsSync(path)) throw new Error(`no simulated enclave image at ${path}: the simulated enclave is started by \`strongroom sim\`, which builds it there`);
  if (statSync(path).size > EIF_MAX_BYTES) throw new Error(`${path} is larger than ${EIF_MAX_BYTES} bytes`);
  return readEif(readFileSync(path));
}

/** A simulated NSM that boots `image`, with the simulator's CA in `simDir`. */
export async function simulatedEnclaveNsm(simDir: string, image: ParsedEif): Promise<{ nsm: NsmClient; rootCertificatePath: string }> {
  const { kernel, cmdline, ramdisks } = image;
  const { rootCertificatePath } = loadOrCreateSimulatedCa(simDir);
  const device = await SimulatedNsm.create({ simDir, image: { kernel, cmdline, ramdisks } });
  return { nsm: new NsmClient(device), rootCertificatePath };
}

/** The PCR manifest (JSON) of an image: what clients of the simulated enclave pin. */
export function pcrManifestOf(pcrs: EifPcrs): string {
  return JSON.stringify({ PCR0: pcrs.PCR0, PCR1: pcrs.PCR1, PCR2: pcrs.PCR2 });
}
