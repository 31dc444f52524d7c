import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadOrCreateSimulatedCa, NsmClient, readApplicationDir, SimulatedNsm, simulatedMeasurements, type ApplicationFile } from "@strongroom/nitro";

/** The package the enclave program starts from. */
const ENCLAVE_PACKAGE = "@strongroom/enclave";
const OWN_SCOPE = "@strongroom/";

/**
 * The enclave program's own files, which the simulated image measures into
 * PCR0 and PCR2: every file under `src/` of @strongroom/enclave and of each
 * @strongroom package it depends on, directly or not (eth2, keystore,
 * slashing, nitro, atls), named `<package>/src/<path>`. The command line
 * (packages/cli) is not part of it: it only starts the program. A change to
 * any of that code changes the PCRs, as rebuilding a real image would; the
 * names do not depend on where the repository is checked out.
 */
export async function enclaveProgramFiles(): Promise<ApplicationFile[]> {
  const files: ApplicationFile[] = [];
  for (const [name, directory] of packageClosure(ENCLAVE_PACKAGE)) {
    for (const file of await readApplicationDir(join(directory, "src"))) files.push({ ...file, path: `${name}/src/${file.path}` });
  }
  return files;
}

/** A simulated NSM that boots the enclave program's image, with its CA in `simDir`. */
export async function simulatedEnclaveNsm(simDir: string): Promise<{ nsm: NsmClient; rootCertificatePath: string }> {
  const { rootCertificatePath } = loadOrCreateSimulatedCa(simDir);
  const device = await SimulatedNsm.create({ simDir, applicationFiles: await enclaveProgramFiles() });
  return { nsm: new NsmClient(device), rootCertificatePath };
}

/** The PCR manifest (JSON) of the simulated image of the enclave program: what clients of a simulated enclave pin. */
export async function simulatedEnclaveManifest(): Promise<string> {
  const { pcr0, pcr1, pcr2 } = await simulatedMeasurements({ applicationFiles: await enclaveProgramFiles() });
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
  return JSON.stringify({ PCR0: hex(pcr0), PCR1: hex(pcr1), PCR2: hex(pcr2) });
}

/** The package and its @strongroom dependencies, transitively, each with its directory, in a stable order. */
function packageClosure(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (name: string) => {
    if (found.has(name)) return;
    const directory = packageDirectory(name);
    found.set(name, directory);
    const manifest = JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies ?? {}).sort()) if (dependency.startsWith(OWN_SCOPE)) visit(dependency);
  };
  visit(root);
  return found;
}

/** The directory of an installed package: the nearest package.json above its entry point (src/ or dist/, by export condition). */
function packageDirectory(name: string): string {
  let directory = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) as { name?: string };
      if (manifest.name === name) return directory;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`cannot find the package directory of ${name}`);
    directory = parent;
  }
}
