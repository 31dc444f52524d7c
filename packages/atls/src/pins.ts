// Trust on first use: the PCRs of the first enclave that passes every other
// check are recorded in a pin file; later enclaves must have the same. The
// pin file is a PCR manifest of one set (so it can serve as one), mode 0600.
import { unlinkSync } from "node:fs";
import type { PcrSet } from "@strongroom/nitro";
import { AtlsVerificationError } from "./errors.ts";
import { createFileOnce, readSmallFile } from "./files.ts";
import { parsePcrManifest } from "./pcr-manifest.ts";

/** The image (PCR0, 1, 2) and its signing certificate (PCR8); not the parent's role or instance (PCR3, 4), which change with the host. */
export const PINNED_PCRS: readonly number[] = [0, 1, 2, 8];
const MAX_PIN_FILE_BYTES = 16 * 1024;
const RESET = "strongroom gateway pin --reset";

const hex = (bytes: Uint8Array | undefined) => (bytes === undefined ? "absent" : Buffer.from(bytes).toString("hex"));

/** Records the pins when `pinFile` has none (returns "recorded"), else checks `pcrs` against them ("matched"); throws AtlsVerificationError otherwise. */
export function checkPins(pinFile: string, pcrs: ReadonlyMap<number, Uint8Array>): "recorded" | "matched" {
  let pinned = readPins(pinFile);
  if (pinned === undefined) {
    if (recordPins(pinFile, pcrs)) return "recorded";
    // Another connection pinned first: check against what it recorded.
    pinned = readPins(pinFile);
    if (pinned === undefined) throw new AtlsVerificationError("pin-store", `the pin file ${pinFile} vanished while this connection was pinning; connect again`);
  }
  const changed = [...pinned].filter(([index, value]) => {
    const actual = pcrs.get(index);
    return actual === undefined || Buffer.compare(actual, value) !== 0;
  });
  if (changed.length > 0) {
    const names = changed.map(([index]) => `PCR${index}`).join(", ");
    const details = changed.map(([index, value]) => `PCR${index} is ${hex(pcrs.get(index))}, pinned ${hex(value)}`).join("; ");
    throw new AtlsVerificationError(
      "pin-mismatch",
      `the enclave's ${names} ${changed.length === 1 ? "differs" : "differ"} from the value${changed.length === 1 ? "" : "s"} pinned in ${pinFile} on the first trusted connection (${details}). ` +
        `If the signer was upgraded on purpose, run \`${RESET}\` (it removes ${pinFile}) and connect again to pin the new image; if not, do not trust this server.`,
    );
  }
  return "matched";
}

/** Forgets the pins, so that the next verified enclave is pinned afresh. A missing file is already reset. */
export function resetPins(pinFile: string): void {
  try {
    unlinkSync(pinFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot remove the pin file ${pinFile}: ${(error as Error).message}`, { cause: error });
  }
}

function readPins(pinFile: string): PcrSet | undefined {
  let sets: PcrSet[];
  try {
    const file = readSmallFile(pinFile, MAX_PIN_FILE_BYTES, "pin file");
    if (file === undefined) return undefined;
    // Whoever can write the pins can choose the enclave this client trusts.
    if ((file.mode & 0o022) !== 0) throw new Error(`the pin file ${pinFile} is writable by others (mode ${file.mode.toString(8)}); run chmod 600 ${pinFile}`);
    sets = parsePcrManifest(file.bytes.toString("utf8"), pinFile);
  } catch (error) {
    throw new AtlsVerificationError("pin-store", `${(error as Error).message}; fix it, or run \`${RESET}\` to pin afresh`, { cause: error });
  }
  if (sets.length !== 1) throw new AtlsVerificationError("pin-store", `the pin file ${pinFile} holds ${sets.length} sets of PCRs, not one; run \`${RESET}\` to pin afresh`);
  return sets[0];
}

function recordPins(pinFile: string, pcrs: ReadonlyMap<number, Uint8Array>): boolean {
  const pins: Record<string, string> = {};
  for (const index of PINNED_PCRS) {
    const value = pcrs.get(index);
    if (value === undefined) throw new AtlsVerificationError("malformed", `the attestation document has no PCR${index}, which trust on first use pins; use a PCR manifest instead`);
    pins[`PCR${index}`] = hex(value);
  }
  try {
    return createFileOnce(pinFile, Buffer.from(`${JSON.stringify(pins, null, 2)}\n`, "utf8"));
  } catch (error) {
    throw new AtlsVerificationError("pin-store", `cannot record the enclave's PCRs in the pin file ${pinFile}: ${(error as Error).message}`, { cause: error });
  }
}
