import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretKey } from "@chainsafe/blst";
import { interopSecretKey } from "@strongroom/keystore";

/** A Web3Signer key-config directory (file-raw) holding interop keys 0…n-1, for tests that run the real signer process. */
export function interopKeyConfigDir(count: number): { dir: string; publicKeys: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-interop-"));
  const publicKeys: string[] = [];
  for (let i = 0; i < count; i++) {
    const secret = interopSecretKey(i);
    publicKeys.push(`0x${Buffer.from(SecretKey.fromBytes(secret).toPublicKey().toBytes()).toString("hex")}`);
    writeFileSync(join(dir, `interop-${i}.yaml`), `type: file-raw\nkeyType: BLS\nprivateKey: "0x${Buffer.from(secret).toString("hex")}"\n`, { mode: 0o600 });
  }
  return { dir, publicKeys };
}
