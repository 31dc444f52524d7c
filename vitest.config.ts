import { defineConfig } from "vitest/config";

// Tests run against the TypeScript sources of every workspace package, never
// against stale build output.
const source = (dir: string) => new URL(`./${dir}/src/index.ts`, import.meta.url).pathname;

export default defineConfig({
  resolve: {
    alias: {
      "@strongroom/eth2": source("packages/eth2"),
      "@strongroom/keystore": source("packages/keystore"),
      "@strongroom/slashing": source("packages/slashing"),
      "@strongroom/nitro": source("packages/nitro"),
      "@strongroom/atls": source("packages/atls"),
      "@strongroom/control": source("packages/control"),
      "@strongroom/kms": source("packages/kms"),
      "@strongroom/vault": source("packages/vault"),
      "@strongroom/eif": source("packages/eif"),
      "@strongroom/enclave": source("enclave"),
      "@strongroom/parent": source("parent"),
      "@strongroom/sim": source("packages/sim"),
      "@strongroom/cli": source("packages/cli"),
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "enclave/test/**/*.test.ts", "parent/test/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/support/build-simulated-image.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
