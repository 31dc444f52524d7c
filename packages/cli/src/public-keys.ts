import { canonicalPublicKey } from "@strongroom/enclave";
import { UsageError } from "./options.ts";

/** A comma-separated list of public keys from option `option`, in canonical 0x lower-case hex. */
export function parsePublicKeyList(value: string | undefined, option: string): string[] {
  if (value === undefined) return [];
  return value.split(",").map((text, i) => {
    const key = canonicalPublicKey(text.trim());
    if (key === undefined) throw new UsageError(`${option}: entry ${i + 1} is not a 48-byte hex public key`);
    return key;
  });
}
