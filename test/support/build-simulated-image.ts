// Vitest global setup: the simulated enclave's image is built once, before
// any test starts a simulation or a simulated-aTLS signer, so that none of
// them waits for the first (slow) build under a start-up deadline. Later
// builds of the same code come from the cache.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSimulatedImage } from "../../packages/cli/src/enclave-image.ts";

export default async function setup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-image-"));
  try {
    await buildSimulatedImage(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
