import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { interopSecretKey } from "@strongroom/keystore";
import { namedNetwork } from "@strongroom/eth2";
import { startSigner, TokenStore, type RunningSigner, type SignerOptions } from "@strongroom/enclave";
import { pino } from "pino";

export const MAINNET_GVR = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95";

/** Everything, for requests without a token from this host: the signer tests that are not about auth. */
export const LOOPBACK_EVERYTHING = [{ effect: "allow", scopes: "*", keys: "*", operations: "*", cidrs: ["127.0.0.0/8", "::1"] }];

/** A token store in a fresh temporary directory, with a random server secret; `null`: every request needs a token. */
export function openTestAuth(unauthenticated: unknown = LOOPBACK_EVERYTHING): TokenStore {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-auth-"));
  return TokenStore.open(join(dir, "auth-state.json"), randomBytes(32), unauthenticated === null ? {} : { unauthenticated });
}

/** A standard-mode signer on a free loopback port with interop keys 0…n-1 in memory. */
export function startTestSigner(overrides: Partial<SignerOptions> & { interopKeys?: number } = {}): Promise<RunningSigner> {
  const { interopKeys = 4, ...rest } = overrides;
  return startSigner({
    network: namedNetwork("mainnet"),
    listen: { host: "127.0.0.1", port: 0 },
    keySources: {},
    inMemoryKeys: Array.from({ length: interopKeys }, (_, i) => ({ secretKey: interopSecretKey(i), source: `interop ${i}` })),
    slashingProtection: { url: "pglite:memory", timeoutMs: 5_000 },
    auth: openTestAuth(),
    signingThreads: 1,
    decryptionThreads: 2,
    log: pino({ level: "silent" }),
    ...rest,
  });
}

/** A RANDAO_REVEAL body on mainnet at `epoch`, in the Lighthouse (real fork epoch) or Lodestar (signing epoch) habit. */
export function randaoBody(epoch: number, habit: "lighthouse" | "lodestar" = "lighthouse"): Record<string, unknown> {
  // Mainnet forks: Deneb 0x04000000 at 269568, Electra 0x05000000 at 364032.
  const fork =
    epoch >= 364032
      ? { previous_version: "0x04000000", current_version: "0x05000000", epoch: habit === "lodestar" ? String(epoch) : "364032" }
      : { previous_version: "0x00000000", current_version: "0x00000000", epoch: habit === "lodestar" ? String(epoch) : "0" };
  return {
    type: "RANDAO_REVEAL",
    fork_info: { fork, genesis_validators_root: MAINNET_GVR },
    randao_reveal: { epoch: String(epoch) },
  };
}
