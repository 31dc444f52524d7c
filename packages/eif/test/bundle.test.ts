// The bundled enclave program: reproducible wherever the checkout is, laid
// out as the pools load their workers, with the native code left out and
// found beside it.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { addonFiles } from "../src/addons.ts";
import { bundleEnclave, type ProgramFile } from "../src/bundle.ts";
import { CHECKOUT_ROOT } from "../src/checkout.ts";

const copies: string[] = [];
afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

/** Everything esbuild reads (sources, manifests, node_modules with its workspace links), without history or build output. */
function copyCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-checkout-"));
  copies.push(dir);
  const skip = new Set([".git", ".toolchain", ".sim", "dist", "build", "coverage"]);
  cpSync(CHECKOUT_ROOT, join(dir, "strongroom"), {
    recursive: true,
    verbatimSymlinks: true,
    // Build output of the checkout's own packages; a dependency's dist/ is its code.
    filter: (source) => {
      const names = relative(CHECKOUT_ROOT, source).split(sep);
      return names.includes("node_modules") || !names.some((name) => skip.has(name));
    },
  });
  return join(dir, "strongroom");
}

const byPath = (files: readonly ProgramFile[]) => new Map(files.map((file) => [file.path, Buffer.from(file.content)]));

describe("bundleEnclave", () => {
  let bundled: ProgramFile[];

  test("bundles the enclave entry point and the two workers under the names the pools load, as ES modules", async () => {
    bundled = await bundleEnclave(CHECKOUT_ROOT);
    expect(bundled.map((file) => file.path)).toEqual(["decrypt-worker.js", "enclave.js", "package.json", "signing-worker.js"]);
    const files = byPath(bundled);
    expect(JSON.parse(files.get("package.json")!.toString("utf8"))).toEqual({ type: "module" });
    const main = files.get("enclave.js")!.toString("utf8");
    // The pools compute their workers' URLs from import.meta.url; in the bundle that is enclave.js's.
    expect(main).toContain('"./signing-worker.js"');
    expect(main).toContain('"./decrypt-worker.js"');
    // The nitro addon is looked for beside the bundle, blst left to Node.js's resolution.
    expect(main).toContain('new URL("./strongroom_nitro.node", import.meta.url)');
    expect(main).not.toContain("build/Release/strongroom_nitro.node");
    expect(main).toMatch(/from "@chainsafe\/blst"/);
    expect(files.get("signing-worker.js")!.toString("utf8")).toMatch(/from "@chainsafe\/blst"/);
  });

  test(
    "a copy of the checkout elsewhere bundles to the same bytes, with no path of either in them",
    async () => {
      const copy = copyCheckout();
      const again = byPath(await bundleEnclave(copy));
      for (const [path, content] of byPath(bundled)) {
        expect(again.get(path)?.equals(content), path).toBe(true);
        expect(content.includes(CHECKOUT_ROOT), path).toBe(false);
        expect(content.includes(copy), path).toBe(false);
      }
    },
    120_000,
  );

  test("the native files: the nitro addon beside the bundle, and blst's package with this platform's binding", () => {
    const addons = addonFiles(CHECKOUT_ROOT);
    const paths = addons.map((addon) => addon.path);
    expect(paths).toContain("strongroom_nitro.node");
    expect(paths).toContain("node_modules/@chainsafe/blst/package.json");
    expect(paths).toContain("node_modules/@chainsafe/blst/index.js");
    const bindings = addons.filter((addon) => addon.native && addon.path.startsWith("node_modules/"));
    expect(bindings.map((b) => b.path)).toEqual([expect.stringMatching(/^node_modules\/@chainsafe\/blst-linux-[a-z0-9]+-gnu\/blst\.linux-[a-z0-9]+-gnu\.node$/)]);
  });
});
