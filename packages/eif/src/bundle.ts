// The enclave program as a few JavaScript files, bundled with esbuild from the
// TypeScript sources of a checkout: the `strongroom enclave` entry point
// (packages/cli/src/enclave-main.ts) and the two worker entry points its pools
// start with `new URL("./…-worker.js", import.meta.url)`, which therefore sit
// beside it under those names. The same sources and esbuild version always
// give the same bytes: no source maps, no timestamps, and paths in comments
// relative to the checkout, never where it happens to be.
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { build, version as esbuildVersion, type Plugin } from "esbuild";

/** A file of the enclave program, relative to its directory in the image. */
export interface ProgramFile {
  readonly path: string;
  readonly content: Uint8Array;
}

/** Bundle name → entry module, relative to the checkout. The worker names are what the pools load. */
const ENTRY_POINTS = {
  enclave: "packages/cli/src/enclave-main.ts",
  "signing-worker": "enclave/src/signing/signing-worker.ts",
  "decrypt-worker": "packages/keystore/src/decrypt-worker.ts",
} as const;

/** The program's main file, relative to its directory. */
export const PROGRAM_MAIN = "enclave.js";

/**
 * Packages left out of the bundle and copied into the image whole (addons.ts):
 * their entry point loads a prebuilt native binding from its own directory.
 */
export const EXTERNAL_PACKAGES = ["@chainsafe/blst"] as const;

/** The module of @strongroom/nitro that says where the native addon is; in the image, beside the bundle. */
const ADDON_LOCATION = { specifier: "./addon-location.ts", importer: "packages/nitro/src/native.ts", file: "strongroom_nitro.node" } as const;

/** The file name of the native addon in the program directory. */
export const NITRO_ADDON_FILE = ADDON_LOCATION.file;

// Bundled CommonJS code calls require() for Node's modules; an ES module has none unless given one.
const REQUIRE_BANNER = 'import { createRequire as __strongroomCreateRequire } from "node:module";\nconst require = __strongroomCreateRequire(import.meta.url);';

type Message = { readonly text: string; readonly location?: { readonly file: string; readonly line: number } | null };
const describe = (messages: readonly Message[]) => messages.map((m) => (m.location ? `${m.location.file}:${m.location.line}: ${m.text}` : m.text)).join("; ");

function addonLocationPlugin(root: string, replaced: { count: number }): Plugin {
  const importer = join(root, ADDON_LOCATION.importer);
  return {
    name: "strongroom-addon-location",
    setup(plugin) {
      plugin.onResolve({ filter: /^\.\/addon-location\.ts$/ }, (args) => (args.importer === importer ? { path: "addon-location", namespace: "strongroom-image" } : undefined));
      plugin.onLoad({ filter: /.*/, namespace: "strongroom-image" }, () => {
        replaced.count++;
        return { contents: `export const ADDON_URL = new URL(${JSON.stringify(`./${ADDON_LOCATION.file}`)}, import.meta.url);\n`, loader: "js" };
      });
    },
  };
}

/**
 * Bundles the enclave program from the checkout at `root`: ES modules for
 * Node.js 24, one file per entry point plus a package.json that makes `.js`
 * files ES modules. Throws with esbuild's messages when the sources do not
 * bundle, and when a file would carry the checkout's absolute path.
 */
export async function bundleEnclave(checkout: string): Promise<ProgramFile[]> {
  // esbuild works with real paths; so must the comparisons below.
  const root = realpathSync(checkout);
  const replaced = { count: 0 };
  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRY_POINTS,
    // Never written: the files come back in memory.
    outdir: join(root, "build", "enclave-program"),
    write: false,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    // Workspace packages resolve to their TypeScript sources, as the tests run them.
    conditions: ["strongroom-source"],
    external: [...EXTERNAL_PACKAGES],
    plugins: [addonLocationPlugin(root, replaced)],
    banner: { js: REQUIRE_BANNER },
    sourcemap: false,
    legalComments: "eof",
    charset: "utf8",
    logLevel: "silent",
  }).catch((error: unknown) => {
    throw new Error(`esbuild ${esbuildVersion} could not bundle the enclave program: ${describe((error as { errors?: Message[] }).errors ?? []) || (error as Error).message}`);
  });
  // A warning (a require() esbuild cannot follow, say) may mean code that behaves otherwise bundled: look at it before it ships.
  if (result.warnings.length > 0) throw new Error(`esbuild ${esbuildVersion} warned while bundling the enclave program: ${describe(result.warnings)}`);
  if (replaced.count === 0) {
    throw new Error(`the bundle no longer loads ${ADDON_LOCATION.specifier} from ${ADDON_LOCATION.importer}; update bundle.ts to where @strongroom/nitro now names its native addon`);
  }
  const files: ProgramFile[] = result.outputFiles.map((file) => ({ path: file.path.slice(file.path.lastIndexOf("/") + 1), content: file.contents }));
  files.push({ path: "package.json", content: new TextEncoder().encode(`${JSON.stringify({ type: "module" })}\n`) });
  const leaked = files.find((file) => Buffer.from(file.content).includes(`${root}/`));
  if (leaked !== undefined) throw new Error(`the bundled ${leaked.path} contains the checkout's path ${root}, so the image would depend on where it was built; find what embeds it (a __dirname or an absolute import)`);
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}
